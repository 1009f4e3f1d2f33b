"""Reshaping layers: Flatten, Reshape and ZeroPadding2D.

Flatten and Reshape only change how a C-contiguous batch is viewed, so forward and
backward are reshapes (no copy, no arithmetic); ZeroPadding2D copies the images into a
larger zero frame and its backward cuts the frame off.  None needs the backend.
"""

import math

import numpy as np

from ..utils.validation import check_choice, check_int, check_shape, refuse_argument
from . import windowing as win
from .base import Layer, buffer

_DATA_FORMATS = ("channels_last", "channels_first")


class Flatten(Layer):
    """Flattens each sample: ``(batch, d1, d2, ...)`` -> ``(batch, d1 * d2 * ...)``.

    Args:
        data_format: "channels_last" (default) or "channels_first"; with the latter the
            channel axis (axis 1) is moved last before flattening, as Keras does, so the
            feature order matches a channels_last model.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format is None:
            data_format = "channels_last"
        self.data_format = check_choice("data_format", data_format, _DATA_FORMATS)

    def _moves_channels(self, ndim):
        return self.data_format == "channels_first" and ndim > 2

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def forward(self, x, training, cache, skip_activation=False):
        cache["shape"] = x.shape
        cache["grads"] = []
        if self._moves_channels(x.ndim):
            x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
            cache["moved_shape"] = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, cache, dy):
        shape = cache["shape"]
        if self._moves_channels(len(shape)):
            dy = dy.reshape(cache["moved_shape"])
            return np.ascontiguousarray(np.moveaxis(dy, -1, 1))
        return dy.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (the batch axis is kept).

    Args:
        target_shape: the new shape of one sample; one entry may be -1, inferred from
            the sample's size.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = check_shape("target_shape", target_shape, inferred_dim=True)

    def _resolve(self, sample_size):
        """The target shape with -1 filled in for samples of ``sample_size`` elements."""
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if known == 0 or sample_size % known:
                raise ValueError(self._mismatch(sample_size))
            return tuple(sample_size // known if d == -1 else d for d in self.target_shape)
        if known != sample_size:
            raise ValueError(self._mismatch(sample_size))
        return self.target_shape

    def _mismatch(self, sample_size):
        return (
            f"Reshape layer {self.name!r} cannot reshape samples of {sample_size} "
            f"elements. Received: target_shape={self.target_shape}"
        )

    def build(self, input_shape):
        rest = input_shape[1:]
        if all(d is not None for d in rest):
            self._resolve(math.prod(rest))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            shape = tuple(None if d == -1 else d for d in self.target_shape)
        else:
            shape = self._resolve(math.prod(rest))
        return (input_shape[0],) + shape

    def forward(self, x, training, cache, skip_activation=False):
        cache["shape"] = x.shape
        cache["grads"] = []
        target = self._resolve(math.prod(x.shape[1:]))
        return x.reshape((x.shape[0],) + target)

    def backward(self, cache, dy):
        return dy.reshape(cache["shape"])

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around each image.

    Args:
        padding: one int (the same on all four sides), two ints ``(rows, cols)``
            (``rows`` above and below, ``cols`` left and right), or two pairs
            ``((top, bottom), (left, right))``; each >= 0.  Default ``(1, 1)``.
        data_format: "channels_last", "channels_first", or None (channels_last).
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = self._normalize(padding)
        self.data_format = win.normalize_data_format(data_format, "ZeroPadding2D")

    @staticmethod
    def _normalize(padding):
        expected = ("an int >= 0, a tuple of 2 ints >= 0, or a tuple of 2 tuples of "
                    "2 ints >= 0")
        if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
            padding = ((padding, padding), (padding, padding))
        if not isinstance(padding, (tuple, list)) or len(padding) != 2:
            refuse_argument("padding", padding, expected, owner="ZeroPadding2D",
                            wrong_type=not isinstance(padding, (tuple, list)))
        pairs = []
        for p in padding:
            if isinstance(p, (int, np.integer)) and not isinstance(p, bool):
                p = (p, p)
            if not isinstance(p, (tuple, list)) or len(p) != 2:
                refuse_argument("padding", padding, expected, owner="ZeroPadding2D")
            pairs.append(tuple(check_int("padding", v, low=0, owner="ZeroPadding2D")
                               for v in p))
        return tuple(pairs)

    def build(self, input_shape):
        win.check_rank(self, input_shape, 2)

    def compute_output_shape(self, input_shape):
        win.check_rank(self, input_shape, 2)
        spatial = win.spatial_shape(input_shape, 2, self.data_format)
        padded = [None if s is None else s + sum(p) for s, p in zip(spatial, self.padding)]
        return win.with_spatial(input_shape, padded,
                                win.channel_count(input_shape, self.data_format),
                                self.data_format)

    def _inside(self, shape):
        """The index of the original image inside the padded one of ``shape``."""
        (top, bottom), (left, right) = self.padding
        rows = slice(top, shape[-3 if self.data_format == "channels_last" else -2] - bottom)
        cols = slice(left, shape[-2 if self.data_format == "channels_last" else -1] - right)
        if self.data_format == "channels_first":
            return (slice(None), slice(None), rows, cols)
        return (slice(None), rows, cols, slice(None))

    def forward(self, x, training, cache, skip_activation=False):
        shape = (x.shape[0],) + self.compute_output_shape((None,) + x.shape[1:])[1:]
        y = buffer(cache, "y", shape, x.dtype)
        y.fill(0)
        y[self._inside(shape)] = x
        cache.update(shape=shape, grads=[])
        return y

    def backward(self, cache, dy):
        return np.ascontiguousarray(dy[self._inside(cache["shape"])])

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding],
                "data_format": self.data_format}


__all__ = ["Flatten", "Reshape", "ZeroPadding2D"]
