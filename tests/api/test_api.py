"""API behaviour: Keras names, spellings from the seeds, shapes, configs, bad input."""

import numpy as np
import pytest

import fastnn
from fastnn import layers, models, optimizers

# Every test here runs once per backend (conftest's ops_backend), so the API behaves the
# same on NumPy and on the native kernels.
pytestmark = pytest.mark.usefixtures("ops_backend")


@pytest.fixture(autouse=True)
def _seed():
    fastnn.utils.set_random_seed(0)


def _mlp(input_dim=10, hidden=16, classes=3, **compile_kwargs):
    model = fastnn.Sequential([
        layers.Dense(hidden, activation="relu", input_dim=input_dim),
        layers.Dense(classes, activation="softmax"),
    ])
    compile_kwargs.setdefault("optimizer", "adam")
    compile_kwargs.setdefault("loss", "sparse_categorical_crossentropy")
    model.compile(**compile_kwargs)
    return model


def _data(n=64, d=10, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = rng.integers(0, classes, size=n)
    return x, y


# ----------------------------------------------------------------- construction
def test_seed_spellings_are_accepted():
    # seed 001 / 002 / 000 spellings
    a = layers.Dense(input_dim=10, units=500, activation="sigmoid")
    b = layers.Dense(32, input_shape=(784,))
    c = layers.Dense(input_dim=32, output_dim=8)
    assert a.units == 500 and a._declared_input_shape == (10,)
    assert b._declared_input_shape == (784,)
    assert c.units == 8
    opt = optimizers.RMSprop(lr=0.001)
    assert opt.learning_rate == pytest.approx(0.001)
    assert isinstance(optimizers.RMSProp(lr=0.01), optimizers.RMSprop)
    x, y = _data()
    model = _mlp()
    history = model.fit(x, y, nb_epoch=2, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 2


def test_sequential_and_models_namespace_are_the_same():
    assert fastnn.models.Sequential is fastnn.Sequential
    assert fastnn.models.Model is fastnn.Model
    assert fastnn.layers.Input is fastnn.Input


def test_sequential_add_infers_shapes_and_counts_params():
    model = models.Sequential()
    model.add(layers.Dense(32, activation="relu", input_shape=(784,)))
    model.add(layers.Dense(10, activation="softmax"))
    assert model.output_shape == (None, 10)
    assert model.input_shape == (None, 784)
    assert model.count_params() == 784 * 32 + 32 + 32 * 10 + 10


def test_sequential_with_input_entry_and_deferred_build():
    m1 = fastnn.Sequential([fastnn.Input(shape=(5,)), layers.Dense(3)])
    assert m1.output_shape == (None, 3)
    m2 = fastnn.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not m2.built
    m2.compile(optimizer="sgd", loss="mse")
    m2.fit(np.ones((8, 6)), np.zeros((8, 2)), verbose=0)
    assert m2.input_shape == (None, 6)


def test_functional_model_with_branches():
    inp = fastnn.Input(shape=(784,))
    x = layers.Dense(32, activation="relu")(inp)
    out = layers.Dense(10, activation="softmax")(x)
    model = fastnn.Model(inputs=inp, outputs=out)
    assert model.output_shape == (None, 10)
    assert [l.name for l in model.layers] == [l.name for l in model.layers]
    assert model.count_params() == 784 * 32 + 32 + 330


def test_summary_prints_layers_and_totals(capsys):
    model = _mlp()
    model.summary()
    out = capsys.readouterr().out
    assert "Total params: 227" in out  # 10*16+16 + 16*3+3
    assert "Dense" in out and "(None, 16)" in out


def test_get_set_weights_and_config_round_trip():
    model = _mlp()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(10, 16), (16,), (16, 3), (3,)]
    clone = fastnn.Sequential.from_config(model.get_config())
    clone.set_weights(weights)
    x, _ = _data()
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="expects 4 weight arrays"):
        model.set_weights(weights[:2])


