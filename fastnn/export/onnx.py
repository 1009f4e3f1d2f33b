"""ONNX export: a fastnn model as an ONNX inference graph.

The model's graph is walked in topological order; each node's layer is translated by
the exporter registered for its class (``register_exporter``), which appends ONNX
nodes to a ``GraphBuilder`` and returns the name of the tensor that stands for the
layer's output.  Exporters are looked up by the layer's exact class, never by a base
class: a subclass may compute something else, so it needs its own exporter, and a
layer without one is refused by name rather than dropped or mistranslated.

The graph has a dynamic batch axis (``dim_param "batch"``), the model's float dtype
(float32 or float64) for its inputs, weights and outputs, and the default ONNX domain
at opset ``DEFAULT_OPSET`` (15 or higher may be asked for).  Inputs are named after the
model's input layers, outputs after its output layers.

The ``onnx`` package is an optional extra (``pip install 'fastnn[onnx]'``), imported
only when a model is exported.  The layer exporters live in
``fastnn.export.onnx_layers`` (imported with the ``fastnn.export`` package, which
registers them); docs/onnx.md says how to add one.
"""

import os
from collections import Counter

import numpy as np

from .. import __version__ as _fastnn_version
from ..layers.core import InputLayer
from ..layers.merging import Merge
from ..utils.extras import require_extra
from ..utils.files import atomic_write, make_parent_dirs, user_path
from ..utils.validation import check_bool, check_int, refuse_argument

#: The opset written when none is asked for: supported by onnxruntime >= 1.13.
DEFAULT_OPSET = 17
#: The oldest opset the exporters are written for.
MIN_OPSET = 15

# layer class -> function(builder, layer, inputs) -> output tensor name
_EXPORTERS = {}


def register_exporter(layer_class):
    """Register the ONNX exporter of ``layer_class`` (a decorator).

    The function is called as ``fn(builder, layer, inputs)``: ``builder`` is the
    ``GraphBuilder``, ``layer`` the layer instance and ``inputs`` a list of
    ``OnnxTensor`` (one per inbound tensor of the node, with its symbolic shape, batch
    axis first as None).  It returns the name of the tensor holding the layer's output.

    Args:
        layer_class: the layer class the function translates (exactly that class).
    """
    def decorate(fn):
        _EXPORTERS[layer_class] = fn
        return fn
    return decorate


def exportable_layers():
    """The layer classes that have an ONNX exporter."""
    return tuple(_EXPORTERS)


class OnnxTensor:
    """A tensor of the graph being built: its ONNX name and symbolic shape."""

    __slots__ = ("name", "shape")

    def __init__(self, name, shape):
        self.name = name
        self.shape = tuple(shape)

    @property
    def rank(self):
        return len(self.shape)


