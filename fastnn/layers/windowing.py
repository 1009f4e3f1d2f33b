"""Window geometry shared by the convolution and pooling layers.

The backends' convolution and pooling primitives take channels-last 4-D arrays
``(batch, height, width, channels)`` and explicit geometry: ``strides (sh, sw)``,
``pads (top, bottom, left, right)`` and ``dilation (dh, dw)``.  These helpers turn the
Keras arguments (``kernel_size=3``, ``padding="same"``, ``data_format``) into that
geometry, and move 1-D ``(batch, steps, channels)`` and channels-first inputs into the
4-D channels-last layout and back (a 1-D input is a 2-D one of height 1).
"""

import math

import numpy as np

from ..utils.validation import check_int, refuse_argument

DATA_FORMATS = ("channels_last", "channels_first")


def normalize_tuple(name, value, rank, owner):
    """``value`` (an int, or ``rank`` ints) as a tuple of ``rank`` ints >= 1."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,) * rank
    if not isinstance(value, (tuple, list)) or len(value) != rank:
        refuse_argument(name, value, f"an integer or a tuple of {rank} integers",
                        wrong_type=not isinstance(value, (tuple, list)), owner=owner)
    return tuple(check_int(name, v, low=1, owner=owner) for v in value)


def normalize_padding(value, owner, allowed=("valid", "same")):
    """``padding`` as lower-case "valid" / "same" (Keras accepts either case)."""
    lowered = value.lower() if isinstance(value, str) else value
    if lowered not in allowed:
        refuse_argument("padding", value, "one of " + ", ".join(map(repr, allowed)),
                        wrong_type=not isinstance(value, str), owner=owner,
                        choices=allowed)
    return lowered


def normalize_data_format(value, owner):
    """``data_format`` with None meaning Keras's default "channels_last"."""
    if value is None:
        return "channels_last"
    if value not in DATA_FORMATS:
        refuse_argument("data_format", value, "'channels_last', 'channels_first' or None",
                        wrong_type=not isinstance(value, str), owner=owner,
                        choices=DATA_FORMATS)
    return value


def axis_pads(size, window, stride, dilation, padding):
    """``(before, after)`` zero padding along one axis of ``size`` cells.

    "same" follows TensorFlow (and so Keras): the total makes the output
    ``ceil(size / stride)`` long and the odd cell goes after.  "causal" (Conv1D) pads
    only before, so that output ``t`` sees inputs up to ``t``.
    """
    span = dilation * (window - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def axis_output(size, window, stride, dilation, pads):
    """The output length along one axis (the contract's ``OH`` formula)."""
    return (size + pads[0] + pads[1] - dilation * (window - 1) - 1) // stride + 1


def spatial_shape(input_shape, rank, data_format):
    """The ``rank`` spatial sizes of a full input shape (batch axis first)."""
    if data_format == "channels_first":
        return tuple(input_shape[2:2 + rank])
    return tuple(input_shape[1:1 + rank])


def channel_count(input_shape, data_format):
    return input_shape[1] if data_format == "channels_first" else input_shape[-1]


def with_spatial(input_shape, spatial, channels, data_format):
    """A full output shape from its batch axis, spatial sizes and channel count."""
    if data_format == "channels_first":
        return (input_shape[0], channels) + tuple(spatial)
    return (input_shape[0],) + tuple(spatial) + (channels,)


def check_rank(layer, input_shape, rank):
    """Refuse an input that is not ``(batch, <rank spatial axes>, channels)``."""
    if len(input_shape) != rank + 2:
        layout = ("(batch, height, width, channels)" if rank == 2
                  else "(batch, steps, channels)")
        if layer.data_format == "channels_first":
            layout = "(batch, channels, height, width)" if rank == 2 else \
                "(batch, channels, steps)"
        hint = ""
        if len(input_shape) == rank + 1:
            # the commonest case: grayscale images (or a sequence of scalars) without
            # their channel axis, as fashion_mnist.load_data() and mnist return them
            add = "x[..., None]" if layer.data_format == "channels_last" else "x[:, None]"
            hint = f" (a single channel without its axis? Add it with {add})"
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} expects {rank + 2}-D inputs {layout}"
            f"{hint}. Received: input_shape={tuple(input_shape)}"
        )


class Geometry:
    """The primitives' arguments for one spatial input size.

    Args:
        spatial: the input's spatial sizes (``rank`` ints; None where unknown).
        window, strides, dilation: ``rank``-tuples of ints.
        padding: "valid", "same" or "causal".
    """

    def __init__(self, spatial, window, strides, dilation, padding):
        self.rank = len(window)
        per_axis = [
            None if size is None else axis_pads(size, k, s, d, padding)
            for size, k, s, d in zip(spatial, window, strides, dilation)
        ]
        self.output = tuple(
            None if size is None else axis_output(size, k, s, d, p)
            for size, k, s, d, p in zip(spatial, window, strides, dilation, per_axis)
        )
        # the backends always see 2-D windows: a 1-D one is 1 high
        self.output_hw = self.output if self.rank == 2 else (1,) + self.output
        if self.rank == 1:
            per_axis = [(0, 0)] + per_axis
            window, strides, dilation = (1,) + window, (1,) + strides, (1,) + dilation
        self.window = tuple(window)
        self.strides = tuple(strides)
        self.dilation = tuple(dilation)
        self.pads = None if None in per_axis else per_axis[0] + per_axis[1]

    def check_fits(self, layer, argument, value, spatial):
        """Refuse a window that does not fit in the (padded) input even once."""
        if any(o is not None and o < 1 for o in self.output):
            refuse_argument(
                argument, value,
                f"a window that fits in the input's spatial size {tuple(spatial)} "
                f"(with padding={layer.padding!r})",
                owner=f"{type(layer).__name__} {layer.name!r}",
            )


def to_channels_last_4d(x, rank, data_format):
    """``x`` as a C-contiguous ``(batch, height, width, channels)`` array."""
    if data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    x = np.ascontiguousarray(x)
    if rank == 1:
        x = x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])
    return x


def from_channels_last_4d(y, rank, data_format):
    """The inverse of ``to_channels_last_4d`` for an output of the same rank."""
    if rank == 1:
        y = y.reshape(y.shape[0], y.shape[2], y.shape[3])
    if data_format == "channels_first":
        y = np.ascontiguousarray(np.moveaxis(y, -1, 1))
    return y