def test_functional_config_round_trip():
    a = fastnn.Input(shape=(4,))
    b = fastnn.Input(shape=(3,))
    h = layers.Concatenate()([layers.Dense(5)(a), b])
    out = layers.Dense(2, activation="softmax")(h)
    model = fastnn.Model([a, b], out)
    clone = fastnn.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    xa, xb = np.ones((3, 4), "float32"), np.ones((3, 3), "float32")
    np.testing.assert_allclose(clone.predict([xa, xb], verbose=0),
                               model.predict([xa, xb], verbose=0))


# ----------------------------------------------------------------- training API
def test_history_keys_and_evaluate_shapes():
    x, y = _data()
    model = _mlp(metrics=["accuracy"])
    h = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h.epoch == [0, 1]
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    assert model.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}
    plain = _mlp()
    plain.fit(x, y, verbose=0)
    assert isinstance(plain.evaluate(x, y, verbose=0), float)


def test_predict_is_deterministic_with_dropout():
    model = fastnn.Sequential([
        layers.Dense(16, activation="relu", input_dim=10),
        layers.Dropout(0.5),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, rtol=1e-5)


def test_on_batch_methods():
    x, y = _data()
    model = _mlp(metrics=["accuracy"])
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert len(model.test_on_batch(x, y)) == 2
    assert model.predict_on_batch(x).shape == (64, 3)


def test_validation_data_and_sample_weights_and_class_weight():
    x, y = _data()
    model = _mlp(metrics=["accuracy"])
    h = model.fit(x, y, validation_data=(x[:8], y[:8]), sample_weight=np.ones(64),
                  class_weight={0: 1.0, 1: 2.0, 2: 1.0}, epochs=1, verbose=0)
    assert "val_loss" in h.history


def test_zero_sample_weights_leave_the_model_unchanged():
    x, y = _data()
    model = _mlp(optimizer="sgd")
    before = model.get_weights()
    model.fit(x, y, sample_weight=np.zeros(64), epochs=1, shuffle=False, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_initial_epoch_and_shuffle_false():
    x, y = _data()
    model = _mlp()
    h = model.fit(x, y, epochs=3, initial_epoch=1, shuffle=False, verbose=0)
    assert h.epoch == [1, 2]


def test_progress_output_verbose_1_and_2(capsys):
    x, y = _data()
    model = _mlp(metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "loss:" in out and "accuracy:" in out
    model.fit(x, y, epochs=1, batch_size=16, verbose=2)
    out = capsys.readouterr().out
    assert "loss:" in out and "step" in out
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_float64_models():
    fastnn.config.set_floatx("float64")
    model = _mlp()
    assert model.get_weights()[0].dtype == np.float64
    x, y = _data()
    model.fit(x, y, verbose=0)
    assert model.predict(x, verbose=0).dtype == np.float64


# ----------------------------------------------------------------- bad input
def test_mismatched_lengths():
    x, y = _data()
    model = _mlp()
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:10], verbose=0)


def test_wrong_feature_count():
    x, y = _data(d=7)
    model = _mlp()
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.predict(x),
                 lambda: model.evaluate(x, y, verbose=0)):
        with pytest.raises(ValueError, match=r"expected shape \(None, 10\)"):
            call()


def test_sparse_labels_out_of_range():
    x, _ = _data()
    model = _mlp()
    with pytest.raises(ValueError, match="3"):
        model.fit(x, np.full(64, 3), verbose=0)


@pytest.mark.parametrize("bad, exc", [
    ([[1, 2], [3]], ValueError),
    (np.array(["a", "b"]), TypeError),
    (np.array([object(), object()], dtype=object), TypeError),
    ("hello", TypeError),
])
def test_non_numeric_or_ragged_inputs(bad, exc):
    model = _mlp()
    with pytest.raises(exc):
        model.predict(bad)


