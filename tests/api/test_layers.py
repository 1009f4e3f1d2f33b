"""Behaviour of the layers beyond Dense, and of ``fastnn.activations``: shapes, configs,
Dropout's masks, BatchNormalization's statistics, Embedding's lookups, and the errors
raised for bad arguments."""

import json

import numpy as np
import pytest

import fastnn
from fastnn import activations
from fastnn.backend import activations as act_table
from fastnn.layers import (
    REGISTRY, Activation, Add, BatchNormalization, Concatenate, Dense, Dropout, Embedding,
    Flatten, Input, LeakyReLU, Maxout, PReLU, Reshape,
)

# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "make, sample_shapes, expected",
    [
        (lambda: Activation("relu"), [(3, 4)], (None, 3, 4)),
        (lambda: LeakyReLU(), [(5,)], (None, 5)),
        (lambda: PReLU(shared_axes=[1, 2]), [(2, 3, 4)], (None, 2, 3, 4)),
        (lambda: Maxout(6, num_pieces=3), [(4,)], (None, 6)),
        (lambda: Dropout(0.5), [(7,)], (None, 7)),
        (lambda: Flatten(), [(2, 3, 4)], (None, 24)),
        (lambda: Reshape((-1, 3)), [(2, 6)], (None, 4, 3)),
        (lambda: Concatenate(), [(2, 3), (2, 5)], (None, 2, 8)),
        (lambda: Concatenate(axis=1), [(2, 3), (4, 3)], (None, 6, 3)),
        (lambda: Add(), [(3,), (3,)], (None, 3)),
        (lambda: BatchNormalization(), [(5,)], (None, 5)),
        (lambda: Embedding(10, 4), [(6,)], (None, 6, 4)),
    ],
)
def test_symbolic_and_numeric_shapes(make, sample_shapes, expected, ops_backend):
    layer = make()
    inputs = [Input(shape=s) for s in sample_shapes]
    out = layer(inputs if len(inputs) > 1 else inputs[0])
    assert out.shape == expected
    rng = np.random.default_rng(0)
    if isinstance(layer, Embedding):
        arrays = [rng.integers(0, 10, size=(2,) + s) for s in sample_shapes]
    else:
        arrays = [rng.normal(size=(2,) + s).astype("float32") for s in sample_shapes]
    y = layer.forward(arrays if len(arrays) > 1 else arrays[0], True, {})
    assert y.shape == (2,) + expected[1:]
    assert y.dtype == np.float32


def test_param_counts():
    maxout = Maxout(4, num_pieces=3)
    maxout(Input(shape=(5,)))
    assert maxout.count_params() == 5 * 12 + 12
    bn = BatchNormalization()
    bn(Input(shape=(6,)))
    assert [w.name.split("/")[-1] for w in bn.weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    prelu = PReLU(shared_axes=2)
    prelu(Input(shape=(3, 4)))
    assert prelu.alpha.shape == (3, 1)


# --------------------------------------------------------------------------- configs


CONFIG_CASES = [
    lambda: Activation(activations.gelu),
    lambda: LeakyReLU(negative_slope=0.1),
    lambda: LeakyReLU(alpha=0.2),
    lambda: PReLU(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=[1]),
    lambda: Maxout(5, num_pieces=4, use_bias=False, kernel_initializer="he_normal",
                   kernel_regularizer=fastnn.regularizers.L1L2(0.1, 0.2)),
    lambda: Dropout(0.25, noise_shape=(None, 1), seed=3),
    lambda: Dropout(0.5),
    lambda: Flatten(data_format="channels_first"),
    lambda: Reshape((2, -1)),
    lambda: Concatenate(axis=1),
    lambda: Add(),
    lambda: BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                               gamma_regularizer="l2", trainable=False),
    lambda: Embedding(100, 8, embeddings_regularizer="l1", input_length=12),
]


