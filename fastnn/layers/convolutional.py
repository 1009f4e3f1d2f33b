"""Convolution layers: Conv2D and Conv1D.

Both compute through the backends' ``conv2d_forward`` / ``conv2d_backward`` primitives on
channels-last 4-D arrays; Conv1D is a convolution of height 1 and channels-first inputs
are transposed on the way in and out (see ``windowing``).  The kernel keeps Keras's
layout, ``(kernel_h, kernel_w, in_channels // groups, filters)`` for Conv2D and
``(kernel_size, in_channels // groups, filters)`` for Conv1D, so weights move between
Keras and fastnn unchanged.  As in Dense, bias and activation are fused into the
primitive call, except for activations whose derivative needs the pre-activation
(gelu, swish) and for grouped convolutions, which run the activation after joining
their groups (softmax spans every filter).
"""

import numpy as np

from .. import activations
from ..backend import activations as _act
from ..utils.validation import check_int, refuse_argument
from . import windowing as win
from .base import Layer, as_2d_features, buffer
from .core import init_linear_part, linear_part_config


class _Conv(Layer):
    """The convolution of ``rank`` spatial axes (1 or 2) shared by Conv1D and Conv2D."""

    rank = 2
    _paddings = ("valid", "same")

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.filters = check_int("filters", filters, low=1, owner=owner)
        self.kernel_size = win.normalize_tuple("kernel_size", kernel_size, self.rank, owner)
        self.strides = win.normalize_tuple("strides", strides, self.rank, owner)
        self.padding = win.normalize_padding(padding, owner, self._paddings)
        self.data_format = win.normalize_data_format(data_format, owner)
        self.dilation_rate = win.normalize_tuple("dilation_rate", dilation_rate, self.rank,
                                                 owner)
        self.groups = check_int("groups", groups, low=1, owner=owner)
        if self.filters % self.groups:
            refuse_argument("groups", groups, f"a divisor of filters={self.filters}",
                            owner=owner)
        self.activation = activations.canonical(activation)
        init_linear_part(self, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer)
        self._geometries = {}

    # ----------------------------------------------------------------- shapes
    def _geometry(self, spatial):
        """The primitives' geometry for inputs of these spatial sizes (kept per size)."""
        geometry = self._geometries.get(spatial)
        if geometry is None:
            geometry = win.Geometry(spatial, self.kernel_size, self.strides,
                                    self.dilation_rate, self.padding)
            geometry.check_fits(self, "kernel_size", self.kernel_size, spatial)
            self._geometries[spatial] = geometry
        return geometry

    def build(self, input_shape):
        win.check_rank(self, input_shape, self.rank)
        channels = win.channel_count(input_shape, self.data_format)
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} needs the number of input channels "
                f"to be known. Received: input_shape={tuple(input_shape)}"
            )
        if channels % self.groups:
            refuse_argument(
                "groups", self.groups, f"a divisor of the input's {channels} channels",
                owner=f"{type(self).__name__} {self.name!r}")
        self._geometry(win.spatial_shape(input_shape, self.rank, self.data_format))
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (channels // self.groups, self.filters),
            self.kernel_initializer, self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        win.check_rank(self, input_shape, self.rank)
        spatial = win.spatial_shape(input_shape, self.rank, self.data_format)
        return win.with_spatial(input_shape, self._geometry(spatial).output, self.filters,
                                self.data_format)

    def set_weights(self, weights):
        """Set the kernel (and bias) from arrays in Keras's layout, checking that the
        kernel's input-channel count matches the inputs this layer was built for."""
        weights = list(weights)
        if self.built and weights:
            want, got = tuple(self.kernel.shape), tuple(np.shape(weights[0]))
            owner = f"{type(self).__name__} {self.name!r}"
            if len(got) == len(want) and got[-2] != want[-2]:
                raise ValueError(
                    f"{owner} was built for inputs of "
                    f"{want[-2] * self.groups} channels, so set_weights expects a kernel "
                    f"of shape {want} ({want[-2]} input channels per group). Received: a "
                    f"kernel of shape {got} in `weights`, with {got[-2]} input channels"
                )
            if got != want:
                # name Keras's layout: a kernel from PyTorch (filters, in, kh, kw) or
                # a flattened one lands here
                layout = ("(kernel_h, kernel_w, in_channels // groups, filters)"
                          if self.rank == 2 else
                          "(kernel_size, in_channels // groups, filters)")
                raise ValueError(
                    f"{owner}: set_weights expects the kernel first in `weights`, of "
                    f"shape {want} {layout}. Received: a first array of shape {got}"
                )
        super().set_weights(weights)

    # ----------------------------------------------------------------- compute
    def _kernel_4d(self):
        w = self.kernel.value
        return w.reshape((1,) + w.shape) if self.rank == 1 else w

    def _group_slices(self, channels):
        cin, fout = channels // self.groups, self.filters // self.groups
        return [(slice(g * cin, (g + 1) * cin), slice(g * fout, (g + 1) * fout))
                for g in range(self.groups)]

    def _convolve(self, x4, geometry, act, out):
        """``act(conv(x4) + bias)`` into ``out``; ``act`` is fused only when ungrouped."""
        ops = self.ops
        w = self._kernel_4d()
        b = self.bias.value if self.use_bias else None
        args = (geometry.strides, geometry.pads, geometry.dilation)
        if self.groups == 1:
            return ops.conv2d_forward(x4, w, b, *args, activation=act, out=out)
        parts = [
            ops.conv2d_forward(np.ascontiguousarray(x4[..., cs]),
                               np.ascontiguousarray(w[..., fs]),
                               None if b is None else b[fs], *args)
            for cs, fs in self._group_slices(x4.shape[-1])
        ]
        return ops.concatenate(parts, axis=3, out=out)

    def _fuses(self, act):
        return self.groups == 1 and act not in _act.NEEDS_INPUT

    def forward(self, x, training, cache, skip_activation=False):
        ops = self.ops
        act = "linear" if skip_activation else self.activation
        x4 = win.to_channels_last_4d(x, self.rank, self.data_format)
        geometry = self._geometry(win.spatial_shape(x.shape, self.rank, self.data_format))
        shape = (x4.shape[0],) + geometry.output_hw + (self.filters,)
        y = buffer(cache, "y", shape, x4.dtype)
        if self._fuses(act) or act == "linear":
            self._convolve(x4, geometry, act, y)
        else:
            z = self._convolve(x4, geometry, "linear", buffer(cache, "z", shape, x4.dtype))
            ops.activation_forward(as_2d_features(z), act, out=as_2d_features(y))
        cache.update(x=x4, y=y, act=act, geometry=geometry)
        return win.from_channels_last_4d(y, self.rank, self.data_format)

    def backward(self, cache, dy):
        ops = self.ops
        x4, y, act, geometry = cache["x"], cache["y"], cache["act"], cache["geometry"]
        dy4 = win.to_channels_last_4d(dy, self.rank, self.data_format)
        if not (self._fuses(act) or act == "linear"):
            dz = buffer(cache, "dz", y.shape, y.dtype)
            ops.activation_backward(
                as_2d_features(dy4), as_2d_features(y), act,
                x=as_2d_features(cache["z"]) if act in _act.NEEDS_INPUT else None,
                out=as_2d_features(dz))
            dy4, act = dz, "linear"
        need_dx = cache.get("need_dx", True)
        w = self._kernel_4d()
        dx = buffer(cache, "dx", x4.shape, x4.dtype) if need_dx else None
        dw = buffer(cache, "dw", w.shape, w.dtype)
        db = buffer(cache, "db", (self.filters,), w.dtype) if self.use_bias else None
        args = (geometry.strides, geometry.pads, geometry.dilation)
        if self.groups == 1:
            ops.conv2d_backward(x4, w, y, dy4, *args, activation=act,
                                has_bias=self.use_bias, need_dx=need_dx, out_dx=dx,
                                out_dw=dw, out_db=db)
        else:
            self._grouped_backward(x4, w, dy4, args, need_dx, dx, dw, db)
        if not self.trainable:
            cache["grads"] = []
        else:
            dw = dw.reshape(self.kernel.shape)
            cache["grads"] = [dw, db] if self.use_bias else [dw]
        if dx is None:
            return None
        return win.from_channels_last_4d(dx, self.rank, self.data_format)

    def _grouped_backward(self, x4, w, dz, args, need_dx, dx, dw, db):
        """Each group's linear backward, joined along the channels into the buffers."""
        ops = self.ops
        parts = []
        for cs, fs in self._group_slices(x4.shape[-1]):
            dz_group = np.ascontiguousarray(dz[..., fs])
            # the activation was applied after the groups joined, so each group's
            # backward is linear and never reads its output (dz_group stands in for it)
            parts.append(ops.conv2d_backward(
                np.ascontiguousarray(x4[..., cs]), np.ascontiguousarray(w[..., fs]),
                dz_group, dz_group, *args, has_bias=self.use_bias, need_dx=need_dx))
        ops.concatenate([p[1] for p in parts], axis=3, out=dw)
        if db is not None:
            ops.concatenate([p[2] for p in parts], axis=0, out=db)
        if need_dx:
            ops.concatenate([p[0] for p in parts], axis=3, out=dx)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": self.activation,
            **linear_part_config(self),
        }


