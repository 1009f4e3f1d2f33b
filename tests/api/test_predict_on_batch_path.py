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