@pytest.mark.parametrize("make", CONFIG_CASES)
def test_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    json.dumps(config)  # saved configs are JSON
    cls = REGISTRY[type(layer).__name__]
    assert cls is type(layer)
    clone = cls.from_config(config)
    assert clone.get_config() == config


def test_config_values_follow_keras():
    assert LeakyReLU().get_config()["negative_slope"] == 0.3
    assert LeakyReLU(alpha=0.1).negative_slope == 0.1
    bn = BatchNormalization().get_config()
    assert (bn["axis"], bn["momentum"], bn["epsilon"], bn["center"], bn["scale"]) == (
        -1, 0.99, 1e-3, True, True)
    assert Dropout(0.3).get_config()["seed"] is None
    assert Embedding(3, 2, input_length=4).get_config()["input_shape"] == [4]


# --------------------------------------------------------------------------- activations


def test_activation_layer_values(ops_backend):
    x = np.array([[-2.0, 0.5, 3.0]], dtype="float32")
    np.testing.assert_allclose(Activation("relu")(x), [[0.0, 0.5, 3.0]])
    np.testing.assert_allclose(Activation(None)(x), x)
    y = Activation("softmax")(x)
    np.testing.assert_allclose(y.sum(axis=-1), [1.0], rtol=1e-6)


def test_activation_layer_fuses_and_skips():
    layer = Activation("softmax")
    assert layer.activation == "softmax"
    x = np.array([[1.0, 2.0]], dtype="float32")
    assert layer.forward(x, True, {}, skip_activation=True) is x
    assert LeakyReLU().activation is None  # nothing for a loss to fuse with


def test_leaky_relu_matches_keras_example(ops_backend):
    x = np.array([[-3.0, -1.0, 0.0, 2.0]], dtype="float32")
    np.testing.assert_allclose(LeakyReLU()(x), [[-0.9, -0.3, 0.0, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(LeakyReLU(negative_slope=0.1)(x), [[-0.3, -0.1, 0.0, 2.0]],
                               rtol=1e-6)


def test_prelu_starts_as_relu(ops_backend):
    x = np.array([[-3.0, 2.0]], dtype="float32")
    np.testing.assert_allclose(PReLU()(x), [[0.0, 2.0]])


def test_maxout_is_max_over_consecutive_pieces(ops_backend):
    layer = Maxout(2, num_pieces=3)
    layer(Input(shape=(2,)))
    kernel = np.arange(12, dtype="float32").reshape(2, 6) * np.array([1, -1, 1, -1, 1, -1])
    layer.set_weights([kernel, np.zeros(6, "float32")])
    x = np.array([[1.0, 1.0]], dtype="float32")
    z = x @ kernel
    np.testing.assert_allclose(layer(x), [[z[0, :3].max(), z[0, 3:].max()]])


REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2))),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("name", act_table.ACTIVATIONS)
def test_activation_functions(name, ops_backend):
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    fn = getattr(activations, name)
    np.testing.assert_allclose(fn(x), REFERENCE[name](x), rtol=1e-10, atol=1e-12)
    assert activations.get(name) is fn
    assert activations.serialize(fn) == name
    assert activations.deserialize(name) is fn
    assert fn(x.astype("float32")).dtype == np.float32
    assert fn([0.5, 1.0]).shape == (2,)


def test_activation_lookup():
    assert activations.get(None) is activations.linear
    assert activations.get("silu") is activations.swish
    assert activations.silu is activations.swish
    assert activations.get(activations.relu) is activations.relu
    assert activations.canonical(activations.silu) == "swish"
    with pytest.raises(ValueError, match="Received: activation='nope'"):
        activations.get("nope")
    with pytest.raises(TypeError, match="fastnn.activations"):
        activations.get(lambda x: x)