class GraphBuilder:
    """Collects the nodes and initializers of one ONNX graph.

    Attributes:
        dtype: the model's float dtype (``np.float32`` or ``np.float64``); weights are
            stored in it.
        opset: the opset version of the default domain being written.
    """

    def __init__(self, onnx, dtype, opset):
        self._onnx = onnx
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self._names = set()
        self._weights = {}  # (id(layer), key) -> initializer name

    @property
    def elem_type(self):
        """The ONNX element type of the model dtype."""
        return self.elem_type_of(self.dtype)

    def elem_type_of(self, dtype):
        """The ONNX element type of a NumPy dtype (for Cast's ``to``)."""
        return self._onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    def unique(self, hint):
        """A tensor name not used yet, built from ``hint``."""
        name, k = hint, 1
        while name in self._names:
            name = f"{hint}_{k}"
            k += 1
        self._names.add(name)
        return name

    def weight(self, layer, key, value):
        """The initializer holding ``value`` in the model dtype, named
        ``<layer name>/<key>``; a layer used at several nodes stores it once.

        Keyed by the layer object, not its name: the models a ``Merge`` joins may hold
        layers of the same name as the outer model's, and those must not share weights
        (the second one gets a ``_1`` suffix)."""
        slot = (id(layer), key)
        if slot not in self._weights:
            self._weights[slot] = self.constant(np.asarray(value, dtype=self.dtype),
                                                f"{layer.name}/{key}")
        return self._weights[slot]

    def constant(self, value, hint):
        """An initializer holding ``value`` as given (its own dtype: shapes are int64)."""
        name = self.unique(hint)
        self.initializers.append(self._onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def scalar(self, value, hint="const"):
        """A scalar initializer of the model dtype, for element-wise formulas."""
        return self.constant(np.asarray(value, dtype=self.dtype), hint)

    def op(self, op_type, inputs, hint, output=None, **attributes):
        """Append one node with a single output; returns the output's name.

        Args:
            op_type: the ONNX operator, e.g. ``"Gemm"``.
            inputs: names of its input tensors.
            hint: the base of the output's name (made unique).
            output: the output's exact name, already reserved with ``unique``;
                None: made from ``hint``.
            **attributes: the operator's attributes.
        """
        out = self.unique(hint) if output is None else output
        self.nodes.append(self._onnx.helper.make_node(
            op_type, list(inputs), [out], name=out, **attributes))
        return out

    def cancel_inverse_transposes(self):
        """Drop each pair of Transpose nodes that undo each other.

        The convolution and pooling exporters wrap their ONNX operator (channels
        first) in a Transpose to channels first and one back, so that every layer's
        output keeps fastnn's layout; in a stack of such layers the "back" of one and
        the "to" of the next cancel, leaving one Transpose at each end of the stack.
        A pair is removed only when the first one's output feeds nothing else, and the
        graph's outputs always come from Identity nodes, so no named tensor is lost.
        """
        while True:
            producers = {n.output[0]: n for n in self.nodes}
            uses = Counter(name for n in self.nodes for name in n.input)
            pair = next(((first, second) for second in self.nodes
                         if second.op_type == "Transpose"
                         for first in [producers.get(second.input[0])]
                         if first is not None and first.op_type == "Transpose"
                         and uses[first.output[0]] == 1
                         and _composes_to_identity(_perm(first), _perm(second))), None)
            if pair is None:
                return
            first, second = pair
            source, dead = first.input[0], second.output[0]
            self.nodes = [n for n in self.nodes if n is not first and n is not second]
            for n in self.nodes:
                for k, name in enumerate(n.input):
                    if name == dead:
                        n.input[k] = source

    def value_info(self, name, shape, elem_type=None):
        """A graph input/output description: None dims become symbolic (the batch)."""
        dims = ["batch" if i == 0 else (f"{name}_dim{i}" if d is None else int(d))
                for i, d in enumerate(shape)]
        return self._onnx.helper.make_tensor_value_info(
            name, self.elem_type if elem_type is None else elem_type, dims)


def _perm(node):
    return next(list(a.ints) for a in node.attribute if a.name == "perm")


def _composes_to_identity(first, second):
    """Whether Transpose(``second``) after Transpose(``first``) is the identity: output
    axis ``j`` of the pair is input axis ``first[second[j]]``."""
    return len(first) == len(second) and all(
        first[second[j]] == j for j in range(len(second)))


def export_graph(builder, graph, inputs):
    """Append the nodes of ``graph`` (a ``fastnn.models.graph.Graph``) to ``builder``.

    Args:
        builder: the GraphBuilder.
        graph: the graph to translate, in topological order.
        inputs: one ``OnnxTensor`` per input of the graph, in its order.

    Returns:
        One ``OnnxTensor`` per output of the graph.  Also used by the Merge exporter
        for the models it joins.
    """
    tensors = {t.node.id: x for t, x in zip(graph.inputs, inputs)}  # node id -> tensor
    for node in graph.nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        node_inputs = [tensors[t.node.id] for t in node.inbound]
        out = _EXPORTERS[type(layer)](builder, layer, node_inputs)
        tensors[node.id] = OnnxTensor(out, node.output.shape)
    return [tensors[t.node.id] for t in graph.outputs]


def model_to_onnx(model, opset_version=None):
    """The ONNX ``ModelProto`` of a built fastnn model, for inference.

    Args:
        model: a built ``fastnn.Model`` or ``fastnn.Sequential``.
        opset_version: the default domain's opset, an integer from 15 to the newest the
            installed ``onnx`` knows; None: ``DEFAULT_OPSET``.

    Returns:
        An ``onnx.ModelProto``, checked with ``onnx.checker``.

    Raises:
        ValueError: the model is not built, or has a layer no exporter translates
            (the message names the layer and its class).
        ImportError: the ``onnx`` package is not installed.
    """
    onnx = require_extra("onnx", "onnx", "model.export(format='onnx')")
    newest = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if opset_version is None else check_int(
        "opset_version", opset_version, low=MIN_OPSET, high=newest, owner="Model.export")
    model._require_built("Exporting a model")
    graph = model._graph
    _refuse_unexportable(model, graph)

    builder = GraphBuilder(onnx, model._dtype(), opset)
    # The graph's own names first, so that inner tensors never take them.
    input_names = {t.node.id: builder.unique(t.node.layer.name) for t in graph.inputs}
    output_names = [builder.unique(name) for name in model.output_names]
    outputs = export_graph(builder, graph, [
        OnnxTensor(input_names[t.node.id], t.shape) for t in graph.inputs])

    graph_inputs = [builder.value_info(input_names[t.node.id], t.shape) for t in graph.inputs]
    graph_outputs = []
    for t, out, name in zip(graph.outputs, outputs, output_names):
        # Every output gets a node of its own: a layer exported as nothing (Dropout)
        # would otherwise make an output share its name with an input or another output.
        builder.op("Identity", [out.name], name, output=name)
        graph_outputs.append(builder.value_info(name, t.shape))
    builder.cancel_inverse_transposes()

    onnx_graph = onnx.helper.make_graph(builder.nodes, model.name, graph_inputs,
                                        graph_outputs, builder.initializers)
    proto = onnx.helper.make_model(
        onnx_graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="fastnn", producer_version=_fastnn_version,
        # IR 8 is what onnxruntime >= 1.14 reads, and enough for every opset from 15 on.
        ir_version=8,
    )
    onnx.checker.check_model(proto)
    return proto


def _all_layers(graph):
    """The layers of ``graph`` and, inside each Merge, of the models it joins."""
    found = []
    for layer in graph.layers:
        found.append(layer)
        if isinstance(layer, Merge):
            for inner in layer._models:
                found.extend(lyr for lyr in _all_layers(inner._graph) if lyr not in found)
    return found


def _refuse_unexportable(model, graph):
    """Raise, naming every layer that has no exporter, before anything is built."""
    missing = [lyr for lyr in _all_layers(graph)
               if not isinstance(lyr, InputLayer) and type(lyr) not in _EXPORTERS]
    if missing:
        names = ", ".join(f"{lyr.name!r} ({type(lyr).__name__})" for lyr in missing)
        known = ", ".join(sorted(cls.__name__ for cls in _EXPORTERS))
        raise ValueError(
            f"Cannot export model {model.name!r} to ONNX: no ONNX exporter for layer(s) "
            f"{names}. Layers that export: {known}. A custom layer needs an exporter "
            "registered with fastnn.export.onnx.register_exporter (see docs/onnx.md)."
        )


def export_onnx(model, filepath, verbose=True, opset_version=None):
    """Write ``model`` as an ONNX file, atomically (never half-written).

    Args:
        model: a built fastnn model.
        filepath: the file to write; its parent folders are created.
        verbose: whether to print where the file was written.
        opset_version: as for ``model_to_onnx``.

    Returns:
        The path written, as a string.
    """
    path = user_path(filepath, owner="Model.export")
    verbose = check_bool("verbose", verbose, owner="Model.export")
    if os.path.isdir(path):
        refuse_argument("filepath", filepath, "a file path (it names a folder)",
                        owner="Model.export")
    data = model_to_onnx(model, opset_version).SerializeToString()
    make_parent_dirs(path)
    atomic_write(path, lambda f: f.write(data))
    if verbose:
        print(f"Saved ONNX model ({len(data):,} bytes) at {path!r}")
    return path