def test_nan_and_inf_inputs_refused():
    x, y = _data()
    x[3, 2] = np.nan
    model = _mlp()
    with pytest.raises(ValueError, match="NaN"):
        model.fit(x, y, verbose=0)
    x[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(x)


def test_empty_data_refused():
    model = _mlp()
    with pytest.raises(ValueError, match="at least one sample"):
        model.fit(np.zeros((0, 10)), np.zeros(0), verbose=0)


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(-3),
    lambda: layers.Dense(0),
    lambda: layers.Dense(3, activation="relux"),
    lambda: layers.Dropout(1.0),
    lambda: layers.Dropout(-0.1),
    lambda: optimizers.Adam(learning_rate=-1),
])
def test_bad_constructor_arguments(make):
    with pytest.raises((ValueError, TypeError)):
        make()


def test_unknown_names_in_compile():
    model = fastnn.Sequential([layers.Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        model.compile(optimizer="adam", loss="categotial_crossentropy")
    with pytest.raises(ValueError, match="adamx"):
        model.compile(optimizer="adamx", loss="mse")


def test_fit_before_compile_and_bad_fit_arguments():
    x, y = _data()
    model = fastnn.Sequential([layers.Dense(3, input_dim=10)])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y, verbose=0)
    model = _mlp()
    for kwargs in ({"batch_size": 0}, {"epochs": -1}, {"validation_split": 1.5},
                   {"verbose": 5}):
        with pytest.raises(ValueError):
            model.fit(x, y, **kwargs)


def test_training_from_two_threads_is_refused_not_corrupting():
    import threading

    x, y = _data(n=2048)
    model = _mlp()
    errors = []

    def train():
        try:
            model.fit(x, y, epochs=3, batch_size=8, verbose=0)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # either they ran one after the other, or the second was refused clearly
    for exc in errors:
        assert "another thread" in str(exc)
    assert all(np.isfinite(w).all() for w in model.get_weights())


# ----------------------------------------------------------------- callbacks with a real model
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point here
def test_terminate_on_nan_stops_an_exploding_run(capsys):
    from fastnn import callbacks

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32") * 100
    y = rng.normal(size=(256, 1)).astype("float32") * 100
    model = fastnn.Sequential([layers.Dense(32, activation="relu", input_dim=4), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=10.0), loss="mse")
    h = model.fit(x, y, epochs=20, batch_size=8, verbose=0,
                  callbacks=[callbacks.TerminateOnNaN()])
    assert len(h.history["loss"]) < 20
    assert not np.isfinite(h.history["loss"][-1])
    assert "Invalid loss" in capsys.readouterr().out


def test_clipnorm_keeps_the_same_run_finite():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32") * 100
    y = rng.normal(size=(256, 1)).astype("float32") * 100
    model = fastnn.Sequential([layers.Dense(32, activation="relu", input_dim=4), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=1e-3, clipnorm=1.0), loss="mse")
    h = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(h.history["loss"]).all()


def test_checkpoint_csv_logger_and_reduce_lr_in_fit(tmp_path):
    from fastnn import callbacks

    x, y = _data()
    model = _mlp(metrics=["accuracy"])
    ckpt = tmp_path / "best.fastnn"
    log = tmp_path / "log.csv"
    cbs = [
        callbacks.ModelCheckpoint(str(ckpt), monitor="val_loss", save_best_only=True),
        callbacks.CSVLogger(str(log)),
        callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0),
    ]
    model.fit(x, y, epochs=3, validation_split=0.25, callbacks=cbs, verbose=0)
    restored = fastnn.models.load_model(ckpt)
    assert restored.predict(x, verbose=0).shape == (64, 3)
    rows = log.read_text().strip().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 4
    # the first epoch sets the best value; min_delta=10 means no later epoch improves on
    # it, so the rate halves after epochs 2 and 3
    assert model.optimizer.learning_rate == pytest.approx(0.001 / 4)