def test_activation_function_options():
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(activations.relu(x, max_value=1.0), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(activations.leaky_relu(x, negative_slope=0.5), [-1.0, 0.5, 3.0])
    np.testing.assert_allclose(activations.elu(x, alpha=2.0)[0], 2 * np.expm1(-2.0))
    s = activations.softmax(np.ones((2, 3)), axis=0)
    np.testing.assert_allclose(s, np.full((2, 3), 0.5))


def test_dense_accepts_activation_functions():
    assert Dense(3, activation=activations.relu).activation == "relu"


# --------------------------------------------------------------------------- Dropout


def test_dropout_is_identity_at_inference(ops_backend):
    x = np.ones((4, 5), dtype="float32")
    layer = Dropout(0.5, seed=1)
    assert layer.forward(x, False, {}) is x
    np.testing.assert_array_equal(layer(x), x)


def test_dropout_inverted_scaling(ops_backend):
    x = np.ones((200, 100), dtype="float32")
    y = Dropout(0.3, seed=2).forward(x, True, {})
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02
    assert abs(y.mean() - 1.0) < 0.03  # the expectation is preserved


def test_dropout_same_seed_and_stream_same_mask(ops_backend):
    x = np.ones((8, 16), dtype="float32")
    a, b = Dropout(0.5, seed=42), Dropout(0.5, seed=42)
    first = [a.forward(x, True, {}).copy() for _ in range(3)]
    second = [b.forward(x, True, {}).copy() for _ in range(3)]
    for u, v in zip(first, second):
        np.testing.assert_array_equal(u, v)


def test_dropout_new_mask_each_step(ops_backend):
    x = np.ones((8, 16), dtype="float32")
    layer = Dropout(0.5, seed=42)
    cache = {}
    y1 = layer.forward(x, True, cache).copy()
    y2 = layer.forward(x, True, cache).copy()
    assert not np.array_equal(y1, y2)
    other = Dropout(0.5, seed=43).forward(x, True, {})
    assert not np.array_equal(y1, other)


def test_dropout_inference_does_not_advance_stream(ops_backend):
    x = np.ones((4, 8), dtype="float32")
    a, b = Dropout(0.5, seed=9), Dropout(0.5, seed=9)
    a.forward(x, False, {})
    np.testing.assert_array_equal(a.forward(x, True, {}), b.forward(x, True, {}))


def test_dropout_unseeded_follows_global_seed():
    fastnn.utils.random.set_random_seed(5)
    a = Dropout(0.5)
    fastnn.utils.random.set_random_seed(5)
    b = Dropout(0.5)
    x = np.ones((4, 8), dtype="float32")
    np.testing.assert_array_equal(a.forward(x, True, {}), b.forward(x, True, {}))


def test_dropout_backward_uses_the_forward_mask(ops_backend):
    x = np.ones((6, 6), dtype="float32")
    layer = Dropout(0.5, seed=4)
    cache = {}
    y = layer.forward(x, True, cache).copy()
    dx = layer.backward(cache, np.ones_like(x))
    np.testing.assert_array_equal(dx, y)


def test_dropout_rng_state_round_trip(ops_backend):
    x = np.ones((4, 8), dtype="float32")
    a = Dropout(0.5)
    a.forward(x, True, {})
    state = a.get_rng_state()
    json.dumps(state)
    b = Dropout.from_config(a.get_config())
    b.set_rng_state(state)
    np.testing.assert_array_equal(a.forward(x, True, {}), b.forward(x, True, {}))
    with pytest.raises(ValueError, match="Received: state="):
        b.set_rng_state({"seed": -1, "stream": 0})


def test_dropout_rate_zero_is_identity():
    x = np.ones((2, 3), dtype="float32")
    assert Dropout(0.0).forward(x, True, {}) is x


def test_dropout_noise_shape_broadcasts(ops_backend):
    x = np.ones((4, 3, 5), dtype="float32")
    y = Dropout(0.5, noise_shape=(None, 1, 5), seed=1).forward(x, True, {})
    # the same features dropped at every position of a sample
    assert np.all(y == y[:, :1, :])


# --------------------------------------------------------------------------- BatchNorm


def test_batchnorm_moving_statistics(ops_backend):
    rng = np.random.default_rng(0)
    x = rng.normal(loc=3.0, scale=2.0, size=(64, 4))
    fastnn.config.set_floatx("float64")
    layer = BatchNormalization(momentum=0.9)
    layer(Input(shape=(4,)))
    y = layer.forward(x, True, {})
    np.testing.assert_allclose(layer.moving_mean.value, 0.1 * x.mean(0))
    np.testing.assert_allclose(layer.moving_variance.value, 0.9 + 0.1 * x.var(0))
    # training output: the batch's own statistics (biased variance), gamma=1, beta=0
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3))
    # inference: the moving statistics, and they do not move
    before = layer.get_weights()
    y_inf = layer.forward(x, False, {})
    mm, mv = layer.moving_mean.value, layer.moving_variance.value
    np.testing.assert_allclose(y_inf, (x - mm) / np.sqrt(mv + 1e-3))
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_batchnorm_converges_to_data_statistics(ops_backend):
    rng = np.random.default_rng(1)
    layer = BatchNormalization(momentum=0.5)
    layer(Input(shape=(3,)))
    for _ in range(40):
        layer.forward((rng.normal(size=(256, 3)) * 2 + 5).astype("float32"), True, {})
    np.testing.assert_allclose(layer.moving_mean.value, 5, atol=0.3)
    np.testing.assert_allclose(layer.moving_variance.value, 4, atol=0.8)


