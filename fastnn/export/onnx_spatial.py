"""The ONNX exporters of the convolution, pooling and padding layers.

fastnn's images and sequences are channels last by default (``(batch, h, w, c)``,
``(batch, steps, c)``), as in Keras, while ONNX's ``Conv``, ``MaxPool``,
``AveragePool``, ``Global*Pool`` work on channels-first tensors.  Each exporter here
therefore moves a channels-last input to channels first with a ``Transpose``, applies
the ONNX operator and moves the result back, so that every layer's output has the same
layout in the ONNX graph as in fastnn and the other exporters (Flatten, Dense,
BatchNormalization, ...) need not know about layouts.  The pairs of transposes this
leaves between two such layers undo each other and are removed once the graph is
complete (``GraphBuilder.cancel_inverse_transposes``): a conv/pool stack keeps one
Transpose at its input and one at its end (before Flatten, say).  A channels_first
layer needs no transpose at all.

Padding is written as explicit ``pads`` computed with the layers' own rule
(``fastnn.layers.windowing.axis_pads``: TensorFlow's "same", the odd cell after; and
Conv1D's "causal", all before), so the numbers are fastnn's by construction; only an
axis of unknown size with "same" uses ``auto_pad="SAME_UPPER"``, the same rule.
Average pooling leaves the padded cells out of the mean (``count_include_pad=0``),
as fastnn and Keras do.

onnxruntime implements ``Conv`` and ``AveragePool`` for float32 only, so a float64
model computes those two operators in float32 (``Cast`` on the way in and out, the
weights stored in float64), as its gelu computes ``Erf``: a relative error of about
1e-6 instead of 1e-15.  Everything else, the max and global poolings included (written
as ``MaxPool`` and ``ReduceMean`` / ``ReduceMax``), stays in float64.
"""

import numpy as np

from ..layers import (
    AveragePooling1D, AveragePooling2D, Conv1D, Conv2D, GlobalAveragePooling1D,
    GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D,
    MaxPooling2D, SpatialDropout2D, ZeroPadding2D,
)
from ..layers import windowing as win
from .onnx import register_exporter
from .onnx_layers import export_activation


def _to_channels_first(g, layer, x, rank):
    """``x`` (an OnnxTensor of ``rank`` spatial axes) as a channels-first tensor name."""
    if layer.data_format == "channels_first":
        return x.name
    perm = [0, rank + 1] + list(range(1, rank + 1))
    return g.op("Transpose", [x.name], f"{layer.name}_channels_first", perm=perm)


def _to_layout(g, layer, name, rank, hint):
    """A channels-first tensor back in the layer's own layout."""
    if layer.data_format == "channels_first":
        return name
    perm = [0] + list(range(2, rank + 2)) + [1]
    return g.op("Transpose", [name], hint, perm=perm)


def _window_attributes(layer, x, window, strides, dilation):
    """The ``pads`` (or ``auto_pad``) and ``strides`` of an ONNX window operator for the
    input tensor ``x``, computed as the fastnn layer computes them."""
    rank = len(window)
    spatial = win.spatial_shape(x.shape, rank, layer.data_format)
    attributes = {"kernel_shape": list(window), "strides": list(strides)}
    if layer.padding == "same" and None in spatial:
        # size unknown until run time: ONNX's SAME_UPPER is TensorFlow's "same" rule
        attributes["auto_pad"] = "SAME_UPPER"
        return attributes
    pairs = [win.axis_pads(1 if size is None else size, k, s, d, layer.padding)
             for size, k, s, d in zip(spatial, window, strides, dilation)]
    # ONNX orders pads as all the "before" values, then all the "after" values
    attributes["pads"] = [p[0] for p in pairs] + [p[1] for p in pairs]
    return attributes


def _float32_op(g, op_type, inputs, hint, **attributes):
    """``op_type`` on ``inputs``, computed in float32 when the model is float64 (for
    the operators onnxruntime has no float64 kernel of); returns the output's name."""
    if g.dtype == np.float32:
        return g.op(op_type, inputs, hint, **attributes)
    narrow = [g.op("Cast", [name], f"{hint}_input{k}_float32", to=g.elem_type_of(np.float32))
              for k, name in enumerate(inputs)]
    y = g.op(op_type, narrow, f"{hint}_float32", **attributes)
    return g.op("Cast", [y], hint, to=g.elem_type)


def _reduce(g, op_type, x, axes, hint):
    # The Reduce operators took their axes as an attribute until opset 18, as an input
    # since (ReduceSum already since 13, but it is not used here).
    if g.opset >= 18:
        axes_name = g.constant(np.array(axes, dtype=np.int64), f"{hint}_axes")
        return g.op(op_type, [x, axes_name], hint, keepdims=1)
    return g.op(op_type, [x], hint, axes=list(axes), keepdims=1)


