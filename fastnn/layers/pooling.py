"""Pooling layers: max and average pooling over windows (1-D and 2-D) and over the
whole of each feature map (the global poolings).

All compute through the backends' ``pool2d_forward`` / ``pool2d_backward`` primitives
on channels-last 4-D arrays (see ``windowing``).  Max pooling keeps the position of
each window's maximum for the backward pass; average pooling divides by the number of
real (unpadded) cells of each window, as Keras does with ``padding="same"``.  A global
pooling is one window the size of the whole input.
"""

from ..utils.validation import check_bool
from . import windowing as win
from .base import Layer, buffer


class _Pooling(Layer):
    """Window pooling of ``rank`` spatial axes; subclasses set ``rank`` and ``mode``."""

    rank = 2
    mode = "max"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.pool_size = win.normalize_tuple("pool_size", pool_size, self.rank, owner)
        self.strides = (self.pool_size if strides is None else
                        win.normalize_tuple("strides", strides, self.rank, owner))
        self.padding = win.normalize_padding(padding, owner)
        self.data_format = win.normalize_data_format(data_format, owner)
        self._geometries = {}

    def _geometry(self, spatial):
        geometry = self._geometries.get(spatial)
        if geometry is None:
            geometry = win.Geometry(spatial, self.pool_size, self.strides,
                                    (1,) * self.rank, self.padding)
            geometry.check_fits(self, "pool_size", self.pool_size, spatial)
            self._geometries[spatial] = geometry
        return geometry

    def build(self, input_shape):
        win.check_rank(self, input_shape, self.rank)
        self._geometry(win.spatial_shape(input_shape, self.rank, self.data_format))

    def compute_output_shape(self, input_shape):
        win.check_rank(self, input_shape, self.rank)
        spatial = win.spatial_shape(input_shape, self.rank, self.data_format)
        return win.with_spatial(input_shape, self._geometry(spatial).output,
                                win.channel_count(input_shape, self.data_format),
                                self.data_format)

    def forward(self, x, training, cache, skip_activation=False):
        x4 = win.to_channels_last_4d(x, self.rank, self.data_format)
        geometry = self._geometry(win.spatial_shape(x.shape, self.rank, self.data_format))
        shape = (x4.shape[0],) + geometry.output_hw + (x4.shape[3],)
        index = buffer(cache, "index", shape, "int32") if self.mode == "max" else None
        y, index = self.ops.pool2d_forward(
            x4, geometry.window, geometry.strides, geometry.pads, self.mode,
            out=buffer(cache, "y", shape, x4.dtype), out_index=index)
        cache.update(index=index, x_shape=x4.shape, geometry=geometry, grads=[])
        return win.from_channels_last_4d(y, self.rank, self.data_format)

    def backward(self, cache, dy):
        if not cache.get("need_dx", True):
            return None
        geometry, x_shape = cache["geometry"], cache["x_shape"]
        dx = self.ops.pool2d_backward(
            win.to_channels_last_4d(dy, self.rank, self.data_format), cache["index"],
            x_shape, geometry.window, geometry.strides, geometry.pads, self.mode,
            out=buffer(cache, "dx", x_shape, dy.dtype))
        return win.from_channels_last_4d(dx, self.rank, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pooling):
    """The maximum of each ``pool_size`` window of an image.

    Args:
        pool_size: the window's ``(height, width)``, or one int for both (default 2).
        strides: the step between windows; None (default) means ``pool_size``.
        padding: "valid" (default) or "same" (padded cells never win the maximum).
        data_format: "channels_last", "channels_first", or None (channels_last).
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """The mean of each ``pool_size`` window of an image (over its real cells only
    when ``padding="same"`` pads the border).

    Args:
        pool_size, strides, padding, data_format: as in MaxPooling2D.
    """

    mode = "avg"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_Pooling):
    """The maximum of each ``pool_size`` window of a sequence ``(batch, steps,
    channels)``.

    Args:
        pool_size: the window's length (default 2).
        strides: the step between windows; None (default) means ``pool_size``.
        padding: "valid" (default) or "same".
        data_format: "channels_last", "channels_first", or None (channels_last).
    """

    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """The mean of each ``pool_size`` window of a sequence.

    Args:
        pool_size, strides, padding, data_format: as in MaxPooling1D.
    """

    rank = 1
    mode = "avg"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(Layer):
    """Pooling over every spatial position at once: one window the input's size."""

    rank = 2
    mode = "avg"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.data_format = win.normalize_data_format(data_format, owner)
        self.keepdims = check_bool("keepdims", keepdims, owner=owner)

    def build(self, input_shape):
        win.check_rank(self, input_shape, self.rank)

    def compute_output_shape(self, input_shape):
        win.check_rank(self, input_shape, self.rank)
        channels = win.channel_count(input_shape, self.data_format)
        if self.keepdims:
            return win.with_spatial(input_shape, (1,) * self.rank, channels,
                                    self.data_format)
        return (input_shape[0], channels)

    def forward(self, x, training, cache, skip_activation=False):
        x4 = win.to_channels_last_4d(x, self.rank, self.data_format)
        n, h, w, c = x4.shape
        index = buffer(cache, "index", (n, 1, 1, c), "int32") if self.mode == "max" else None
        y, index = self.ops.pool2d_forward(
            x4, (h, w), (h, w), (0, 0, 0, 0), self.mode,
            out=buffer(cache, "y", (n, 1, 1, c), x4.dtype), out_index=index)
        cache.update(index=index, x_shape=x4.shape, grads=[])
        if not self.keepdims:
            return y.reshape(n, c)
        return win.from_channels_last_4d(y, self.rank, self.data_format)

    def backward(self, cache, dy):
        if not cache.get("need_dx", True):
            return None
        n, h, w, c = cache["x_shape"]
        dx = self.ops.pool2d_backward(
            dy.reshape(n, 1, 1, c) if not self.keepdims else
            win.to_channels_last_4d(dy, self.rank, self.data_format),
            cache["index"], (n, h, w, c), (h, w), (h, w), (0, 0, 0, 0), self.mode,
            out=buffer(cache, "dx", (n, h, w, c), dy.dtype))
        return win.from_channels_last_4d(dx, self.rank, self.data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean of each channel over the whole image: ``(batch, channels)``, or
    ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Args:
        data_format: "channels_last", "channels_first", or None (channels_last).
        keepdims: keep the spatial axes, with size 1.
    """


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum of each channel over the whole image.

    Args:
        data_format, keepdims: as in GlobalAveragePooling2D.
    """

    mode = "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean of each channel over all steps of a sequence: ``(batch, channels)``.

    Args:
        data_format, keepdims: as in GlobalAveragePooling2D.
    """

    rank = 1


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum of each channel over all steps of a sequence.

    Args:
        data_format, keepdims: as in GlobalAveragePooling2D.
    """

    rank = 1
    mode = "max"


# Keras's short spellings of the same classes
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D

__all__ = [
    "AvgPool1D", "AvgPool2D", "MaxPool1D", "MaxPool2D",
    "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "MaxPooling1D", "MaxPooling2D",
]