def test_frozen_batchnorm_runs_in_inference_mode():
    layer = BatchNormalization(trainable=False)
    layer(Input(shape=(2,)))
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32")
    y = layer.forward(x, True, {})
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean.value, 0)
    assert layer.trainable_weights == []


# --------------------------------------------------------------------------- Embedding


def test_embedding_lookup(ops_backend):
    layer = Embedding(5, 3)
    layer(Input(shape=(2,)))
    table = layer.embeddings.value
    assert np.all(np.abs(table) <= 0.05)  # Keras' "uniform": [-0.05, 0.05]
    ids = np.array([[4, 0], [1, 1]])
    np.testing.assert_array_equal(layer(ids), table[ids])
    # float batches holding integers are accepted (models may convert inputs)
    np.testing.assert_array_equal(layer.forward(ids.astype("float32"), False, {}), table[ids])


def test_embedding_called_on_lists():
    layer = Embedding(4, 2)
    assert layer([[0, 3], [2, 1]]).shape == (2, 2, 2)


def test_embedding_ids_out_of_range():
    layer = Embedding(5, 3)
    with pytest.raises(ValueError, match=r"ids must be in \[0, 4\]. Received: id 5"):
        layer(np.array([[0, 5]]))
    with pytest.raises(ValueError, match="Received: id -1"):
        layer(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="integer ids"):
        layer(np.array([[0.5, 2.0]]))


# --------------------------------------------------------------------------- merging


def test_concatenate_and_add_values(ops_backend):
    a = np.ones((2, 3), dtype="float32")
    b = np.full((2, 2), 2.0, dtype="float32")
    np.testing.assert_array_equal(Concatenate()([a, b]), np.concatenate([a, b], axis=1))
    np.testing.assert_array_equal(Add()([a, a]), 2 * a)


