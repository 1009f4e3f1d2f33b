"""Numerics: losses stay finite for logits of +-1e4, an exploding learning rate is
caught by TerminateOnNaN with a clear message, and clipnorm / clipvalue /
global_clipnorm keep finite a run that overflows without them."""

import numpy as np
import pytest

import fastnn
from fastnn import backend, callbacks, layers, losses, optimizers

# exploding runs overflow on purpose
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

BACKENDS = ["numpy"] + (["native"] if backend.native_available() else [])


@pytest.fixture(params=BACKENDS)
def on_backend(request):
    with backend.using(request.param):
        yield request.param


@pytest.mark.parametrize("loss, output, act", [
    ("sparse_categorical_crossentropy", 4, "softmax"),
    ("categorical_crossentropy", 4, "softmax"),
    ("binary_crossentropy", 1, "sigmoid"),
    ("binary_crossentropy", 3, "sigmoid"),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_with_logits_of_1e4_stays_finite(on_backend, loss, output, act, dtype):
    fastnn.config.set_floatx(dtype)
    fastnn.utils.set_random_seed(0)
    model = fastnn.Sequential([layers.Dense(output, activation=act, input_dim=2)])
    model.compile(optimizer="sgd", loss=loss)
    kernel = np.stack([np.linspace(-1, 1, output), np.linspace(1, -1, output)]) + 0.1
    model.set_weights([kernel, np.zeros(output)])
    x = np.array([[1e4, 0.0], [-1e4, 0.0], [5e3, -5e3], [0.0, 1e4]])
    z = x @ kernel  # logits of magnitude ~1e4; the targets pick the worst class
    if loss.startswith("sparse"):
        y = z.argmin(axis=1)
    elif loss.startswith("categorical"):
        y = np.eye(output)[z.argmin(axis=1)]
    else:
        y = (z < 0).astype(dtype)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 1000  # wrong by 1e4: large, finite
    step = model.train_on_batch(x, y)
    assert np.isfinite(step)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.isfinite(model.predict(x, verbose=0)).all()


@pytest.mark.parametrize("name", ["categorical_crossentropy", "binary_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_loss_functions_from_logits_at_1e4(on_backend, name):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype="float32")
    y = {"categorical_crossentropy": np.eye(3)[[1, 0]],
         "binary_crossentropy": np.array([[1, 0, 1], [0, 0, 1]], dtype="float32"),
         "sparse_categorical_crossentropy": np.array([1, 0])}[name]
    loss = losses.get({"class_name": {"categorical_crossentropy": "CategoricalCrossentropy",
                                      "binary_crossentropy": "BinaryCrossentropy",
                                      "sparse_categorical_crossentropy":
                                          "SparseCategoricalCrossentropy"}[name],
                       "config": {"from_logits": True}})
    value = loss(y, z)
    assert np.isfinite(value) and value > 1000


def _exploding_setup(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 4)).astype("float32") * 100
    y = rng.normal(size=(256, 1)).astype("float32") * 100
    fastnn.utils.set_random_seed(seed)
    model = fastnn.Sequential([layers.Dense(32, activation="relu", input_dim=4),
                               layers.Dense(1)])
    return model, x, y


def test_exploding_learning_rate_raises_a_clear_error(on_backend):
    model, x, y = _exploding_setup()
    model.compile(optimizer=optimizers.SGD(learning_rate=10.0), loss="mse")
    with pytest.raises(RuntimeError, match=r"NaN or Inf loss encountered at batch \d+"):
        model.fit(x, y, epochs=20, batch_size=8, verbose=0,
                  callbacks=[callbacks.TerminateOnNaN(raise_error=True)])


def test_exploding_learning_rate_stops_training(on_backend, capsys):
    model, x, y = _exploding_setup()
    model.compile(optimizer=optimizers.SGD(learning_rate=10.0), loss="mse")
    h = model.fit(x, y, epochs=20, batch_size=8, verbose=0,
                  callbacks=[callbacks.TerminateOnNaN()])
    assert len(h.history["loss"]) < 20 and not np.isfinite(h.history["loss"][-1])
    assert "Invalid loss" in capsys.readouterr().out


@pytest.mark.parametrize("clip", [dict(clipnorm=1.0), dict(clipvalue=0.1),
                                  dict(global_clipnorm=1.0)])
def test_clipping_keeps_an_overflowing_run_finite(on_backend, clip):
    # without clipping, this learning rate overflows within a few epochs
    model, x, y = _exploding_setup()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.01), loss="mse")
    h = model.fit(x, y, epochs=5, batch_size=8, verbose=0,
                  callbacks=[callbacks.TerminateOnNaN()])
    assert not np.isfinite(h.history["loss"][-1])
    model, x, y = _exploding_setup()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.01, **clip), loss="mse")
    h = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())
