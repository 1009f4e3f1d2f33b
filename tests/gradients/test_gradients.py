"""Float64 central-difference gradient checks of every layer's backward pass.

Each check uses the scalar objective ``sum(forward(x) * R)`` for a fixed random ``R``
(plus the regularization penalty where tested): its gradient with respect to the
output is ``R``, so ``backward(cache, R)`` must match central differences of the
objective with respect to every input and every trainable weight.  Every test runs on
each available backend (the ``ops_backend`` fixture).
"""

import numpy as np
import pytest

import fastnn
from fastnn import activations, initializers, regularizers
from fastnn.backend import activations as act_table
from fastnn.layers import (
    Activation, Add, BatchNormalization, Concatenate, Dense, Dropout, Embedding,
    Flatten, LeakyReLU, Maxout, PReLU, Reshape,
)
from gradcheck import build, check_layer


@pytest.fixture(autouse=True)
def _float64(ops_backend):
    # Central differences need float64; conftest restores floatx afterwards.
    fastnn.config.set_floatx("float64")


def _normal(seed, mean=0.0, stddev=1.0):
    return initializers.RandomNormal(mean=mean, stddev=stddev, seed=seed)


# --------------------------------------------------------------------------- Dense


@pytest.mark.parametrize("activation", act_table.ACTIVATIONS)
def test_dense_every_activation(activation, rng):
    layer = build(Dense(4, activation=activation, bias_initializer=_normal(1)), (5,))
    check_layer(layer, rng.normal(size=(3, 5)), rng)


def test_dense_without_bias(rng):
    layer = build(Dense(3, activation="tanh", use_bias=False), (4,))
    check_layer(layer, rng.normal(size=(2, 4)), rng)


def test_dense_skip_activation_is_linear(rng):
    layer = build(Dense(3, activation="softmax"), (4,))
    x = rng.normal(size=(2, 4))
    y = layer.forward(x, True, {}, skip_activation=True)
    np.testing.assert_allclose(y, x @ layer.kernel.value + layer.bias.value)


# --------------------------------------------------------------------------- activations


@pytest.mark.parametrize("activation", act_table.ACTIVATIONS)
def test_activation_layer(activation, rng):
    # 3-D input: softmax normalizes the last axis, the others are element-wise.
    layer = build(Activation(activation), (3, 4))
    check_layer(layer, rng.normal(size=(2, 3, 4)), rng)


def test_activation_layer_accepts_functions(rng):
    layer = build(Activation(activations.swish), (4,))
    assert layer.activation == "swish"
    check_layer(layer, rng.normal(size=(3, 4)), rng)


@pytest.mark.parametrize("negative_slope", [0.3, 0.05, 0.0])
def test_leaky_relu(negative_slope, rng):
    layer = build(LeakyReLU(negative_slope=negative_slope), (6,))
    check_layer(layer, rng.normal(size=(4, 6)), rng)


def test_prelu_per_feature(rng):
    layer = build(PReLU(alpha_initializer=_normal(2, 0.2, 0.1)), (5,))
    check_layer(layer, rng.normal(size=(4, 5)), rng)


def test_prelu_shared_axes(rng):
    layer = build(PReLU(alpha_initializer=_normal(3, 0.2, 0.1), shared_axes=[1]), (3, 4))
    assert layer.alpha.value.shape == (1, 4)
    check_layer(layer, rng.normal(size=(2, 3, 4)), rng)


@pytest.mark.parametrize("num_pieces", [1, 2, 3])
def test_maxout(num_pieces, rng):
    layer = build(Maxout(3, num_pieces=num_pieces, bias_initializer=_normal(4)), (5,))
    check_layer(layer, rng.normal(size=(4, 5)), rng)


# --------------------------------------------------------------------------- others


def test_batch_normalization_training(rng):
    layer = build(BatchNormalization(
        gamma_initializer=_normal(5, 1.0, 0.3), beta_initializer=_normal(6)), (4,))
    x = rng.normal(loc=2.0, scale=3.0, size=(6, 4))
    check_layer(layer, x, rng, training=True)


def test_batch_normalization_channel_axis_1(rng):
    # (batch, channels, length) with axis=1: statistics over batch and length.
    layer = build(BatchNormalization(
        axis=1, gamma_initializer=_normal(7, 1.0, 0.3), beta_initializer=_normal(8)),
        (3, 5))
    check_layer(layer, rng.normal(size=(4, 3, 5)), rng, training=True)


