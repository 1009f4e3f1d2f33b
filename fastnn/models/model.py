"""Model: a graph of layers with the Keras training API (the functional API's class).

``Model(inputs=..., outputs=...)`` wraps the graph between symbolic tensors; the training
methods (``compile``, ``fit``, ``evaluate``, ``predict``, ...) come from ``Trainer``.
"""

import math

import numpy as np

from .. import layers as _layers
from ..export import export_model
from ..layers.base import SymbolicTensor
from ..layers.core import InputLayer
from ..utils import naming
from ..variables import assign_all
from . import saving
from .graph import Graph
from .trainer import Trainer


class Model(Trainer):
    """A model from symbolic inputs to outputs.

    Args:
        inputs: a tensor from ``fastnn.Input`` or a list of them.
        outputs: a tensor produced by calling layers on the inputs, or a list of them.
        name: the model's name.
    """

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to Model: {sorted(kwargs)}")
        super().__init__()
        self.name = name or naming.unique(naming.snake_case(type(self).__name__))
        self._graph = None
        self._plain_input_key = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError(
                    "Model needs both inputs and outputs. Received: "
                    f"inputs={inputs!r}, outputs={outputs!r}"
                )
            self._set_graph(inputs, outputs)

    def _set_graph(self, inputs, outputs):
        self._multi_input = isinstance(inputs, (list, tuple))
        self._multi_output = isinstance(outputs, (list, tuple))
        ins = list(inputs) if self._multi_input else [inputs]
        outs = list(outputs) if self._multi_output else [outputs]
        self._graph = Graph(ins, outs)
        self._reset_compiled_state()

    # ----------------------------------------------------------------- structure
    @property
    def built(self):
        return self._graph is not None

    def _require_built(self, what):
        if self._graph is None:
            raise ValueError(
                f"{what} needs a built model: give the first layer an input_shape (or "
                "input_dim), start with fastnn.Input, or call fit/predict once."
            )

    @property
    def layers(self):
        """The model's layers in topological order (input layers excluded, as Keras)."""
        if self._graph is None:
            return []
        return [lyr for lyr in self._graph.layers if not isinstance(lyr, InputLayer)]

    @property
    def inputs(self):
        return list(self._graph.inputs) if self._graph else []

    @property
    def outputs(self):
        return list(self._graph.outputs) if self._graph else []

    @property
    def input_names(self):
        return [t.node.layer.name for t in self.inputs]

    @property
    def output_names(self):
        return [t.node.layer.name for t in self.outputs]

    @property
    def input_shape(self):
        self._require_built("input_shape")
        shapes = [t.shape for t in self._graph.inputs]
        return shapes if self._multi_input else shapes[0]

    @property
    def output_shape(self):
        self._require_built("output_shape")
        shapes = [t.shape for t in self._graph.outputs]
        return shapes if self._multi_output else shapes[0]

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in ``layers``."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r}. Layers: {[l.name for l in self.layers]}")

    # ----------------------------------------------------------------- weights
    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def get_weights(self):
        """Copies of all weight values, layer by layer."""
        return [w.value.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set all weights from a list like ``get_weights()`` returns."""
        assign_all(self.weights, weights, f"Model {self.name!r}")
        # a data-parallel train_on_batch broadcasts rank 0's weights again
        self._data_parallel_synced = False

    def count_params(self):
        """Number of scalars in all weights."""
        self._require_built("count_params")
        return int(sum(layer.count_params() for layer in self.layers))

    # ----------------------------------------------------------------- display
    def summary(self, print_fn=None):
        """Print a Keras-style table of layers, output shapes and parameter counts."""
        self._require_built("summary")
        print_fn = print_fn or print
        functional = type(self) is Model
        cols = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
        rows = []
        for node in self._graph.nodes:
            layer = node.layer
            if isinstance(layer, InputLayer) and not functional:
                continue
            row = [f"{layer.name} ({type(layer).__name__})", str(node.output.shape),
                   str(layer.count_params())]
            if functional:
                row.append(", ".join(t.node.layer.name for t in node.inbound) or "-")
            rows.append(row)
        widths = [max(len(c), *(len(r[i]) for r in rows)) + 2 for i, c in enumerate(cols)]
        line = "".join(c.ljust(w) for c, w in zip(cols, widths))
        rule = "━" * len(line)
        print_fn(f'Model: "{self.name}"')
        print_fn(rule)
        print_fn(line)
        print_fn("━" * len(line))
        for r in rows:
            print_fn("".join(c.ljust(w) for c, w in zip(r, widths)))
        print_fn(rule)
        trainable = sum(w.value.size for w in self.trainable_weights)
        total = self.count_params()
        print_fn(f" Total params: {total:,}")
        print_fn(f" Trainable params: {trainable:,}")
        print_fn(f" Non-trainable params: {total - trainable:,}")

    # ----------------------------------------------------------------- config
    def get_config(self):
        """The architecture as JSON-friendly data: layers, their connections, the ends."""
        self._require_built("get_config")
        index = {}
        layer_configs = []
        for node in self._graph.nodes:
            layer = node.layer
            if layer.name not in index:
                index[layer.name] = 0
                layer_configs.append({
                    "class_name": type(layer).__name__,
                    "name": layer.name,
                    "config": layer.get_config(),
                    "inbound_nodes": [],
                })
            entry = next(c for c in layer_configs if c["name"] == layer.name)
            if node.inbound:
                entry["inbound_nodes"].append(
                    [[t.node.layer.name, t.node.layer._nodes.index(t.node)] for t in node.inbound]
                )

        def ref(t):
            return [t.node.layer.name, t.node.layer._nodes.index(t.node)]

        return {
            "name": self.name,
            "layers": layer_configs,
            "input_layers": [ref(t) for t in self._graph.inputs],
            "output_layers": [ref(t) for t in self._graph.outputs],
            "multi_input": self._multi_input,
            "multi_output": self._multi_output,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild a functional model from ``get_config()``'s data.

        Args:
            config: what ``get_config`` returned.
            custom_objects: ``{class name: Layer subclass}`` for custom layers; other
                names are looked up in ``fastnn.layers.REGISTRY`` only.
        """
        if not isinstance(config, dict) or "layers" not in config:
            raise ValueError("Invalid model config: expected a dict with 'layers'.")
        tensors = {}  # (layer name, node index) -> SymbolicTensor
        for spec in config["layers"]:
            layer = _layer_from_spec(spec, custom_objects)
            if isinstance(layer, InputLayer):
                tensors[(layer.name, 0)] = layer.output
                continue
            for k, inbound in enumerate(spec.get("inbound_nodes", [])):
                try:
                    args = [tensors[(name, idx)] for name, idx in inbound]
                except (KeyError, TypeError, ValueError):
                    raise ValueError(
                        f"Invalid model config: layer {spec.get('name')!r} refers to an "
                        f"unknown input {inbound!r}"
                    ) from None
                tensors[(layer.name, k)] = layer(args if len(args) > 1 else args[0])

        def lookup(refs):
            try:
                return [tensors[(name, idx)] for name, idx in refs]
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"Invalid model config: unknown model end {refs!r}") from None

        ins = lookup(config["input_layers"])
        outs = lookup(config["output_layers"])
        return cls(
            inputs=ins if config.get("multi_input", len(ins) > 1) else ins[0],
            outputs=outs if config.get("multi_output", len(outs) > 1) else outs[0],
            name=config.get("name"),
        )

    # ----------------------------------------------------------------- one batch
    # Serving calls predict_on_batch or model(x) once per request, often on one row, where
    # the Python around the kernels costs as much as they do.  An input that is already
    # what validation would return skips it (the checks it needs take one array
    # reduction); anything else takes Trainer's general path, with its conversions and
    # messages.

    def predict_on_batch(self, x):
        """Outputs for one batch, with inference behaviour (no Dropout)."""
        if type(x) is np.ndarray and self._is_plain_input(x):
            outs = self._graph.forward([x], False, {})
            return outs if self._multi_output else outs[0]
        return super().predict_on_batch(x)

    def _is_plain_input(self, x):
        """Whether ``x``, an ndarray, needs no conversion for this one-input model: C
        order, the model's dtype, its feature shape, at least one sample, finite (a
        non-finite sum, NaN or overflow, sends it to the general path to be refused or
        checked there)."""
        key = getattr(self, "_plain_input_key", None)
        if key is None or key[0] is not self._graph:
            if self._graph is None or self._multi_input:
                return False
            key = self._plain_input_key = (
                self._graph, tuple(self._graph.inputs[0].shape[1:]), self._dtype())
        return (x.shape[1:] == key[1] and x.ndim == len(key[1]) + 1 and x.shape[0] > 0
                and x.dtype == key[2] and x.flags.c_contiguous
                and math.isfinite(x.sum()))

    def to_json(self, **kwargs):
        """The architecture as a JSON string (no weights, no compile settings), which
        ``fastnn.models.model_from_json`` rebuilds.

        Args:
            **kwargs: passed to ``json.dumps`` (``indent=2``, say).
        """
        return saving.model_to_json(self, **kwargs)

    # ----------------------------------------------------------------- export
    def export(self, filepath, format="onnx", verbose=True, input_signature=None, **kwargs):
        """Write the model for inference in another runtime (Keras 3's ``export``).

        ``format="onnx"`` is the only one fastnn writes (Keras' default,
        "tf_saved_model", needs TensorFlow); it needs ``pip install 'fastnn[onnx]'``.
        See docs/onnx.md.

        Args:
            filepath: the file to write (atomically; parent folders are created).
            format: "onnx".
            verbose: whether to print where the file was written.
            input_signature: must be None: the inputs keep the model's shapes and dtype,
                with a dynamic batch axis.
            **kwargs: ``opset_version`` (15 or higher; default 17).

        Returns:
            The path written.
        """
        return export_model(self, filepath, format=format, verbose=verbose,
                            input_signature=input_signature, **kwargs)

    def __call__(self, inputs, training=False):
        """On symbolic tensors: apply this model's layers (nesting).  On arrays: the
        outputs for that batch, with inference behaviour (``predict_on_batch``) unless
        ``training=True``, which runs the layers as ``fit`` does: Dropout drops and
        BatchNormalization normalizes by the batch's statistics and updates its moving
        ones, as in Keras.  No gradient is kept and no weight is trained."""
        if training is not None and not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"Model {self.name!r}: training must be True, False or None. "
                            f"Received: training={training!r} "
                            f"(of type {type(training).__name__})")
        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if type(inputs) is not np.ndarray and all(isinstance(t, SymbolicTensor)
                                                   for t in flat):
            return self._call_symbolic(flat)
        if training:
            outs = self._graph_forward_training(inputs)
            return outs if self._multi_output else outs[0]
        return self.predict_on_batch(inputs)

    def _graph_forward_training(self, inputs):
        """The graph's outputs on ``inputs`` in training mode, in fresh buffers (the
        caches of ``fit``'s steps are left alone)."""
        xs = self._prepare_x(inputs)
        return self._graph.forward(xs, True, {})

    def _call_symbolic(self, flat):
        self._require_built("Calling a model on tensors")
        if len(flat) != len(self._graph.inputs):
            raise ValueError(
                f"Model {self.name!r} takes {len(self._graph.inputs)} inputs. "
                f"Received: {len(flat)}"
            )
        values = {t.node.id: x for t, x in zip(self._graph.inputs, flat)}
        for node in self._graph.nodes:
            if node.id in values:
                continue
            args = [values[t.node.id] for t in node.inbound]
            values[node.id] = node.layer(args if len(args) > 1 else args[0])
        outs = [values[t.node.id] for t in self._graph.outputs]
        return outs if self._multi_output else outs[0]

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"

    # ----------------------------------------------------------------- copying
    # Pickling and copies go through the model file format, written in memory: the
    # architecture, weights, compile settings, optimizer state and random state travel
    # as data; locks, caches and code never do (Keras 3 models pickle the same way,
    # through their .keras bytes).
    def __reduce__(self):
        """Pickle as the bytes of the model's file (``saving.model_to_bytes``).

        Unpickling finds custom layers, losses and metrics by name, so they must be
        registered (``fastnn.layers.register``, ...) in the unpickling process.
        """
        return saving.model_from_bytes, (saving.model_to_bytes(self),)

    def __deepcopy__(self, memo):
        """An independent model that predicts the same and keeps the compile settings
        and optimizer state; custom objects are taken from this model, so nothing
        needs registering."""
        copy = saving.model_from_bytes(saving.model_to_bytes(self),
                                       custom_objects=saving.custom_objects_of(self))
        memo[id(self)] = copy
        return copy

    def __copy__(self):
        """The same as ``copy.deepcopy``: a model shares no weights with another (a
        shallow copy would share them, and the lock that guards training)."""
        return self.__deepcopy__({})


def _layer_from_spec(spec, custom_objects=None):
    """Construct one layer from its saved spec through the fixed registry (or the
    ``custom_objects`` classes given, which come first)."""
    if not isinstance(spec, dict):
        raise ValueError(f"Invalid layer spec: expected a dict. Received: {spec!r}")
    class_name = spec.get("class_name")
    cls = None
    if isinstance(class_name, str):
        cls = (custom_objects or {}).get(class_name) or _layers.REGISTRY.get(class_name)
    if cls is None:
        hint = naming.did_you_mean(class_name,
                                   list(_layers.REGISTRY) + list(custom_objects or {}))
        raise ValueError(
            f"Unknown layer class {class_name!r} in model config: expected one of "
            f"{', '.join(sorted(_layers.REGISTRY))}, or a custom layer given in "
            f"custom_objects or registered with @fastnn.layers.register.{hint}"
        )
    config = spec.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"Invalid config for layer {class_name!r}: expected a dict.")
    try:
        return cls.from_config(dict(config))
    except TypeError as exc:
        raise ValueError(f"Invalid config for layer {class_name!r}: {exc}") from None


def _ensure_array_list(x):
    return [np.asarray(a) for a in (x if isinstance(x, (list, tuple)) else [x])]
