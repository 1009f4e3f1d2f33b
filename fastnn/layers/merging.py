"""Merging layers: Concatenate and Add, and Keras 1's Merge.

They take a list of inputs: ``forward`` receives a list of arrays and ``backward``
returns a list of gradients, one per input, each its own array (never a view of ``dy``
or of each other), so the engine may accumulate into them.

``Merge`` is Keras 1's layer, kept so that programs written for Keras 1 run as
printed (with a ``DeprecationWarning`` naming the modern spelling): it joins its inputs
by a ``mode`` and, given ``layers=[model_a, model_b]``, it is the first layer of a
``Sequential`` that takes one input per model and runs each model on its own input.
"""

import warnings

import numpy as np

from ..utils.validation import check_choice, check_int, refuse_argument
from .base import Layer, SymbolicTensor, buffer, feature_axis


class _Merge(Layer):
    """Checks that the layer gets a list of at least two inputs of equal rank."""

    #: tells the engine that forward takes a list and backward returns one
    multi_input = True

    def _check_inputs(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError(
                f"{type(self).__name__} expects a list of inputs. "
                f"Received: input_shape={input_shape!r}"
            )
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 2:
            raise ValueError(
                f"{type(self).__name__} expects at least 2 inputs. "
                f"Received: {len(shapes)} input(s) of shapes {shapes}"
            )
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(
                f"{type(self).__name__} expects inputs of one rank. "
                f"Received: inputs of shapes {shapes}"
            )
        return shapes


class Concatenate(_Merge):
    """Joins its inputs along ``axis``; their other axes must match.

    Args:
        axis: the axis to join along (default -1, the features); not the batch axis.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = check_int("axis", axis)

    def _axis_and_check(self, input_shape):
        shapes = self._check_inputs(input_shape)
        axis = feature_axis(self, self.axis, len(shapes[0]))
        for i in range(1, len(shapes[0])):
            if i == axis:
                continue
            sizes = {s[i] for s in shapes if s[i] is not None}
            if len(sizes) > 1:
                raise ValueError(
                    f"Concatenate with axis={self.axis} needs inputs whose other axes "
                    f"match. Received: inputs of shapes {shapes}"
                )
        return shapes, axis

    def build(self, input_shape):
        self._axis_and_check(input_shape)

    def compute_output_shape(self, input_shape):
        shapes, axis = self._axis_and_check(input_shape)
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        for i, d in enumerate(out):
            if d is None and i != axis:
                out[i] = next((s[i] for s in shapes if s[i] is not None), None)
        return tuple(out)

    def forward(self, inputs, training, cache, skip_activation=False):
        shapes, axis = self._axis_and_check([(None,) + x.shape[1:] for x in inputs])
        if len({x.shape[0] for x in inputs}) != 1:
            raise ValueError(
                f"Concatenate inputs must have the same batch size. "
                f"Received: inputs of shapes {[x.shape for x in inputs]}"
            )
        out_shape = list(inputs[0].shape)
        out_shape[axis] = sum(x.shape[axis] for x in inputs)
        y = self.ops.concatenate(
            inputs, axis, out=buffer(cache, "y", tuple(out_shape), inputs[0].dtype)
        )
        cache.update(axis=axis, shapes=[x.shape for x in inputs], grads=[])
        return y

    def backward(self, cache, dy):
        axis, shapes = cache["axis"], cache["shapes"]
        outs = [buffer(cache, f"dx{i}", s, dy.dtype) for i, s in enumerate(shapes)]
        return self.ops.split(dy, [s[axis] for s in shapes], axis, outs=outs)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Add(_Merge):
    """Adds its inputs, which must all have the same shape."""

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = self._check_inputs(input_shape)
        for i in range(1, len(shapes[0])):
            if len({s[i] for s in shapes if s[i] is not None}) > 1:
                raise ValueError(
                    f"Add needs inputs of one shape. Received: inputs of shapes {shapes}"
                )
        return tuple(
            next((s[i] for s in shapes if s[i] is not None), None)
            for i in range(len(shapes[0]))
        )

    def forward(self, inputs, training, cache, skip_activation=False):
        self.compute_output_shape([x.shape for x in inputs])
        cache.update(n=len(inputs), grads=[])
        return self.ops.add_n(inputs, out=buffer(cache, "y", inputs[0].shape, inputs[0].dtype))

    def backward(self, cache, dy):
        # Each input's gradient is dy itself; give each its own copy (a sum of one).
        return [
            self.ops.add_n([dy], out=buffer(cache, f"dx{i}", dy.shape, dy.dtype))
            for i in range(cache["n"])
        ]




# Keras 1's Merge modes, and what Keras 3 spells each one as (the DeprecationWarning's
# advice); fastnn has Concatenate and Add, the others only through Merge for now.
_MODERN = {
    "concat": "fastnn.layers.Concatenate(axis={concat_axis})",
    "sum": "fastnn.layers.Add()",
    "mul": "Keras 3's Multiply() (not in fastnn yet)",
    "ave": "Keras 3's Average() (not in fastnn yet)",
    "max": "Keras 3's Maximum() (not in fastnn yet)",
    "dot": "Keras 3's Dot(axes={dot_axes}) (not in fastnn yet)",
}
_MODES = tuple(_MODERN)


class Merge(Layer):
    """Keras 1's ``Merge``: joins its inputs by ``mode`` (deprecated; see below).

    Keras 2 removed ``Merge``; fastnn keeps it so that Keras 1 programs run as printed,
    such as the Wide & Deep model that joins two ``Sequential`` models::

        model = Sequential()
        model.add(Merge([wide, deep], mode="concat", concat_axis=1))
        model.add(Dense(1, activation="sigmoid"))
        model.fit([x, x], y)

    With ``layers`` (built models with one input and one output each), the layer runs
    every model on its own input and joins their outputs; as the first layer of a
    ``Sequential`` it makes that model take one input per model, and the models' weights
    are trained, saved and loaded as the Merge layer's.  Without ``layers`` it joins the
    tensors it is called on, like ``Concatenate`` or ``Add``.  Constructing one warns
    with a ``DeprecationWarning`` naming the modern spelling: the functional API with
    ``Concatenate(axis=...)`` or ``Add()``.

    Args:
        layers: None, or a list of at least two built fastnn models (``Sequential`` or
            ``Model``), each with one input and one output.
        mode: ``"concat"`` (along ``concat_axis``), ``"sum"``, ``"mul"`` (element-wise
            product), ``"ave"`` (mean), ``"max"`` (element-wise maximum) or ``"dot"``
            (per-sample dot product of two 2-D inputs, giving one column).  Keras 1's
            ``"cos"`` and callable modes are not supported.
        concat_axis: the axis ``"concat"`` joins along (default -1, the features).
        dot_axes: the axis ``"dot"`` sums over: 1 or -1 (or a pair of them), the
            features, the only axis of a 2-D input.
        **kwargs: ``name``, ``trainable``, ``dtype``.  Keras 1's ``output_shape``,
            ``output_mask``, ``arguments``, ``node_indices`` and ``tensor_indices``
            are accepted only as None.
    """

    multi_input = True

    def __init__(self, layers=None, mode="sum", concat_axis=-1, dot_axes=-1,
                 output_shape=None, output_mask=None, arguments=None, node_indices=None,
                 tensor_indices=None, **kwargs):
        warn = kwargs.pop("_warn", True)  # from_config: the program already warned
        super().__init__(**kwargs)
        for name, value in (("output_shape", output_shape), ("output_mask", output_mask),
                            ("arguments", arguments), ("node_indices", node_indices),
                            ("tensor_indices", tensor_indices)):
            if value is not None:
                refuse_argument(name, value, "None (fastnn's Merge supports the named "
                                "modes only)", owner="Merge")
        if callable(mode) or mode == "cos":
            refuse_argument("mode", mode, f"one of {', '.join(map(repr, _MODES))} "
                            "(Keras 1's 'cos' and callable modes are not supported)",
                            owner="Merge")
        self.mode = check_choice("mode", mode, _MODES, owner="Merge")
        self.concat_axis = check_int("concat_axis", concat_axis, owner="Merge")
        self.dot_axes = _check_dot_axes(dot_axes)
        self._models = _check_models(layers)
        if self._models:
            # a Sequential starting with this layer takes one input per model
            self._declared_input_shape = [tuple(m.input_shape[1:]) for m in self._models]
        if warn:
            modern = _MODERN[self.mode].format(concat_axis=self.concat_axis,
                                               dot_axes=self.dot_axes)
            warnings.warn(
                f"layers.Merge is Keras 1's API (removed in Keras 2). Use the functional "
                f"API instead: {modern} called on the list of tensors to join, e.g. "
                f"a, b = Input(shape=...), Input(shape=...); joined = "
                f"Concatenate(axis=1)([wide(a), deep(b)]); model = Model([a, b], "
                f"Dense(1)(joined)).",
                DeprecationWarning, stacklevel=2)

    # ----------------------------------------------------------------- weights
    # The joined models' weights are this layer's: the engine trains, saves and loads
    # them through it, in the models' order.
    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for m in self._models for w in m.trainable_weights]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return [w for m in self._models for w in m.weights]
        return [w for m in self._models for w in m.non_trainable_weights]

    def count_params(self):
        return int(sum(m.count_params() for m in self._models))

    def regularization_penalty(self):
        return sum(layer.regularization_penalty() for m in self._models for layer in m.layers)

    def get_rng_state(self):
        """The random state of the joined models' layers (Dropout), by layer name."""
        return {layer.name: layer.get_rng_state() for m in self._models
                for layer in m.layers if hasattr(layer, "get_rng_state")}

    def set_rng_state(self, state):
        """Restore a state from ``get_rng_state``."""
        layers = {layer.name: layer for m in self._models for layer in m.layers
                  if hasattr(layer, "set_rng_state")}
        if not isinstance(state, dict) or set(state) != set(layers):
            refuse_argument("state", state, f"a dict of the random states of layers "
                            f"{sorted(layers)}", owner="Merge")
        for name, layer_state in state.items():
            layers[name].set_rng_state(layer_state)

    # ----------------------------------------------------------------- building
    def __call__(self, inputs, training=False):
        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if self._models and all(isinstance(t, SymbolicTensor) for t in flat):
            # The joined models get no input gradient (fastnn's models hand back only
            # their weights' gradients), so they must read the data itself.
            from .core import InputLayer
            if not all(isinstance(t.node.layer, InputLayer) for t in flat):
                raise ValueError(
                    f"Merge({self.mode!r}) joining models takes the model inputs "
                    f"directly (make it the first layer of a Sequential, or call it on "
                    f"fastnn.Input tensors). Received: {flat!r}")
        return super().__call__(inputs, training)

    def _branch_shapes(self, input_shape):
        """The shapes of the tensors joined: the models' outputs, or the inputs."""
        if not isinstance(input_shape, (list, tuple)) or not all(
                isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"Merge expects a list of inputs. "
                             f"Received: input_shape={input_shape!r}")
        shapes = [tuple(s) for s in input_shape]
        if self._models:
            if len(shapes) != len(self._models):
                raise ValueError(f"Merge joins {len(self._models)} models, so it takes "
                                 f"{len(self._models)} inputs, one per model. Received: "
                                 f"{len(shapes)} input(s) of shapes {shapes}")
            for m, shape in zip(self._models, shapes):
                expected = tuple(m.input_shape)
                if len(expected) != len(shape) or any(
                        e is not None and g is not None and e != g
                        for e, g in zip(expected[1:], shape[1:])):
                    raise ValueError(f"Merge: model {m.name!r} takes inputs of shape "
                                     f"{expected}. Received: {shape}")
            return [tuple(m.output_shape) for m in self._models]
        if len(shapes) < 2:
            raise ValueError(f"Merge expects at least 2 inputs. Received: {len(shapes)} "
                             f"input(s) of shapes {shapes}")
        return shapes

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = self._branch_shapes(input_shape)
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(f"Merge expects inputs of one rank. Received: {shapes}")
        if self.mode == "concat":
            axis = feature_axis(self, self.concat_axis, len(shapes[0]))
            _check_same(shapes, skip=axis, what=f"concat_axis={self.concat_axis} needs "
                                                 f"inputs whose other axes match")
            sizes = [s[axis] for s in shapes]
            out = list(shapes[0])
            out[axis] = None if None in sizes else sum(sizes)
            return tuple(out)
        _check_same(shapes, skip=None, what=f"mode={self.mode!r} needs inputs of one shape")
        if self.mode == "dot":
            if len(shapes) != 2 or len(shapes[0]) != 2:
                raise ValueError(f"Merge(mode='dot') takes two 2-D inputs (samples, "
                                 f"features). Received: inputs of shapes {shapes}")
            return (None, 1)
        return shapes[0]

    # ----------------------------------------------------------------- compute
    def forward(self, inputs, training, cache, skip_activation=False):
        if self._models:
            branches = []
            for i, (m, x) in enumerate(zip(self._models, inputs)):
                sub = cache.setdefault(f"model{i}", {})
                branches.append(m._graph.forward([x], training, sub)[0])
        else:
            branches = list(inputs)
        self.compute_output_shape([(None,) + x.shape[1:] for x in inputs])
        if len({x.shape[0] for x in branches}) != 1:
            raise ValueError(f"Merge inputs must have the same batch size. Received: "
                             f"shapes {[x.shape for x in branches]}")
        cache["branches"] = branches
        return self._join(branches, cache)

    def _join(self, xs, cache):
        dtype, mode = xs[0].dtype, self.mode
        if mode == "concat":
            axis = feature_axis(self, self.concat_axis, xs[0].ndim)
            shape = list(xs[0].shape)
            shape[axis] = sum(x.shape[axis] for x in xs)
            cache["axis"] = axis
            return self.ops.concatenate(xs, axis, out=buffer(cache, "y", tuple(shape), dtype))
        if mode == "sum":
            return self.ops.add_n(xs, out=buffer(cache, "y", xs[0].shape, dtype))
        # The ops interface has no element-wise product or maximum yet: these modes,
        # kept for old programs only, compute in NumPy (the reference backend's own).
        if mode == "dot":
            y = buffer(cache, "y", (xs[0].shape[0], 1), dtype)
            np.einsum("ij,ij->i", xs[0], xs[1], out=y.reshape(-1))
            return y
        y = buffer(cache, "y", xs[0].shape, dtype)
        if mode == "mul":
            np.copyto(y, xs[0])
            for x in xs[1:]:
                np.multiply(y, x, out=y)
        elif mode == "max":
            np.copyto(y, xs[0])
            for x in xs[1:]:
                np.maximum(y, x, out=y)
        else:  # ave
            self.ops.add_n(xs, out=y)
            y *= 1.0 / len(xs)
        return y

    def backward(self, cache, dy):
        xs = cache["branches"]
        dxs = self._join_backward(xs, cache, dy)
        if not self._models:
            return dxs
        grads = {}
        for i, (m, g) in enumerate(zip(self._models, dxs)):
            grads.update(m._graph.backward(cache[f"model{i}"], [g]))
        cache["grads"] = [grads[id(w)] if id(w) in grads else np.zeros_like(w.value)
                          for w in self.trainable_weights]
        return [None] * len(xs)  # the inputs are the data (see __call__)

    def _join_backward(self, xs, cache, dy):
        mode, n = self.mode, len(xs)
        outs = [buffer(cache, f"dx{i}", x.shape, dy.dtype) for i, x in enumerate(xs)]
        if mode == "concat":
            axis = cache["axis"]
            return self.ops.split(dy, [x.shape[axis] for x in xs], axis, outs=outs)
        if mode == "sum":
            return [self.ops.add_n([dy], out=o) for o in outs]
        if mode == "ave":
            for o in outs:
                np.multiply(dy, 1.0 / n, out=o)
            return outs
        if mode == "dot":
            np.multiply(dy, xs[1], out=outs[0])
            np.multiply(dy, xs[0], out=outs[1])
            return outs
        if mode == "mul":
            for i, o in enumerate(outs):
                np.copyto(o, dy)
                for j, x in enumerate(xs):
                    if j != i:
                        np.multiply(o, x, out=o)
            return outs
        # max: the gradient goes to the input that gave the maximum (the first on ties)
        winner = np.argmax(np.stack(xs), axis=0)
        for i, o in enumerate(outs):
            np.multiply(dy, winner == i, out=o)
        return outs

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.pop("input_shape", None)  # the models carry their input shapes
        config.update(mode=self.mode, concat_axis=self.concat_axis, dot_axes=self.dot_axes)
        if self._models:
            config["layers"] = [{"class_name": type(m).__name__, "config": m.get_config()}
                                for m in self._models]
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        specs = config.pop("layers", None)
        models = None
        if specs is not None:
            from .. import models as _models_pkg
            classes = {"Sequential": _models_pkg.Sequential, "Model": _models_pkg.Model}
            if not isinstance(specs, list) or not all(
                    isinstance(s, dict) and s.get("class_name") in classes for s in specs):
                raise ValueError("Invalid Merge config: 'layers' must list Sequential or "
                                 "Model configs")
            models = [classes[s["class_name"]].from_config(s.get("config")) for s in specs]
        return cls(layers=models, _warn=False, **config)


def _check_models(layers):
    """``layers`` as a list of built single-input, single-output models (or [])."""
    if layers is None:
        return []
    from ..models import Model

    expected = ("None or a list of at least 2 built fastnn models (Sequential or Model, "
                "with an input shape), each with one input and one output")
    if not isinstance(layers, (list, tuple)) or len(layers) < 2 or not all(
            isinstance(m, Model) for m in layers):
        refuse_argument("layers", layers, expected, wrong_type=not isinstance(
            layers, (list, tuple)), owner="Merge")
    for m in layers:
        if not m.built or len(m.inputs) != 1 or len(m.outputs) != 1:
            refuse_argument("layers", layers, expected + f"; model {m.name!r} is not",
                            owner="Merge")
    if len({id(m) for m in layers}) != len(layers):
        refuse_argument("layers", layers, "distinct models", owner="Merge")
    return list(layers)


def _check_dot_axes(dot_axes):
    """Keras 1's ``dot_axes`` (an int or a pair) as the one axis fastnn supports."""
    axes = list(dot_axes) if isinstance(dot_axes, (list, tuple)) else [dot_axes, dot_axes]
    if len(axes) != 2 or any(isinstance(a, bool) or a not in (1, -1) for a in axes):
        refuse_argument("dot_axes", dot_axes, "1 or -1, or a pair of them (the features "
                        "axis of 2-D inputs)", owner="Merge")
    return int(axes[0])


def _check_same(shapes, skip, what):
    for i in range(1, len(shapes[0])):
        if i != skip and len({s[i] for s in shapes if s[i] is not None}) > 1:
            raise ValueError(f"Merge with {what}. Received: inputs of shapes {shapes}")


__all__ = ["Concatenate", "Add", "Merge"]
