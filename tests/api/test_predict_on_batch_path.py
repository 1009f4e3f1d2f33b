"""predict_on_batch and model(x): the cheap path for ready arrays, the general one else.

An input that is already what validation returns (a C-ordered ndarray of the model's
dtype and feature shape, finite) skips the conversion; these tests prove that every
other input still gets the general path's conversions and errors, and that both paths
give the same outputs.
"""

import numpy as np
import pytest

import fastnn
from fastnn import layers


def _model():
    fastnn.utils.set_random_seed(3)
    inp = fastnn.Input(shape=(6,))
    out = layers.Dense(3, activation="softmax")(layers.Dense(5, activation="relu")(inp))
    return fastnn.Model(inputs=inp, outputs=out)


def _reference(model, x):
    """The general path: Trainer.predict_on_batch, which always validates."""
    return fastnn.models.trainer.Trainer.predict_on_batch(model, x)


def test_ready_array_and_converted_inputs_agree():
    model = _model()
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    want = _reference(model, x)
    np.testing.assert_array_equal(model.predict_on_batch(x), want)
    np.testing.assert_array_equal(model(x), want)
    # each of these is not a ready array and is converted first, to the same result
    for other in (x.astype(np.float64), x.tolist(), np.asfortranarray(x),
                  np.repeat(x, 2, axis=1)[:, ::2], [x]):
        np.testing.assert_allclose(model.predict_on_batch(other), want, rtol=1e-6)
    assert model.predict_on_batch(x[:1]).shape == (1, 3)


def test_outputs_are_fresh_arrays():
    model = _model()
    x = np.ones((1, 6), np.float32)
    first = model.predict_on_batch(x)
    kept = first.copy()
    model.predict_on_batch(2 * x)
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_are_still_refused(bad):
    model = _model()
    x = np.ones((2, 6), np.float32)
    x[1, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict_on_batch(x)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model(x)


def test_wrong_shapes_are_still_refused():
    model = _model()
    with pytest.raises(ValueError, match="incompatible"):
        model.predict_on_batch(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="at least one sample"):
        model.predict_on_batch(np.ones((0, 6), np.float32))


def test_a_float64_model_takes_its_own_dtype_directly():
    before = fastnn.config.floatx()
    fastnn.config.set_floatx("float64")
    try:
        model = _model()
    finally:
        fastnn.config.set_floatx(before)
    x = np.random.default_rng(1).standard_normal((3, 6))
    got = model.predict_on_batch(x)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, _reference(model, x))


def test_sequential_built_from_data_then_fast():
    fastnn.utils.set_random_seed(0)
    model = fastnn.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)])
    x = np.random.default_rng(2).standard_normal((3, 7)).astype(np.float32)
    first = model.predict_on_batch(x)  # builds from the data on the general path
    np.testing.assert_array_equal(model.predict_on_batch(x), first)


# ------------------------------------------------------- model(x, training=True)
def _dropout_bn_model():
    fastnn.utils.set_random_seed(4)
    inp = fastnn.Input(shape=(6,))
    h = layers.BatchNormalization(momentum=0.5)(layers.Dense(8)(inp))
    out = layers.Dense(3)(layers.Dropout(0.5)(h))
    return fastnn.Model(inputs=inp, outputs=out)


def test_training_true_runs_dropout_and_batch_statistics(ops_backend):
    """As in Keras: training=True drops units and normalizes by the batch, and the
    BatchNormalization moving statistics move; training=False and None do neither."""
    model = _dropout_bn_model()
    x = np.random.default_rng(1).standard_normal((16, 6)).astype(np.float32) * 3 + 1
    bn = model.layers[2]
    moving = [w.copy() for w in bn.get_weights()[2:]]
    inference = model(x)
    np.testing.assert_array_equal(model(x, training=None), inference)
    np.testing.assert_array_equal(model(x, training=False), inference)
    for before, after in zip(moving, bn.get_weights()[2:]):
        np.testing.assert_array_equal(before, after)
    trained = model(x, training=True)
    assert trained.shape == inference.shape
    assert np.abs(trained - inference).max() > 1e-3
    assert not np.allclose(model(x, training=True), trained)  # a new dropout mask
    for before, after in zip(moving, bn.get_weights()[2:]):
        assert np.abs(before - after).max() > 1e-3


def test_training_true_matches_the_fit_forward(ops_backend):
    """Without Dropout, model(x, training=True) is the forward pass fit runs: batch
    statistics, computed by hand here."""
    fastnn.utils.set_random_seed(5)
    inp = fastnn.Input(shape=(4,))
    dense = layers.Dense(5)
    out = layers.BatchNormalization(epsilon=1e-3)(dense(inp))
    model = fastnn.Model(inputs=inp, outputs=out)
    x = np.random.default_rng(2).standard_normal((10, 4))
    z = x @ dense.get_weights()[0] + dense.get_weights()[1]
    want = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-3)
    np.testing.assert_allclose(model(x.astype(np.float32), training=True), want,
                               rtol=1e-4, atol=1e-4)


def test_training_true_leaves_weights_and_fit_alone(ops_backend):
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.random.default_rng(3).standard_normal((8, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    weights = [w.copy() for w in model.get_weights()]
    model(x, training=True)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert model(x, training=True).shape == (8, 3)


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_training_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="training must be True, False or None"):
        _model()(np.ones((1, 6), np.float32), training=bad)
