"""Float64 central-difference gradient checks of the convolution, pooling and padding
layers, and of the existing layers on image tensors.

Same objective as test_gradients.py (``sum(forward(x) * R)``, see gradcheck.check_layer):
``backward`` must match central differences for the inputs and every trainable weight.
Cases cover valid and same padding, strides 1 and 2, odd sizes, kernels larger than 1
in one direction only, several channels, with and without bias, dilation, groups,
channels_first, and max pooling with ties.  Every test runs on each backend.
"""

import numpy as np
import pytest

import fastnn
from fastnn import initializers
from fastnn.layers import (
    Add, AveragePooling1D, AveragePooling2D, BatchNormalization, Concatenate, Conv1D,
    Conv2D, Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D, SpatialDropout2D, ZeroPadding2D,
)
from gradcheck import assert_grad_close, build, check_layer, numeric_grad


@pytest.fixture(autouse=True)
def _float64(ops_backend):
    fastnn.config.set_floatx("float64")


def _normal(seed):
    return initializers.RandomNormal(stddev=0.5, seed=seed)


# --------------------------------------------------------------------------- Conv2D


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("kernel_size", [(3, 3), (1, 3), (3, 1), (2, 2)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d(padding, strides, kernel_size, use_bias, rng):
    layer = build(Conv2D(4, kernel_size, strides=strides, padding=padding,
                         activation="tanh", use_bias=use_bias,
                         bias_initializer=_normal(1)), (5, 7, 3))
    check_layer(layer, rng.normal(size=(2, 5, 7, 3)), rng)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "softmax", "gelu",
                                        "swish", "elu"])
def test_conv2d_activations(activation, rng):
    layer = build(Conv2D(3, 2, padding="same", activation=activation,
                         bias_initializer=_normal(2)), (4, 5, 2))
    check_layer(layer, rng.normal(size=(2, 4, 5, 2)), rng)


