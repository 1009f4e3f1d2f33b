"""Merging layers: Concatenate and Add.

They take a list of inputs: ``forward`` receives a list of arrays and ``backward``
returns a list of gradients, one per input, each its own array (never a view of ``dy``
or of each other), so the engine may accumulate into them.
"""

from ..utils.validation import check_int
from .base import Layer, buffer, feature_axis


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


__all__ = ["Concatenate", "Add"]