def test_batch_normalization_inference(rng):
    layer = build(BatchNormalization(
        gamma_initializer=_normal(9, 1.0, 0.3), moving_mean_initializer=_normal(10),
        moving_variance_initializer=initializers.Constant(2.0)), (4,))
    check_layer(layer, rng.normal(size=(5, 4)), rng, training=False)


def test_batch_normalization_without_scale_and_center(rng):
    layer = build(BatchNormalization(center=False, scale=False), (4,))
    assert layer.trainable_weights == []
    check_layer(layer, rng.normal(size=(5, 4)), rng, training=True)


def test_embedding_table(rng):
    layer = build(Embedding(7, 3, embeddings_initializer=_normal(11)), (5,))
    # repeated ids: their gradients must accumulate in the same row
    ids = np.array([[0, 3, 3, 6, 1], [3, 2, 0, 0, 6]])
    dx, (dtable,) = check_layer(layer, ids, rng, check_inputs=False)
    assert dx is None
    assert np.all(dtable[[4, 5]] == 0)  # ids never seen get no gradient


def test_concatenate_both_branches(rng):
    layer = build(Concatenate(), (3,), (5,))
    check_layer(layer, [rng.normal(size=(2, 3)), rng.normal(size=(2, 5))], rng)


def test_concatenate_middle_axis(rng):
    layer = build(Concatenate(axis=1), (2, 4), (3, 4), (1, 4))
    xs = [rng.normal(size=(2, 2, 4)), rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 1, 4))]
    check_layer(layer, xs, rng)


def test_add(rng):
    layer = build(Add(), (4,), (4,))
    check_layer(layer, [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))], rng)


def test_dropout_with_fixed_mask(rng):
    layer = build(Dropout(0.4, seed=123), (10,))

    def pin_stream():
        layer._stream = 0  # the same mask on every forward

    x = rng.normal(size=(6, 10))
    dx, _ = check_layer(layer, x, rng, training=True, before_forward=pin_stream)
    pin_stream()
    y = layer.forward(x, True, {})
    dropped = y == 0
    assert dropped.any() and not dropped.all()
    assert np.all(dx[dropped] == 0)


def test_dropout_noise_shape(rng):
    layer = build(Dropout(0.5, noise_shape=(None, 1, 4), seed=7), (3, 4))

    def pin_stream():
        layer._stream = 0

    check_layer(layer, rng.normal(size=(5, 3, 4)), rng, before_forward=pin_stream)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten(data_format, rng):
    layer = build(Flatten(data_format=data_format), (2, 3, 4))
    check_layer(layer, rng.normal(size=(2, 2, 3, 4)), rng)


def test_reshape(rng):
    layer = build(Reshape((-1, 2)), (3, 4))
    check_layer(layer, rng.normal(size=(2, 3, 4)), rng)


# --------------------------------------------------------------------------- penalties


def test_dense_regularizer_penalties(rng):
    layer = build(Dense(
        3, activation="sigmoid", kernel_regularizer=regularizers.L1L2(l1=0.01, l2=0.02),
        bias_regularizer="l2", bias_initializer=_normal(12)), (4,))
    check_layer(layer, rng.normal(size=(5, 4)), rng, penalty=True)


def test_prelu_regularizer_penalty(rng):
    layer = build(PReLU(alpha_initializer=_normal(13, 0.3, 0.1),
                        alpha_regularizer=regularizers.L1L2(l1=0.05, l2=0.1)), (4,))
    check_layer(layer, rng.normal(size=(3, 4)), rng, penalty=True)


def test_embedding_and_batchnorm_penalties(rng):
    emb = build(Embedding(5, 2, embeddings_initializer=_normal(14),
                          embeddings_regularizer=regularizers.L2(0.1)), (3,))
    check_layer(emb, np.array([[0, 1, 4], [4, 2, 2]]), rng, penalty=True, check_inputs=False)
    bn = build(BatchNormalization(gamma_regularizer="l2", beta_regularizer="l1",
                                  beta_initializer=_normal(15)), (3,))
    check_layer(bn, rng.normal(size=(4, 3)), rng, penalty=True)


def test_maxout_penalty(rng):
    layer = build(Maxout(2, num_pieces=3, kernel_regularizer=regularizers.L2(0.05),
                         bias_initializer=_normal(16)), (4,))
    check_layer(layer, rng.normal(size=(3, 4)), rng, penalty=True)