@pytest.mark.parametrize("dilation_rate,strides", [((2, 2), 1), ((2, 1), (1, 2)),
                                                   ((1, 3), 2)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_dilation(dilation_rate, strides, padding, rng):
    layer = build(Conv2D(2, 3, strides=strides, padding=padding,
                         dilation_rate=dilation_rate, activation="tanh"), (7, 8, 2))
    check_layer(layer, rng.normal(size=(2, 7, 8, 2)), rng)


@pytest.mark.parametrize("activation", ["tanh", "softmax"])
def test_conv2d_groups(activation, rng):
    layer = build(Conv2D(4, (3, 2), groups=2, padding="same", activation=activation,
                         bias_initializer=_normal(3)), (5, 4, 6))
    assert layer.kernel.shape == (3, 2, 3, 4)
    check_layer(layer, rng.normal(size=(2, 5, 4, 6)), rng)


def test_conv2d_channels_first(rng):
    layer = build(Conv2D(3, (3, 2), strides=(2, 1), padding="same",
                          data_format="channels_first", activation="tanh"), (2, 5, 6))
    check_layer(layer, rng.normal(size=(2, 2, 5, 6)), rng)


def test_conv2d_regularized(rng):
    layer = build(Conv2D(2, 3, kernel_regularizer="l2", bias_regularizer="l1",
                         bias_initializer=_normal(4)), (4, 4, 2))
    check_layer(layer, rng.normal(size=(2, 4, 4, 2)), rng, penalty=True)


def test_conv2d_frozen_has_no_weight_gradients(rng):
    layer = build(Conv2D(2, 3), (5, 5, 1))
    layer.trainable = False
    _, grads = check_layer(layer, rng.normal(size=(2, 5, 5, 1)), rng)
    assert grads == []


# --------------------------------------------------------------------------- Conv1D


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation_rate", [(1, 1), (2, 1), (1, 2)])
def test_conv1d(padding, strides, dilation_rate, rng):
    layer = build(Conv1D(3, 3, strides=strides, padding=padding,
                         dilation_rate=dilation_rate, activation="tanh",
                         bias_initializer=_normal(5)), (9, 2))
    check_layer(layer, rng.normal(size=(2, 9, 2)), rng)


def test_conv1d_channels_first_grouped_without_bias(rng):
    layer = build(Conv1D(4, 2, groups=2, use_bias=False, data_format="channels_first"),
                  (4, 7))
    check_layer(layer, rng.normal(size=(3, 4, 7)), rng)


# --------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D])
@pytest.mark.parametrize("pool_size,strides", [((2, 2), None), ((3, 3), 2), ((1, 3), 1),
                                               ((3, 2), (2, 1))])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling2d(cls, pool_size, strides, padding, rng):
    layer = build(cls(pool_size, strides=strides, padding=padding), (5, 7, 3))
    check_layer(layer, rng.normal(size=(2, 5, 7, 3)), rng)


@pytest.mark.parametrize("cls", [MaxPooling1D, AveragePooling1D])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pooling1d(cls, padding, data_format, rng):
    layer = build(cls(3, strides=2, padding=padding, data_format=data_format), (8, 3))
    check_layer(layer, rng.normal(size=(2, 8, 3)), rng)


def test_pooling2d_channels_first(rng):
    layer = build(MaxPooling2D(2, data_format="channels_first"), (3, 4, 6))
    check_layer(layer, rng.normal(size=(2, 3, 4, 6)), rng)


@pytest.mark.parametrize("cls", [MaxPooling2D, GlobalMaxPooling2D])
def test_max_pooling_ties_go_to_the_first_maximum(cls, rng):
    """At a tie the maximum is not differentiable; the gradient is the one of the input
    where the first tied cell is the strict maximum (the others a hair lower)."""
    layer = build(cls(), (4, 4, 2))
    x = rng.integers(0, 2, size=(2, 4, 4, 2)).astype(np.float64)  # ties everywhere
    r = rng.normal(size=layer.forward(x, True, {}).shape)
    cache = {}
    layer.forward(x, True, cache)
    dx = layer.backward(cache, r)
    # lower every cell that is not its window's first maximum by a tiny amount
    first = (dx != 0)
    lowered = np.where(first, x, x - 1e-3)
    assert_grad_close(dx, numeric_grad(lambda: float(np.sum(layer.forward(lowered, True,
                                                                         {}) * r)),
                                       lowered, eps=1e-5))
    # each output's gradient went to exactly one cell
    assert first.sum() == r.size


@pytest.mark.parametrize("cls", [GlobalAveragePooling2D, GlobalMaxPooling2D])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling2d(cls, keepdims, data_format, rng):
    layer = build(cls(keepdims=keepdims, data_format=data_format), (3, 5, 2))
    check_layer(layer, rng.normal(size=(2, 3, 5, 2)), rng)


@pytest.mark.parametrize("cls", [GlobalAveragePooling1D, GlobalMaxPooling1D])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling1d(cls, keepdims, rng):
    layer = build(cls(keepdims=keepdims), (6, 3))
    check_layer(layer, rng.normal(size=(2, 6, 3)), rng)


# --------------------------------------------------------------------------- padding / dropout


@pytest.mark.parametrize("padding", [1, (2, 1), ((0, 2), (1, 0))])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_zero_padding2d(padding, data_format, rng):
    layer = build(ZeroPadding2D(padding, data_format=data_format), (3, 4, 2))
    check_layer(layer, rng.normal(size=(2, 3, 4, 2)), rng)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout2d(data_format, rng):
    layer = build(SpatialDropout2D(0.5, data_format=data_format, seed=3), (3, 4, 5))

    def pin_stream():
        layer._stream = 7  # the same mask on every forward

    x = rng.normal(size=(4, 3, 4, 5))
    check_layer(layer, x, rng, before_forward=pin_stream)


# --------------------------------------------------------------------------- existing layers on images


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_over_channels_of_images(training, rng):
    layer = build(BatchNormalization(beta_initializer=_normal(6),
                                     gamma_initializer=_normal(7)), (3, 4, 2))
    layer.moving_variance.value[:] = [0.5, 2.0]
    check_layer(layer, rng.normal(size=(3, 3, 4, 2)), rng, training=training)


def test_flatten_concatenate_add_on_images(rng):
    check_layer(build(Flatten(), (3, 4, 2)), rng.normal(size=(2, 3, 4, 2)), rng)
    check_layer(build(Concatenate(axis=-1), (3, 4, 2), (3, 4, 3)),
                [rng.normal(size=(2, 3, 4, 2)), rng.normal(size=(2, 3, 4, 3))], rng)
    check_layer(build(Add(), (3, 4, 2), (3, 4, 2)),
                [rng.normal(size=(2, 3, 4, 2)), rng.normal(size=(2, 3, 4, 2))], rng)