class Conv2D(_Conv):
    """2-D convolution over images: ``activation(conv2d(x, kernel) + bias)``.

    Inputs are ``(batch, height, width, channels)`` (``data_format="channels_last"``,
    the default) or ``(batch, channels, height, width)`` (``"channels_first"``).

    Args:
        filters: the number of output channels, an integer >= 1.
        kernel_size: the window's ``(height, width)``, or one int for both.
        strides: the step between windows, ``(sh, sw)`` or one int (default 1).
        padding: "valid" (no padding, the default) or "same" (zero padding so that the
            output is ``ceil(input / stride)`` long, TensorFlow's rule).
        data_format: "channels_last", "channels_first", or None (channels_last).
        dilation_rate: the spacing between kernel cells, ``(dh, dw)`` or one int.
        groups: split the input channels and the filters into this many groups, each
            convolved with its own filters (both counts must be divisible by it).
        activation: an activation name (see ``fastnn.activations``); None is linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer: initializer names or objects.
        kernel_regularizer, bias_regularizer: regularizer names or objects.

    The kernel has Keras's shape ``(kh, kw, in_channels // groups, filters)``.
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format,
                         dilation_rate, groups, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer, **kwargs)


class Conv1D(_Conv):
    """1-D convolution over sequences ``(batch, steps, channels)`` (or
    ``(batch, channels, steps)`` with ``data_format="channels_first"``).

    Args:
        filters: the number of output channels, an integer >= 1.
        kernel_size: the window's length, an int (or a 1-tuple).
        strides: the step between windows (default 1).
        padding: "valid" (default), "same", or "causal" (zeros before the sequence
            only, so that output ``t`` depends on inputs up to ``t``).
        data_format: "channels_last", "channels_first", or None (channels_last).
        dilation_rate: the spacing between kernel cells.
        groups: as in Conv2D.
        activation, use_bias, kernel_initializer, bias_initializer,
            kernel_regularizer, bias_regularizer: as in Conv2D.

    The kernel has Keras's shape ``(kernel_size, in_channels // groups, filters)``.
    """

    rank = 1
    _paddings = ("valid", "same", "causal")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format,
                         dilation_rate, groups, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer, **kwargs)


__all__ = ["Conv1D", "Conv2D"]
