"""Sequential: a plain stack of layers, each feeding the next."""

import numpy as np

from ..layers.base import Layer, SymbolicTensor, build_lock
from ..layers.core import InputLayer
from ..utils import validation as V
from .model import Model


class Sequential(Model):
    """A linear stack of layers.

    The model is built (its weights created) as soon as the input shape is known: from an
    ``Input``/``InputLayer`` first entry, from the first layer's ``input_shape`` /
    ``input_dim``, or otherwise from the first data passed to ``fit``/``predict``.

    Args:
        layers: an optional list of layers to add.
        name: the model's name.
    """

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._stack = []
        self._input_tensor = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (or an ``Input`` tensor as the first entry) to the stack."""
        if isinstance(layer, SymbolicTensor):
            if self._stack or self._input_tensor is not None:
                raise ValueError("An Input can only be the first entry of a Sequential model.")
            if not isinstance(layer.node.layer, InputLayer):
                raise ValueError(f"Expected an Input tensor. Received: {layer!r}")
            self._input_tensor = layer
            return
        if isinstance(layer, InputLayer):
            if self._stack or self._input_tensor is not None:
                raise ValueError("An InputLayer can only be the first entry of a Sequential model.")
            self._input_tensor = layer.output
            return
        if isinstance(layer, Sequential):
            for sub in layer._stack:
                self.add(sub)
            return
        if not isinstance(layer, Layer):
            V.refuse_argument("layer", layer, "a fastnn layer (or an Input as the first "
                              "entry)", wrong_type=True, owner="Sequential.add")
        if layer in self._stack:
            raise ValueError(f"Layer {layer.name!r} is already in this model.")
        self._stack.append(layer)
        if self._input_tensor is None and len(self._stack) == 1:
            declared = layer._declared_input_shape
            if isinstance(declared, list):  # Keras 1's Merge of models: one input each
                self._input_tensor = [InputLayer(shape=s, dtype=layer.dtype).output
                                      for s in declared]
            elif declared is not None:
                self._input_tensor = InputLayer(shape=declared, dtype=layer.dtype).output
        if self._input_tensor is not None and not getattr(self, "_defer_rebuild", False):
            self._rebuild()

    def pop(self):
        """Remove the last layer."""
        if not self._stack:
            raise ValueError("There are no layers in this model to pop.")
        layer = self._stack.pop()
        if self._input_tensor is not None and self._stack:
            self._rebuild()
        elif not self._stack:
            self._graph = None
        return layer

    #: True while the graph is being connected: threads that see ``_graph`` set during
    #: that time wait for the build to finish (see ``_maybe_build_from_data``).
    _building = False

    def _rebuild(self, input_tensor=None):
        """Connect the stack from ``input_tensor`` (default: the current one) into a
        graph, keeping the weights.  The input tensor is adopted only once the whole
        stack accepted it, so a failed build leaves the model as it was."""
        with build_lock:
            self._building = True
            try:
                t_in = self._input_tensor if input_tensor is None else input_tensor
                t = t_in
                for layer in self._stack:
                    t = layer(t)
                self._input_tensor = t_in
                self._set_graph(t_in, t)
            finally:
                self._building = False

    def build(self, input_shape):
        """Build from a shape with the batch axis first, e.g. ``(None, 784)``."""
        shape = tuple(input_shape)[1:]
        with build_lock:
            self._input_tensor = InputLayer(shape=shape).output
            if self._stack:
                self._rebuild()

    def _maybe_build_from_data(self, x):
        # Lock-free once built.  Otherwise the first threads to get here queue on the
        # lock: one builds, and the others find the graph made and use it.
        if self._graph is not None and not self._building:
            return
        with build_lock:
            if self._graph is not None or self._input_tensor is not None:
                return
            if not self._stack:
                raise ValueError(
                    "This Sequential model has no layers; add some before using it."
                )
            first = x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x
            arr = V.to_float_array(first, "x", np.float64, accepted=V.MODEL_INPUT_DATA)
            if arr.ndim < 2:
                raise ValueError(
                    "Expected x to be at least 2-D (samples, features). "
                    f"Received shape {arr.shape}"
                )
            dtype = self._stack[0].dtype
            self._rebuild(InputLayer(shape=arr.shape[1:], dtype=dtype).output)

    @property
    def layers(self):
        return list(self._stack)

    def get_config(self):
        """``{"name", "layers": [...]}`` with an InputLayer first when the shape is known."""
        specs = []
        # Several inputs come only from a first layer that declares them (Merge), and
        # rebuilding that layer declares them again.
        if self._input_tensor is not None and not isinstance(self._input_tensor, list):
            inp = self._input_tensor.node.layer
            specs.append({"class_name": "InputLayer", "config": inp.get_config()})
        for layer in self._stack:
            specs.append({"class_name": type(layer).__name__, "config": layer.get_config()})
        return {"name": self.name, "layers": specs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from ``get_config()``'s data; ``custom_objects`` as for
        ``Model.from_config``."""
        from .model import _layer_from_spec

        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("Invalid Sequential config: expected a dict with a 'layers' list.")
        model = cls(name=config.get("name"))
        # connect the stack once at the end: rebuilding after every add is quadratic
        model._defer_rebuild = True
        try:
            for spec in config["layers"]:
                model.add(_layer_from_spec(spec, custom_objects))
        finally:
            model._defer_rebuild = False
        if model._input_tensor is not None and model._stack:
            model._rebuild()
        return model
