"""The scalar arguments of fit, evaluate and predict: what is refused, with which error
and message, and which spellings of valid values are accepted."""

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.utils.validation import ArgumentTypeError


def _model():
    fastnn.utils.set_random_seed(0)
    model = fastnn.Sequential([layers.Dense(2, input_dim=3)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")


def _call(method, **kwargs):
    x, y = _data()
    model = _model()
    if method == "predict":
        return model.predict(x, **kwargs)
    return getattr(model, method)(x, y, **kwargs)


def _invalid(owner, name, expected, received):
    return (f"{owner}: Invalid value for argument `{name}`: expected {expected}. "
            f"Received: {name}={received}")


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("kwargs, error, expected, received", [
    ({"batch_size": 0}, ValueError, "an integer >= 1", "0"),
    ({"batch_size": 2.5}, ArgumentTypeError, "an integer >= 1", "2.5"),
    ({"batch_size": True}, ArgumentTypeError, "an integer >= 1", "True"),
    ({"batch_size": "8"}, ArgumentTypeError, "an integer >= 1", "'8'"),
    ({"verbose": 3}, ValueError, "one of 'auto', 0, 1, 2", "3"),
    ({"verbose": "x"}, ValueError, "one of 'auto', 0, 1, 2", "'x'"),
    ({"verbose": None}, ValueError, "one of 'auto', 0, 1, 2", "None"),
    ({"verbose": True}, ArgumentTypeError, "an integer", "True"),
])
def test_batch_size_and_verbose(method, kwargs, error, expected, received):
    with pytest.raises(error) as info:
        _call(method, **kwargs)
    name = next(iter(kwargs))
    assert str(info.value) == _invalid(method, name, expected, received)
    assert isinstance(info.value, ValueError)  # every refusal, as in Keras


@pytest.mark.parametrize("kwargs, error, expected, received", [
    ({"epochs": -1}, ValueError, "an integer >= 0", "-1"),
    ({"epochs": 1.5}, ArgumentTypeError, "an integer >= 0", "1.5"),
    ({"epochs": None}, ArgumentTypeError, "an integer >= 0", "None"),
    ({"nb_epoch": -2}, ValueError, "an integer >= 0", "-2"),
    ({"initial_epoch": -1}, ValueError, "an integer >= 0", "-1"),
    ({"initial_epoch": 1.5}, ArgumentTypeError, "an integer >= 0", "1.5"),
    ({"validation_split": 1.0}, ValueError, "a finite number in [0, 1)", "1.0"),
    ({"validation_split": -0.1}, ValueError, "a finite number in [0, 1)", "-0.1"),
    ({"validation_split": np.nan}, ValueError, "a finite number in [0, 1)", "nan"),
    ({"validation_split": "x"}, ArgumentTypeError, "a finite number in [0, 1)", "'x'"),
    ({"shuffle": "batch"}, ArgumentTypeError, "a boolean", "'batch'"),
    ({"shuffle": 1}, ArgumentTypeError, "a boolean", "1"),
    ({"shuffle": None}, ArgumentTypeError, "a boolean", "None"),
])
def test_fit_arguments(kwargs, error, expected, received):
    with pytest.raises(error) as info:
        _call("fit", verbose=0, **kwargs)
    name = next(iter(kwargs))
    name = "epochs" if name == "nb_epoch" else name
    assert str(info.value) == _invalid("fit", name, expected, received)


def test_valid_spellings_are_accepted():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=np.int64(4), epochs=np.int32(2), verbose=0,
                        shuffle=np.bool_(False), validation_split=np.float32(0.25),
                        initial_epoch=1)
    assert history.epoch == [1]
    assert model.fit(x, y, batch_size=None, epochs=0, verbose=0).epoch == []
    # 'auto' is a progress bar, as 1; a float level equal to 0, 1 or 2 stays accepted
    for verbose in ("auto", 2, np.int64(0), 0.0):
        model.evaluate(x, y, verbose=verbose)
        model.predict(x, verbose=verbose)
