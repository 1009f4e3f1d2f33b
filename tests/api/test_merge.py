"""Keras 1's layers.Merge: every mode against NumPy and central differences, Merge of
two Sequential models against the functional model it stands for, saving and
loading, and the DeprecationWarning naming the modern spelling."""

import warnings

import numpy as np
import pytest

from gradcheck import assert_grad_close, numeric_grad

from fastnn.layers import Concatenate, Add, Dense, Dropout, Input, Merge
from fastnn.models import Model, Sequential, load_model, model_from_json

MODES = ["concat", "sum", "mul", "ave", "max", "dot"]


def merge(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return Merge(*args, **kwargs)


def reference(mode, xs):
    if mode == "concat":
        return np.concatenate(xs, axis=1)
    if mode == "sum":
        return sum(xs)
    if mode == "mul":
        return np.prod(xs, axis=0)
    if mode == "ave":
        return np.mean(xs, axis=0)
    if mode == "max":
        return np.max(xs, axis=0)
    return np.sum(xs[0] * xs[1], axis=1, keepdims=True)


# ----------------------------------------------------------------- the modes
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_matches_numpy_and_its_gradient_matches_differences(mode):
    rng = np.random.default_rng(0)
    n_in = 2 if mode == "dot" else 3
    xs = [rng.normal(size=(4, 5)) for _ in range(n_in)]
    layer = merge(mode=mode, concat_axis=1, dtype="float64")
    y = layer(xs)
    np.testing.assert_allclose(y, reference(mode, xs), rtol=1e-12)
    r = rng.normal(size=y.shape)
    cache = {}
    layer.forward(xs, True, cache)
    dxs = layer.backward(cache, r)
    for x, dx in zip(xs, dxs):
        numeric = numeric_grad(lambda: float(np.sum(layer.forward(xs, True, {}) * r)), x)
        assert_grad_close(dx, numeric)


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "cos"}, "'cos' and callable modes are not supported"),
    ({"mode": lambda xs: xs[0]}, "callable modes"),
    ({"mode": "average"}, "`mode`"),
    ({"dot_axes": 2}, "`dot_axes`"),
    ({"output_shape": (3,)}, "`output_shape`"),
    ({"layers": [Dense(2)]}, "`layers`"),
    ({"layers": "wide"}, "`layers`"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        merge(**kwargs)


def test_an_unbuilt_model_is_refused():
    with pytest.raises(ValueError, match="is not"):
        merge([Sequential([Dense(2)]), Sequential([Dense(2, input_dim=3)])])


def test_shapes_that_cannot_merge_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        merge(mode="sum")([Input(shape=(3,)), Input(shape=(4,))])
    with pytest.raises(ValueError, match="two 2-D inputs"):
        merge(mode="dot")([Input(shape=(3,)), Input(shape=(3,)), Input(shape=(3,))])


@pytest.mark.parametrize("mode, modern", [
    ("concat", "Concatenate(axis=1)"), ("sum", "Add()"), ("mul", "Multiply()"),
    ("ave", "Average()"), ("max", "Maximum()"), ("dot", "Dot(axes=-1)"),
])
def test_deprecation_warning_names_the_modern_spelling(mode, modern):
    with pytest.warns(DeprecationWarning, match=r"Keras 1's API.*" + modern.replace(
            "(", r"\(").replace(")", r"\)")):
        Merge(mode=mode, concat_axis=1)


# ----------------------------------------------------------------- Merge of models
def wide_and_deep(mode="concat", n=6, dropout=None):
    wide = Sequential()
    wide.add(Dense(4 if mode != "concat" else 1, input_dim=n, dtype="float64"))
    deep = Sequential()
    deep.add(Dense(8, input_dim=n, activation="relu", dtype="float64"))
    if dropout:
        deep.add(Dropout(dropout, dtype="float64"))
    deep.add(Dense(4 if mode != "concat" else 1, activation="tanh", dtype="float64"))
    model = Sequential()
    model.add(merge([wide, deep], mode=mode, concat_axis=1, dtype="float64"))
    model.add(Dense(1, activation="sigmoid", dtype="float64"))
    return model, wide, deep


def data(n=32, features=6):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, features))
    return x, (x[:, 0] + x[:, 1] > 0).astype(float).reshape(-1, 1)


