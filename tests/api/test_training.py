"""Learning tests: small real problems the seeds' models must solve, on every backend."""

import numpy as np
import pytest

import fastnn
from fastnn import callbacks, layers, optimizers, regularizers
from fastnn.datasets import digits


@pytest.fixture(autouse=True)
def _seed():
    fastnn.utils.set_random_seed(1234)


def _digits(one_hot=False):
    (xtr, ytr), (xte, yte) = digits.load_data()
    xtr, xte = xtr.astype("float32") / 16.0, xte.astype("float32") / 16.0
    if one_hot:
        ytr, yte = np.eye(10, dtype="float32")[ytr], np.eye(10, dtype="float32")[yte]
    return (xtr, ytr), (xte, yte)


def test_xor_one_hidden_layer_reaches_100_percent(ops_backend):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = np.array([0, 1, 1, 0], dtype="float32")
    model = fastnn.Sequential([
        layers.Dense(8, activation="tanh", input_dim=2),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=300, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc == 1.0
    assert loss < 0.1
    np.testing.assert_array_equal((model.predict(x, verbose=0)[:, 0] > 0.5), y.astype(bool))


def test_seed_001_sigmoid_mlp_learns_digits(ops_backend):
    (xtr, ytr), (xte, yte) = _digits(one_hot=True)
    model = fastnn.Sequential()
    model.add(layers.Dense(input_dim=64, units=500, activation="sigmoid"))
    model.add(layers.Dense(units=500, activation="sigmoid"))
    model.add(layers.Dense(units=10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(xtr, ytr, batch_size=32, epochs=10, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(xte, yte, verbose=0)
    assert acc > 0.9, acc


def _wide_deep_data(n=1200, seed=0):
    """A binary target that needs both a linear (wide) and a nonlinear (deep) part."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 8)).astype("float32")
    logit = 3 * (x[:, 0] - x[:, 1]) + 4 * np.sin(3 * x[:, 2]) * (x[:, 3] - 0.5) * 4
    y = (logit > np.median(logit)).astype("float32")
    return x, y


def test_wide_and_deep_two_inputs_concatenate(ops_backend):
    # seed 000: a wide linear part and a deep relu tower on the same features, merged
    x, y = _wide_deep_data()
    wide_in = fastnn.Input(shape=(8,), name="wide")
    deep_in = fastnn.Input(shape=(8,), name="deep")
    wide = layers.Dense(1)(wide_in)
    deep = layers.Dense(100, activation="relu")(deep_in)
    deep = layers.Dense(32, activation="relu")(deep)
    deep = layers.Dense(8)(deep)
    merged = layers.Concatenate(axis=1)([wide, deep])
    out = layers.Dense(1, activation="sigmoid")(merged)
    model = fastnn.Model(inputs=[wide_in, deep_in], outputs=out)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit([x[:1000], x[:1000]], y[:1000], nb_epoch=30, batch_size=32, verbose=0)
    _, acc = model.evaluate([x[1000:], x[1000:]], y[1000:], verbose=0)
    assert acc > 0.85, acc


def test_dropout_l2_early_stopping_model(ops_backend):
    (xtr, ytr), (xte, yte) = _digits()
    model = fastnn.Sequential([
        layers.Dense(128, activation="relu", input_shape=(64,),
                     kernel_regularizer=regularizers.l2(1e-4)),
        layers.Dropout(0.3),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(xtr, ytr, epochs=100, batch_size=32, validation_split=0.2,
                        callbacks=[stop], verbose=0)
    assert len(history.history["loss"]) < 100  # stopped early
    _, acc = model.evaluate(xte, yte, verbose=0)
    assert acc > 0.93, acc


def test_native_and_numpy_backends_agree_on_training():
    if not fastnn.backend.native_available():
        pytest.skip("native backend not built")
    (xtr, ytr), _ = _digits()
    results = []
    previous = fastnn.backend.current()
    for name in ("numpy", "native"):
        fastnn.set_backend(name)
        fastnn.utils.set_random_seed(7)
        model = fastnn.Sequential([
            layers.Dense(32, activation="relu", input_shape=(64,)),
            layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(xtr[:256], ytr[:256], epochs=2, batch_size=64, verbose=0)
        results.append(model.get_weights())
    fastnn.set_backend(previous.name)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
