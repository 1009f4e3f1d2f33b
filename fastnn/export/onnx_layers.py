"""The ONNX exporters of fastnn's layers and activations: one function per layer class.

Each exporter receives the ``GraphBuilder``, the layer and its inputs (``OnnxTensor``,
batch axis first) and returns the name of the tensor holding the layer's output, as
``fastnn.export.onnx.register_exporter`` describes.  They compute what the layer's
``forward`` computes at inference (``training=False``): Dropout is the identity and
BatchNormalization uses its moving statistics.

Activations are written with operators onnxruntime implements for float32 *and*
float64 (it has no float64 Elu, Selu, Softplus or Erf), so one formula serves both
dtypes: elu, selu and softplus are built from Exp, Log and Where; gelu from Erf, which
a float64 model evaluates in float32 (see ``_erf``).
"""

import math

import numpy as np

from ..backend import activations as _act
from ..layers import (
    Activation, Add, BatchNormalization, Concatenate, Dense, Dropout, Embedding, Flatten,
    LeakyReLU, Maxout, Merge, PReLU, Reshape,
)
from ..layers.base import feature_axis
from .onnx import export_graph, register_exporter

# --------------------------------------------------------------------------- activations


def _where_positive(g, x, negative, hint):
    """``x`` where ``x > 0``, else the tensor ``negative``."""
    positive = g.op("Greater", [x, g.scalar(0.0)], f"{hint}_positive")
    return g.op("Where", [positive, x, negative], hint)


def _exp_minus_one_of_negative_part(g, x, hint):
    """``exp(min(x, 0)) - 1``: the negative branch of elu and selu; taking min first keeps
    ``exp`` finite where the branch is not selected."""
    negative_part = g.op("Min", [x, g.scalar(0.0)], f"{hint}_negative_part")
    return g.op("Sub", [g.op("Exp", [negative_part], f"{hint}_exp"), g.scalar(1.0)],
                f"{hint}_expm1")


def _elu(g, x, alpha, hint, scale=1.0):
    """``scale * (x if x > 0 else alpha * (exp(x) - 1))``."""
    negative = g.op("Mul", [_exp_minus_one_of_negative_part(g, x, hint), g.scalar(alpha)],
                    f"{hint}_negative")
    y = _where_positive(g, x, negative, f"{hint}_elu")
    return y if scale == 1.0 else g.op("Mul", [y, g.scalar(scale)], hint)


def _erf(g, x, hint):
    # onnxruntime has no float64 Erf kernel: a float64 model computes erf in float32
    # (relative error ~1e-7), everything around it stays in float64.
    if g.dtype == np.float32:
        return g.op("Erf", [x], hint)
    onnx_float = g.elem_type_of(np.float32)
    narrow = g.op("Cast", [x], f"{hint}_float32", to=onnx_float)
    return g.op("Cast", [g.op("Erf", [narrow], f"{hint}_erf32")], hint, to=g.elem_type)


def _gelu(g, x, hint):
    """Exact gelu, ``0.5 * x * (1 + erf(x / sqrt(2)))``."""
    scaled = g.op("Mul", [x, g.scalar(1.0 / math.sqrt(2.0))], f"{hint}_scaled")
    cdf = g.op("Add", [_erf(g, scaled, f"{hint}_erf"), g.scalar(1.0)], f"{hint}_cdf2")
    return g.op("Mul", [g.op("Mul", [x, cdf], f"{hint}_xcdf2"), g.scalar(0.5)], hint)


def _softplus(g, x, hint):
    """``log(1 + exp(x))`` as ``max(x, 0) + log(1 + exp(-|x|))``: exp never overflows."""
    minus_abs = g.op("Neg", [g.op("Abs", [x], f"{hint}_abs")], f"{hint}_minus_abs")
    log_term = g.op("Log", [g.op("Add", [g.op("Exp", [minus_abs], f"{hint}_exp"),
                                         g.scalar(1.0)], f"{hint}_1p")], f"{hint}_log")
    return g.op("Add", [g.op("Relu", [x], f"{hint}_relu"), log_term], hint)