@pytest.mark.parametrize("mode, join", [("concat", lambda: Concatenate(axis=1)),
                                        ("sum", Add)])
def test_merge_of_models_trains_as_the_functional_model_it_stands_for(mode, join):
    model, wide, deep = wide_and_deep(mode)
    a, b = Input(shape=(6,), dtype="float64"), Input(shape=(6,), dtype="float64")
    twin_wide = Sequential.from_config(wide.get_config())
    twin_deep = Sequential.from_config(deep.get_config())
    head = Dense(1, activation="sigmoid", dtype="float64")
    functional = Model([a, b], head(join()([twin_wide(a), twin_deep(b)])))
    functional.set_weights(model.get_weights())
    x, y = data()
    for m in (model, functional):
        m.compile(loss="binary_crossentropy", optimizer="sgd")
        m.fit([x, x], y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    for p, q in zip(model.get_weights(), functional.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)
    # the joined models' weights are trained in place (Keras 1 shares them too)
    np.testing.assert_array_equal(wide.get_weights()[0], model.get_weights()[0])


@pytest.mark.parametrize("mode", MODES)
def test_merge_of_models_gradients_match_central_differences(mode):
    model, _, _ = wide_and_deep(mode)
    x, y = data(n=8)
    model.compile(loss="mse", optimizer="sgd")
    lr = model.optimizer.learning_rate
    lr = float(lr.value if hasattr(lr, "value") else lr)
    before = model.get_weights()
    model.fit([x, x], y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    analytic = [(b - a) / lr for a, b in zip(model.get_weights(), before)]
    model.set_weights(before)

    def loss():
        return float(model.evaluate([x, x], y, batch_size=8, verbose=0))
    for i in (0, 2, len(before) - 2):  # a wide weight, a deep one, the head's
        w = model.weights[i].value
        assert_grad_close(analytic[i], numeric_grad(loss, w), rtol=1e-5, atol=1e-7)


def test_merge_of_models_is_the_first_layer_and_takes_one_input_per_model():
    model, wide, deep = wide_and_deep()
    assert [type(layer).__name__ for layer in model.layers] == ["Merge", "Dense"]
    assert model.input_shape == [(None, 6), (None, 6)]
    assert model.count_params() == wide.count_params() + deep.count_params() + 3
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 6)), verbose=0)  # one array for two inputs


def test_merge_of_models_needs_the_model_inputs():
    _, wide, deep = wide_and_deep()
    t = Dense(6)(Input(shape=(6,)))
    with pytest.raises(ValueError, match="takes the model inputs directly"):
        merge([wide, deep], mode="concat")([t, t])


@pytest.mark.parametrize("mode", ["concat", "mul", "dot"])
def test_merge_model_saves_and_loads(tmp_path, mode):
    model, _, _ = wide_and_deep(mode, dropout=0.3)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = data()
    model.fit([x, x], y, epochs=2, verbose=0)
    path = str(tmp_path / "wd.fastnn")
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # loading does not warn again
        again = load_model(path)
    np.testing.assert_array_equal(again.predict([x, x], verbose=0),
                                  model.predict([x, x], verbose=0))
    # training continues identically: optimizer state and dropout streams travel
    model.fit([x, x], y, epochs=1, shuffle=False, verbose=0)
    again.fit([x, x], y, epochs=1, shuffle=False, verbose=0)
    for p, q in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_merge_model_round_trips_through_json():
    model, _, _ = wide_and_deep("max")
    again = model_from_json(model.to_json())
    assert again.get_config() == model.get_config()
    again.set_weights(model.get_weights())
    x, _ = data(n=5)
    np.testing.assert_array_equal(again.predict([x, x], verbose=0),
                                  model.predict([x, x], verbose=0))
