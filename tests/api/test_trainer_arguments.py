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


def _classifier():
    fastnn.utils.set_random_seed(0)
    model = fastnn.Sequential([layers.Dense(3, input_dim=3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("method", ["fit", "train_on_batch"])
@pytest.mark.parametrize("class_weight, error, name, expected, received", [
    ({1: "2"}, ArgumentTypeError, "class_weight[1]", "a finite number >= 0", "'2'"),
    ({0: -1}, ValueError, "class_weight[0]", "a finite number >= 0", "-1"),
    ({0: np.nan}, ValueError, "class_weight[0]", "a finite number >= 0", "nan"),
    ({0: np.inf}, ValueError, "class_weight[0]", "a finite number >= 0", "inf"),
    ({np.int64(2): None}, ArgumentTypeError, "class_weight[2]", "a finite number >= 0",
     "None"),
    ({"a": 1.0}, ArgumentTypeError, "class_weight",
     "integer class indices as keys (the key 'a' is a str)", "{'a': 1.0}"),
    ({True: 1.0}, ArgumentTypeError, "class_weight",
     "integer class indices as keys (the key True is a bool)", "{True: 1.0}"),
    ({1.0: 1.0}, ArgumentTypeError, "class_weight",
     "integer class indices as keys (the key 1.0 is a float)", "{1.0: 1.0}"),
    ([1.0, 2.0], ArgumentTypeError, "class_weight",
     "a dict mapping class indices (int) to weights (numbers >= 0)", "[1.0, 2.0]"),
])
def test_class_weight_is_checked(method, class_weight, error, name, expected, received):
    x, _ = _data()
    model = _classifier()
    before = model.get_weights()
    kwargs = {"verbose": 0} if method == "fit" else {}
    with pytest.raises(error) as info:
        getattr(model, method)(x, np.arange(8) % 3, class_weight=class_weight, **kwargs)
    assert str(info.value) == _invalid(method, name, expected, received)
    for a, b in zip(model.get_weights(), before):  # refused before any update
        np.testing.assert_array_equal(a, b)


def test_class_weight_accepts_numpy_numbers_and_weighs_the_loss():
    x, _ = _data()
    y = np.arange(8) % 3
    plain = _classifier().test_on_batch(x, y)
    # train_on_batch reports the loss of the weights before its update
    same = _classifier().train_on_batch(
        x, y, class_weight={np.int64(0): np.float32(1.0), 1: 1, 2: 1.0})
    assert same == pytest.approx(plain, rel=1e-6)
    doubled = _classifier().train_on_batch(x, y, class_weight={0: 2.0, 1: 2.0, 2: 2.0})
    assert doubled == pytest.approx(2 * plain, rel=1e-6)
    assert _classifier().train_on_batch(x, y, class_weight={0: 0.0, 1: 0, 2: 0.0}) == 0.0


def test_class_weight_labels_are_not_wrapped_to_other_classes():
    # 1e20 cast to int64 wraps to -2**63: a sample labelled 1e20 must not get the
    # weight of class -2**63 (it is in no class of the dict: weight 1)
    from fastnn.models.trainer import _class_weight_per_sample

    y = np.array([[1e20], [0.0], [2.0], [-1e20]])
    with np.errstate(all="raise"):  # and no "invalid value in cast" along the way
        weights = _class_weight_per_sample(y, {-2**63: 5.0, 0: 2.0, 2: 3.0}, np.float32)
    np.testing.assert_array_equal(weights, [1.0, 2.0, 3.0, 1.0])