# canonical activation name -> function(builder, x, alpha, hint) -> output name
_ACTIVATIONS = {
    "linear": lambda g, x, alpha, hint: x,
    "relu": lambda g, x, alpha, hint: g.op("Relu", [x], hint),
    "sigmoid": lambda g, x, alpha, hint: g.op("Sigmoid", [x], hint),
    "tanh": lambda g, x, alpha, hint: g.op("Tanh", [x], hint),
    "softmax": lambda g, x, alpha, hint: g.op("Softmax", [x], hint, axis=-1),
    "leaky_relu": lambda g, x, alpha, hint: g.op("LeakyRelu", [x], hint, alpha=alpha),
    "elu": lambda g, x, alpha, hint: _elu(g, x, alpha, hint),
    "selu": lambda g, x, alpha, hint: _elu(g, x, _act.SELU_ALPHA, hint,
                                           scale=_act.SELU_SCALE),
    "gelu": lambda g, x, alpha, hint: _gelu(g, x, hint),
    "softplus": lambda g, x, alpha, hint: _softplus(g, x, hint),
    "swish": lambda g, x, alpha, hint: g.op(
        "Mul", [x, g.op("Sigmoid", [x], f"{hint}_sigmoid")], hint),
}
# A new activation in the backends' table must get an exporter here.
assert set(_ACTIVATIONS) == set(_act.ACTIVATIONS)


def export_activation(g, name, x, hint, alpha=None):
    """Append activation ``name`` (a canonical name) applied to tensor ``x``.

    Args:
        g: the GraphBuilder.
        name: one of ``fastnn.backend.activations.ACTIVATIONS``.
        x: the input tensor's name.
        hint: the base of the output's name.
        alpha: the parameter of leaky_relu / elu; None: Keras' default, as the
            backends use it.

    Returns:
        The output tensor's name (``x`` itself for linear).
    """
    return _ACTIVATIONS[name](g, x, _act.resolve_alpha(name, alpha), hint)


# --------------------------------------------------------------------------- layers


def _linear(g, layer, x, hint):
    """``x @ kernel + bias`` of a 2-D input (Dense, Maxout's pieces), as one Gemm."""
    inputs = [x, g.weight(layer, "kernel", layer.kernel.value)]
    if layer.use_bias:
        inputs.append(g.weight(layer, "bias", layer.bias.value))
    return g.op("Gemm", inputs, hint)


@register_exporter(Dense)
def export_dense(g, layer, inputs):
    linear_only = layer.activation == "linear"
    z = _linear(g, layer, inputs[0].name, layer.name if linear_only else f"{layer.name}_linear")
    return export_activation(g, layer.activation, z, layer.name)


@register_exporter(Activation)
def export_activation_layer(g, layer, inputs):
    return export_activation(g, layer.activation, inputs[0].name, layer.name)


@register_exporter(LeakyReLU)
def export_leaky_relu(g, layer, inputs):
    return g.op("LeakyRelu", [inputs[0].name], layer.name, alpha=layer.negative_slope)


@register_exporter(PReLU)
def export_prelu(g, layer, inputs):
    # The slopes' shape is the sample's, with 1 on the shared axes: it broadcasts
    # against (batch, ...) as PRelu's unidirectional broadcasting requires.
    slopes = g.weight(layer, "alpha", layer.alpha.value)
    return g.op("PRelu", [inputs[0].name, slopes], layer.name)


def _reduce_max_last_axis(g, x, hint):
    # ReduceMax took its axes as an attribute until opset 18, as an input since.
    if g.opset >= 18:
        axes = g.constant(np.array([-1], dtype=np.int64), f"{hint}_axes")
        return g.op("ReduceMax", [x, axes], hint, keepdims=0)
    return g.op("ReduceMax", [x], hint, axes=[-1], keepdims=0)


@register_exporter(Maxout)
def export_maxout(g, layer, inputs):
    z = _linear(g, layer, inputs[0].name, f"{layer.name}_pieces")
    # Output j is the max over columns j*num_pieces ... (j+1)*num_pieces - 1 of z:
    # consecutive groups, so a row-major (batch, units, num_pieces) view holds them.
    groups_shape = g.constant(np.array([-1, layer.units, layer.num_pieces], dtype=np.int64),
                              f"{layer.name}_groups_shape")
    groups = g.op("Reshape", [z, groups_shape], f"{layer.name}_groups")
    return _reduce_max_last_axis(g, groups, layer.name)


@register_exporter(Dropout)
def export_dropout(g, layer, inputs):
    return inputs[0].name  # the identity at inference