# --------------------------------------------------------------------------- convolution


def _export_conv(g, layer, inputs):
    x = inputs[0]
    rank = layer.rank
    xc = _to_channels_first(g, layer, x, rank)
    # Keras's kernel (*window, in_channels // groups, filters) -> ONNX's
    # (filters, in_channels // groups, *window); the groups split the channels and the
    # filters into consecutive blocks in both.
    kernel = np.transpose(layer.kernel.value, (rank + 1, rank) + tuple(range(rank)))
    conv_inputs = [xc, g.weight(layer, "kernel", kernel)]
    if layer.use_bias:
        conv_inputs.append(g.weight(layer, "bias", layer.bias.value))
    attributes = _window_attributes(layer, x, layer.kernel_size, layer.strides,
                                    layer.dilation_rate)
    act = layer.activation
    z = _float32_op(g, "Conv", conv_inputs, f"{layer.name}_conv" if act != "linear" else
                    f"{layer.name}_channels_first_out", dilations=list(layer.dilation_rate),
                    group=layer.groups, **attributes)
    # The activation runs channels first, between the transposes, so that a stack of
    # convolutions keeps its transposes cancellable; only softmax is not element-wise,
    # and it spans the filters, axis 1 there.
    if act == "softmax":
        y = g.op("Softmax", [z], f"{layer.name}_softmax", axis=1)
    elif act != "linear":
        y = export_activation(g, act, z, f"{layer.name}_activation")
    else:
        y = z
    return _to_layout(g, layer, y, rank, layer.name)


register_exporter(Conv1D)(_export_conv)
register_exporter(Conv2D)(_export_conv)


# --------------------------------------------------------------------------- pooling


def _export_pooling(op_type):
    def export(g, layer, inputs):
        x = inputs[0]
        xc = _to_channels_first(g, layer, x, layer.rank)
        attributes = _window_attributes(layer, x, layer.pool_size, layer.strides,
                                        (1,) * layer.rank)
        hint = f"{layer.name}_channels_first_out"
        if op_type == "AveragePool":
            attributes["count_include_pad"] = 0  # the mean of the real cells only
            y = _float32_op(g, op_type, [xc], hint, **attributes)
        else:
            y = g.op(op_type, [xc], hint, **attributes)
        return _to_layout(g, layer, y, layer.rank, layer.name)
    return export


for _cls in (MaxPooling1D, MaxPooling2D):
    register_exporter(_cls)(_export_pooling("MaxPool"))
for _cls in (AveragePooling1D, AveragePooling2D):
    register_exporter(_cls)(_export_pooling("AveragePool"))


def _export_global_pooling(op_type):
    def export(g, layer, inputs):
        xc = _to_channels_first(g, layer, inputs[0], layer.rank)
        # Reduced channels first, (batch, c, 1, ...), so that the transposes of a conv
        # stack before it cancel; ReduceMean / ReduceMax rather than GlobalAveragePool /
        # GlobalMaxPool, which onnxruntime has for float32 only.
        axes = list(range(2, layer.rank + 2))
        y = _reduce(g, op_type, xc, axes, f"{layer.name}_channels_first_out")
        if not layer.keepdims:
            return g.op("Flatten", [y], layer.name, axis=1)
        return _to_layout(g, layer, y, layer.rank, layer.name)
    return export


for _cls in (GlobalAveragePooling1D, GlobalAveragePooling2D):
    register_exporter(_cls)(_export_global_pooling("ReduceMean"))
for _cls in (GlobalMaxPooling1D, GlobalMaxPooling2D):
    register_exporter(_cls)(_export_global_pooling("ReduceMax"))


# --------------------------------------------------------------------------- others


@register_exporter(ZeroPadding2D)
def export_zero_padding_2d(g, layer, inputs):
    # Padded channels first, like the layers around it, so that a padding between two
    # convolutions keeps their transposes cancellable.
    xc = _to_channels_first(g, layer, inputs[0], 2)
    (top, bottom), (left, right) = layer.padding
    pads = g.constant(np.array([0, 0, top, left, 0, 0, bottom, right], dtype=np.int64),
                      f"{layer.name}_pads")
    y = g.op("Pad", [xc, pads], f"{layer.name}_channels_first_out", mode="constant")
    return _to_layout(g, layer, y, 2, layer.name)


@register_exporter(SpatialDropout2D)
def export_spatial_dropout_2d(g, layer, inputs):
    return inputs[0].name  # the identity at inference, as Dropout