def test_merge_gradients_are_separate_arrays():
    layer = Add()
    a = np.ones((2, 3), dtype="float32")
    cache = {}
    layer.forward([a, a], True, cache)
    dy = np.ones_like(a)
    d1, d2 = layer.backward(cache, dy)
    assert d1 is not dy and d2 is not dy and not np.shares_memory(d1, d2)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Dropout(1.0), ValueError, r"`rate`.*\[0, 1\).*Received: rate=1.0"),
        (lambda: Dropout(-0.1), ValueError, "Received: rate=-0.1"),
        (lambda: Dropout("half"), ValueError, "Received: rate='half'"),
        (lambda: Dropout(0.5, seed=-1), ValueError, "Received: seed=-1"),
        (lambda: Dropout(0.5, noise_shape=(0, 2)), ValueError, r"Received: noise_shape=\(0, 2\)"),
        (lambda: LeakyReLU(negative_slope=-1), ValueError, "Received: negative_slope=-1"),
        (lambda: LeakyReLU(negative_slope=None), ValueError, "Received: negative_slope=None"),
        (lambda: Activation("nope"), ValueError, "Received: activation='nope'"),
        (lambda: Activation(print), TypeError, "Received: activation="),
        (lambda: Maxout(0), ValueError, "Received: units=0"),
        (lambda: Maxout(3, num_pieces=0), ValueError, "Received: num_pieces=0"),
        (lambda: PReLU(shared_axes="1"), TypeError, "Received: shared_axes='1'"),
        (lambda: BatchNormalization(momentum=1.5), ValueError, "Received: momentum=1.5"),
        (lambda: BatchNormalization(epsilon=0), ValueError, "Received: epsilon=0"),
        (lambda: BatchNormalization(axis=1.5), TypeError, "Received: axis=1.5"),
        (lambda: Embedding(0, 3), ValueError, "Received: input_dim=0"),
        (lambda: Embedding(3, -2), ValueError, "Received: output_dim=-2"),
        (lambda: Embedding(3, 2, mask_zero=True), NotImplementedError, "mask_zero=True"),
        (lambda: Flatten(data_format="nchw"), ValueError, "Received: data_format='nchw'"),
        (lambda: Reshape((2, -1, -1)), ValueError, r"Received: target_shape=\(2, -1, -1\)"),
        (lambda: Reshape(5), ValueError, "Received: target_shape=5"),
        (lambda: Concatenate(axis="x"), TypeError, "Received: axis='x'"),
        (lambda: Dropout(0.5, bogus=1), TypeError, "bogus"),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    "make, shapes, match",
    [
        (lambda: Concatenate(), [(2, 3), (4, 5)], "Received: inputs of shapes"),
        (lambda: Concatenate(axis=0), [(3,), (3,)], "Received: axis=0"),
        (lambda: Concatenate(), [(3,)], "at least 2 inputs"),
        (lambda: Add(), [(3,), (4,)], "Received: inputs of shapes"),
        (lambda: BatchNormalization(axis=3), [(4,)], "Received: axis=3"),
        (lambda: PReLU(shared_axes=[3]), [(2, 3)], r"Received: shared_axes=\[3\]"),
        (lambda: Maxout(2), [(2, 3)], "Received: input_shape"),
        (lambda: Reshape((5,)), [(2, 3)], r"Received: target_shape=\(5,\)"),
    ],
)
def test_bad_input_shapes(make, shapes, match):
    layer = make()
    inputs = [Input(shape=s) for s in shapes]
    merge = isinstance(layer, (Concatenate, Add))
    with pytest.raises(ValueError, match=match):
        layer(inputs if merge else inputs[0])


def test_dropout_noise_shape_must_broadcast():
    layer = Dropout(0.5, noise_shape=(None, 3))
    with pytest.raises(ValueError, match="does not broadcast"):
        layer.forward(np.ones((2, 4), dtype="float32"), True, {})


# --------------------------------------------------------------------------- buffers


def test_repeated_steps_reuse_buffers_and_agree(ops_backend):
    """Layers keep buffers in the cache: a second step must give the same results."""
    rng = np.random.default_rng(3)
    layer = Maxout(3, num_pieces=2)
    layer(Input(shape=(4,)))
    x = rng.normal(size=(5, 4)).astype("float32")
    dy = rng.normal(size=(5, 3)).astype("float32")
    cache = {}
    y1 = layer.forward(x, True, cache).copy()
    dx1 = layer.backward(cache, dy).copy()
    y2 = layer.forward(x, True, cache)
    dx2 = layer.backward(cache, dy)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(dx1, dx2)