@register_exporter(BatchNormalization)
def export_batch_normalization(g, layer, inputs):
    # Inference form folded into one affine map per feature, computed in float64:
    # y = x * gamma / sqrt(var + eps) + (beta - mean * gamma / sqrt(var + eps)).
    x = inputs[0]
    mean = layer.moving_mean.value.astype(np.float64)
    var = layer.moving_variance.value.astype(np.float64)
    gamma = layer.gamma.value.astype(np.float64) if layer.scale else 1.0
    beta = layer.beta.value.astype(np.float64) if layer.center else 0.0
    scale = gamma / np.sqrt(var + layer.epsilon)
    shift = beta - mean * scale
    # Shaped to broadcast along the feature axis of a sample (the batch axis implied).
    axis = feature_axis(layer, layer.axis, x.rank)
    shape = [1] * (x.rank - 1)
    shape[axis - 1] = scale.size
    scaled = g.op("Mul", [x.name, g.weight(layer, "scale", scale.reshape(shape))],
                  f"{layer.name}_scaled")
    return g.op("Add", [scaled, g.weight(layer, "shift", shift.reshape(shape))], layer.name)


@register_exporter(Flatten)
def export_flatten(g, layer, inputs):
    x = inputs[0]
    name = x.name
    if layer.data_format == "channels_first" and x.rank > 2:
        # The channel axis moves last first, as the layer does, so features keep the
        # order of a channels_last model.
        perm = [0] + list(range(2, x.rank)) + [1]
        name = g.op("Transpose", [name], f"{layer.name}_channels_last", perm=perm)
    return g.op("Flatten", [name], layer.name, axis=1)


@register_exporter(Reshape)
def export_reshape(g, layer, inputs):
    # 0 copies the input's batch size (dynamic); a -1 in the target is inferred.
    shape = g.constant(np.array([0] + list(layer.target_shape), dtype=np.int64),
                       f"{layer.name}_shape")
    return g.op("Reshape", [inputs[0].name, shape], layer.name)


@register_exporter(Concatenate)
def export_concatenate(g, layer, inputs):
    axis = feature_axis(layer, layer.axis, inputs[0].rank)
    return g.op("Concat", [t.name for t in inputs], layer.name, axis=axis)


@register_exporter(Add)
def export_add(g, layer, inputs):
    return g.op("Sum", [t.name for t in inputs], layer.name)


@register_exporter(Embedding)
def export_embedding(g, layer, inputs):
    # The model's inputs are floats (predict casts ids to the model dtype too), so the
    # ONNX model takes the same arrays; Gather wants integer indices.
    ids = g.op("Cast", [inputs[0].name], f"{layer.name}_ids", to=g.elem_type_of(np.int64))
    table = g.weight(layer, "embeddings", layer.embeddings.value)
    return g.op("Gather", [table, ids], layer.name, axis=0)


@register_exporter(Merge)
def export_merge(g, layer, inputs):
    if layer._models:
        # Joining models: each model's graph is written inline, on its own input.
        branches = [export_graph(g, model._graph, [x])[0]
                    for model, x in zip(layer._models, inputs)]
    else:
        branches = list(inputs)
    names = [t.name for t in branches]
    mode = layer.mode
    if mode == "concat":
        axis = feature_axis(layer, layer.concat_axis, branches[0].rank)
        return g.op("Concat", names, layer.name, axis=axis)
    if mode in ("sum", "max"):
        return g.op("Sum" if mode == "sum" else "Max", names, layer.name)
    if mode == "ave":
        # Sum times 1/n, as the layer computes it (onnxruntime's Mean is float32 only)
        total = g.op("Sum", names, f"{layer.name}_sum")
        return g.op("Mul", [total, g.scalar(1.0 / len(names))], layer.name)
    if mode == "mul":
        y = names[0]
        for k, name in enumerate(names[1:], 1):
            y = g.op("Mul", [y, name], layer.name if k == len(names) - 1
                     else f"{layer.name}_product{k}")
        return y
    # dot: the per-sample dot product of two (batch, features) inputs, as (batch, 1);
    # ReduceSum has taken its axes as an input since opset 13.
    product = g.op("Mul", names, f"{layer.name}_product")
    axes = g.constant(np.array([1], dtype=np.int64), f"{layer.name}_axes")
    return g.op("ReduceSum", [product, axes], layer.name, keepdims=1)
