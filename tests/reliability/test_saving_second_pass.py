"""Saving and loading, second pass (issue 13): each rule of docs/reliability.md's
"Saving and loading (second pass)" section, one group of tests per rule.

1. A file that saves loads: NaN/inf weights load with a warning, by every reader;
   NaN is never ModelCheckpoint's "best".
2. Saved files get the mode a plain open() would give; symbolic links are written
   through.
3. Custom layers, losses and metrics: custom_objects=, the register decorators, and an
   error that says how to supply a missing one.
4. Paths: bytes accepted everywhere, empty paths and directories refused early, errors
   name the user's path.
5. Foreign and future files are named for what they are.
6. Models pickle and deep-copy through the model file format.
"""

import copy
import io
import json
import os
import pickle
import stat
import warnings
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import callbacks, layers
from fastnn.models import load_model
from fastnn.utils import files

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4))
Y = RNG.normal(size=(64, 1))


def _model(seed=0, lr=0.01, **compile_kwargs):
    fastnn.utils.set_random_seed(seed)
    model = fastnn.Sequential([layers.Dense(8, activation="relu", input_dim=4),
                               layers.Dropout(0.1, seed=1), layers.Dense(1)])
    compile_kwargs.setdefault("loss", "mse")
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=lr), **compile_kwargs)
    return model


def _diverged():
    """A model whose training diverged (learning rate 1e6, no TerminateOnNaN)."""
    fastnn.utils.set_random_seed(0)
    model = fastnn.Sequential([layers.Dense(8, activation="relu", input_dim=4),
                               layers.Dense(1)])
    model.compile(optimizer=fastnn.optimizers.SGD(learning_rate=1e6), loss="mse")
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    assert not all(np.isfinite(w).all() for w in model.get_weights())
    return model


# ====================================================== 1. a file that saves loads
# The model is driven to inf/NaN on purpose: NumPy's overflow warnings are expected.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_diverged_model_saves_and_loads_with_a_warning_through_every_path(tmp_path):
    model = _diverged()
    expected = model.get_weights()

    def same(weights):
        for a, b in zip(expected, weights):
            np.testing.assert_array_equal(a, b)  # NaN == NaN position by position

    model.save(tmp_path / "m.fastnn")
    with pytest.warns(RuntimeWarning, match="NaN or inf"):
        same(load_model(tmp_path / "m.fastnn").get_weights())

    model.save_weights(tmp_path / "w.npz")
    other = _diverged()
    other.set_weights([np.zeros_like(w) for w in expected])
    with pytest.warns(RuntimeWarning, match="NaN or inf"):
        other.load_weights(tmp_path / "w.npz")
    same(other.get_weights())

    ckpt = tmp_path / "ckpt.fastnn"
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(ckpt,
                                                                              monitor="loss")])
    with pytest.warns(RuntimeWarning, match="NaN or inf"):
        load_model(ckpt)

    backup = tmp_path / "backup"
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[
        callbacks.BackupAndRestore(backup, delete_checkpoint=False)])
    resumed = _diverged()
    with pytest.warns(RuntimeWarning, match="NaN or inf"):
        resumed.load_training_state(backup / "latest.fastnn")


def test_non_float_weights_are_still_refused(tmp_path):
    model = _model()
    model.save(tmp_path / "m.fastnn")
    with zipfile.ZipFile(tmp_path / "m.fastnn") as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    buf = io.BytesIO()
    np.savez(buf, **{f"w{i:03d}": w.astype(np.int32) for i, w in
                     enumerate(model.get_weights())})
    members["weights.npz"] = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "int.fastnn", "w") as zout:
        for name, data in members.items():
            zout.writestr(name, data)
    with pytest.raises(ValueError, match="not a valid fastnn model file.*dtype"):
        load_model(tmp_path / "int.fastnn")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_checkpoint_never_takes_a_non_finite_value_as_best(tmp_path, bad, capsys):
    model = _model()
    path = tmp_path / "best.fastnn"
    ckpt = callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True, verbose=1,
                                     mode="min")
    ckpt.set_model(model)
    ckpt.on_train_begin()
    ckpt.on_epoch_end(0, {"loss": bad})
    assert not path.exists() and ckpt.best is None
    assert "never the best" in capsys.readouterr().out
    ckpt.on_epoch_end(1, {"loss": 0.5})
    assert path.exists() and ckpt.best == 0.5
    before = path.read_bytes()
    ckpt.on_epoch_end(2, {"loss": bad})
    assert ckpt.best == 0.5 and path.read_bytes() == before


# ====================================================== 2. file modes and links
def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_new_files_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        files.atomic_write(tmp_path / "f.bin", lambda f: f.write(b"x"))
        _model().save(tmp_path / "m.fastnn")
        with open(tmp_path / "plain.bin", "wb"):
            pass
    finally:
        os.umask(old)
    assert _mode(tmp_path / "f.bin") == 0o666 & ~mask
    assert _mode(tmp_path / "m.fastnn") == _mode(tmp_path / "plain.bin")


def test_replaced_files_keep_their_mode(tmp_path):
    path = tmp_path / "m.fastnn"
    model = _model()
    model.save(path)
    os.chmod(path, 0o664)
    model.save(path)
    assert _mode(path) == 0o664
    os.chmod(path, 0o600)
    model.save_weights(path)
    assert _mode(path) == 0o600


def test_saving_through_a_symlink_writes_its_target(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "model-v1.fastnn"
    link = tmp_path / "current.fastnn"
    model = _model()
    model.save(target)
    os.chmod(target, 0o640)
    os.symlink(os.path.join("store", "model-v1.fastnn"), link)  # a relative link
    model.fit(X, Y, epochs=1, verbose=0)
    model.save(link)
    assert os.path.islink(link)
    assert os.listdir(tmp_path / "store") == ["model-v1.fastnn"]  # no temporary left
    assert _mode(target) == 0o640
    np.testing.assert_array_equal(load_model(target).get_weights()[0],
                                  model.get_weights()[0])
    # a dangling link: its target is created, the link stays
    dangling = tmp_path / "next.fastnn"
    os.symlink(tmp_path / "store" / "model-v2.fastnn", dangling)
    model.save_weights(dangling)
    assert os.path.islink(dangling) and (tmp_path / "store" / "model-v2.fastnn").is_file()
    with pytest.raises(FileExistsError):
        model.save(dangling, overwrite=False)


def test_errors_name_the_users_path_not_the_temporary_file(tmp_path, monkeypatch):
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if ".fastnn-" in os.fspath(path):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", refusing_open)
    with pytest.raises(PermissionError) as info:
        _model().save(tmp_path / "m.fastnn")
    message = str(info.value)
    assert "m.fastnn" in message and ".fastnn-" not in message, message
    assert info.value.filename == os.fspath(tmp_path / "m.fastnn")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions, which root bypasses")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError, match="ro/m.fastnn"):
            _model().save(folder / "m.fastnn")
    finally:
        os.chmod(folder, 0o755)


# ====================================================== 3. custom objects
def _f1_like(y_true, y_pred):
    return np.abs(np.asarray(y_true) - np.asarray(y_pred)).mean(axis=-1)


def test_custom_metric_function_needs_custom_objects_and_says_so(tmp_path):
    model = _model(metrics=[_f1_like])
    h = model.fit(X, Y, epochs=1, verbose=0)
    assert "_f1_like" in h.history
    model.save(tmp_path / "m.fastnn")
    with pytest.raises(ValueError) as info:
        load_model(tmp_path / "m.fastnn")
    message = str(info.value)
    for part in ("'_f1_like'", "custom_objects=", "@fastnn.metrics.register",
                 "compile=False"):
        assert part in message, message
    loaded = load_model(tmp_path / "m.fastnn", custom_objects={"_f1_like": _f1_like})
    assert loaded.optimizer.iterations == model.optimizer.iterations
    np.testing.assert_allclose(loaded.evaluate(X, Y, verbose=0, return_dict=True)["_f1_like"],
                               model.evaluate(X, Y, verbose=0, return_dict=True)["_f1_like"])
    bare = load_model(tmp_path / "m.fastnn", compile=False)
    assert not bare.compiled


def test_registered_metric_function_and_class_load_without_custom_objects(tmp_path):
    @fastnn.metrics.register(name="test_sp_abs_error")
    def abs_error(y_true, y_pred):
        return np.abs(np.asarray(y_true) - np.asarray(y_pred)).mean(axis=-1)

    @fastnn.metrics.register
    class TestSpMaxError(fastnn.metrics.Metric):
        def __init__(self, name="max_error", dtype=None):
            super().__init__(name=name, dtype=dtype)
            self.reset_state()

        def reset_state(self):
            self.value = 0.0

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.value = max(self.value, float(np.max(np.abs(y_true - y_pred))))

        def result(self):
            return self.value

    try:
        model = _model(metrics=[abs_error, TestSpMaxError()])
        model.fit(X, Y, epochs=1, verbose=0)
        model.save(tmp_path / "m.fastnn")
        loaded = load_model(tmp_path / "m.fastnn")
        logs = loaded.evaluate(X, Y, verbose=0, return_dict=True)
        assert set(logs) == {"loss", "abs_error", "max_error"}
        assert logs == model.evaluate(X, Y, verbose=0, return_dict=True)
    finally:
        fastnn.metrics._REGISTERED_FUNCTIONS.pop("test_sp_abs_error", None)
        fastnn.metrics._REGISTRY.pop("TestSpMaxError", None)


def test_builtin_metric_functions_round_trip(tmp_path):
    model = _model(metrics=[fastnn.metrics.binary_accuracy, fastnn.losses.mean_absolute_error])
    model.save(tmp_path / "m.fastnn")
    loaded = load_model(tmp_path / "m.fastnn")
    assert (loaded.evaluate(X, Y, verbose=0, return_dict=True)
            == model.evaluate(X, Y, verbose=0, return_dict=True))


def test_metric_given_as_a_config_dict_round_trips(tmp_path):
    """A metric config dict inside the list is one metric, not metrics per output
    (saving used to walk into it and fail on its numbers)."""
    model = fastnn.Sequential([layers.Dense(1, activation="sigmoid", input_dim=4)])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[{"class_name": "AUC", "config": {"num_thresholds": 50}}])
    labels = (Y > 0).astype("float64")
    model.save(tmp_path / "m.fastnn")
    loaded = load_model(tmp_path / "m.fastnn")
    logs = loaded.evaluate(X, labels, verbose=0, return_dict=True)
    assert logs == model.evaluate(X, labels, verbose=0, return_dict=True) and "auc" in logs
    assert loaded._compile_args["metrics"][0].num_thresholds == 50


class _ScaledMSE(fastnn.losses.MeanSquaredError):
    """A custom loss: a subclass of a built-in one (fastnn needs forward_backward)."""


def test_custom_loss_by_custom_objects_or_register(tmp_path):
    model = _model(loss=_ScaledMSE())
    model.fit(X, Y, epochs=1, verbose=0)
    model.save(tmp_path / "m.fastnn")
    with pytest.raises(ValueError, match="Unknown loss '_ScaledMSE'.*custom_objects"):
        load_model(tmp_path / "m.fastnn")
    loaded = load_model(tmp_path / "m.fastnn", custom_objects={"_ScaledMSE": _ScaledMSE})
    assert isinstance(loaded._losses[0], _ScaledMSE)
    fastnn.losses.register(_ScaledMSE)
    try:
        assert isinstance(load_model(tmp_path / "m.fastnn")._losses[0], _ScaledMSE)
    finally:
        fastnn.losses._REGISTRY.pop("_ScaledMSE")
    with pytest.raises(TypeError, match="Loss subclass"):
        load_model(tmp_path / "m.fastnn", custom_objects={"_ScaledMSE": _f1_like})


class _MyDense(layers.Dense):
    """A custom layer (inherits get_config/from_config)."""


def test_custom_layer_by_custom_objects(tmp_path):
    fastnn.utils.set_random_seed(0)
    model = fastnn.Sequential([_MyDense(3, input_dim=4), layers.Dense(1)])
    model.save(tmp_path / "m.fastnn")
    with pytest.raises(ValueError, match="Unknown layer class '_MyDense'") as info:
        load_model(tmp_path / "m.fastnn")
    assert "@fastnn.layers.register" in str(info.value)
    assert "compile=False" not in str(info.value)  # it would not help
    loaded = load_model(tmp_path / "m.fastnn", custom_objects={"_MyDense": _MyDense})
    assert type(loaded.layers[0]) is _MyDense
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_register_refuses_builtin_names_and_non_objects():
    with pytest.raises(ValueError, match="fastnn's own"):
        fastnn.metrics.register(_f1_like, name="accuracy")
    with pytest.raises(ValueError, match="fastnn's own"):
        fastnn.losses.register(_ScaledMSE, name="mse")
    with pytest.raises(TypeError):
        fastnn.losses.register(_f1_like)
    with pytest.raises(TypeError):
        fastnn.metrics.register(42)
    with pytest.raises(ValueError, match="lambda"):
        fastnn.metrics.register(lambda t, p: t)


def test_load_model_signature_and_argument_checks(tmp_path):
    import inspect

    params = list(inspect.signature(load_model).parameters)
    assert params == ["filepath", "custom_objects", "compile", "safe_mode"]
    _model().save(tmp_path / "m.fastnn")
    load_model(tmp_path / "m.fastnn", None, True, safe_mode=False)  # always safe
    with pytest.raises(TypeError, match="custom_objects"):
        load_model(tmp_path / "m.fastnn", custom_objects=[_f1_like])
    with pytest.raises(TypeError, match="custom_objects"):
        load_model(tmp_path / "m.fastnn", custom_objects={"x": 3})


# ====================================================== 4. paths
def test_bytes_paths_work_everywhere(tmp_path):
    model = _model()
    base = os.fsencode(tmp_path)
    model.save(base + b"/m.fastnn")
    load_model(base + b"/m.fastnn")
    model.save_weights(base + b"/w.npz")
    model.load_weights(base + b"/w.npz")
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(base + b"/c.fastnn", monitor="loss"),
        callbacks.BackupAndRestore(base + b"/backup")])
    assert (tmp_path / "c.fastnn").is_file()


def test_empty_paths_and_directories_are_refused_early(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = _model()
    for call in (model.save, model.save_weights, load_model, model.load_weights):
        with pytest.raises(ValueError, match="non-empty path"):
            call("")
        with pytest.raises(TypeError, match="path"):
            call(42)
    with pytest.raises(IsADirectoryError, match="directory"):
        model.save(tmp_path)
    with pytest.raises(IsADirectoryError, match="directory"):
        model.save(str(tmp_path / "sub") + os.sep)
    assert os.listdir(tmp_path) == [] and not any(
        n.startswith(".fastnn-") for n in os.listdir(tmp_path.parent))


# ====================================================== 5. foreign and future files
def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


@pytest.mark.parametrize("extra_member", [False, True])
def test_file_from_a_newer_fastnn(tmp_path, extra_member):
    _model().save(tmp_path / "m.fastnn")
    members = _members(tmp_path / "m.fastnn")
    meta = json.loads(members["metadata.json"])
    meta.update(format_version=7, fastnn_version="9.0.0")
    members["metadata.json"] = json.dumps(meta)
    if extra_member:  # a newer format may add members
        members["tokenizer.json"] = "{}"
    with pytest.raises(ValueError, match="newer fastnn.*9.0.0.*format_version 7") as info:
        load_model(_zip(tmp_path / "new.fastnn", members))
    assert "Upgrade fastnn" in str(info.value)


def _keras_members():
    return {"metadata.json": json.dumps({"keras_version": "3.6.0", "date_saved": "x"}),
            "config.json": json.dumps({"module": "keras", "class_name": "Sequential"}),
            "model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(64)}


def test_keras_files_are_named_with_how_to_move_weights(tmp_path):
    path = _zip(tmp_path / "model.keras", _keras_members())
    for load in (load_model, _model().load_weights):
        with pytest.raises(ValueError, match="Keras model file.*3.6.0") as info:
            load(path)
        assert "set_weights(keras_model.get_weights())" in str(info.value)
    h5 = tmp_path / "model.weights.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(256))
    for load in (load_model, _model().load_weights):
        with pytest.raises(ValueError, match="HDF5.*set_weights"):
            load(h5)


def test_model_file_and_weights_file_swapped(tmp_path):
    model = _model()
    model.save(tmp_path / "m.fastnn")
    model.save_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="full model file.*load_model"):
        model.load_weights(tmp_path / "m.fastnn")
    with pytest.raises(ValueError, match="weights file.*load_weights"):
        load_model(tmp_path / "w.npz")


def test_weights_of_another_architecture(tmp_path):
    _model().save_weights(tmp_path / "w.npz")
    for units in (8, 5000):  # fewer weights, then a file larger than the model's
        other = fastnn.Sequential([layers.Dense(3, input_dim=4), layers.Dense(2)]) \
            if units == 8 else fastnn.Sequential([layers.Dense(units, input_dim=4)])
        if units == 5000:
            other.save_weights(tmp_path / "big.npz")
            target, path = _model(), tmp_path / "big.npz"
        else:
            target, path = other, tmp_path / "w.npz"
        before = target.get_weights()
        with pytest.raises(ValueError, match="another architecture") as info:
            target.load_weights(path)
        assert "not a valid" not in str(info.value)
        for a, b in zip(before, target.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_backup_of_another_architecture(tmp_path):
    model = _model()
    model.save_training_state(tmp_path / "b.fastnn", epoch=1)
    other = fastnn.Sequential([layers.Dense(5, input_dim=4), layers.Dense(1)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="another architecture"):
        other.load_training_state(tmp_path / "b.fastnn")


# ====================================================== 6. pickling and deep copies
def test_deepcopy_predicts_the_same_and_trains_independently():
    model = _model(metrics=["mae", _f1_like])  # an unregistered custom metric too
    model.fit(X, Y, epochs=2, verbose=0)
    clone = copy.deepcopy(model)
    assert clone is not model and clone.layers[0] is not model.layers[0]
    np.testing.assert_array_equal(clone.predict(X, verbose=0), model.predict(X, verbose=0))
    assert clone.optimizer.iterations == model.optimizer.iterations
    for key, value in model.optimizer.get_state().items():
        np.testing.assert_array_equal(clone.optimizer.get_state()[key], value)
    before = model.get_weights()
    # the copy trains as the original would (same optimizer state and random state)
    clone.fit(X, Y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(X, Y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert clone.evaluate(X, Y, verbose=0, return_dict=True).keys() == {"loss", "mae",
                                                                        "_f1_like"}


def test_pickle_round_trip_and_no_code_in_the_pickle():
    model = _model(metrics=["mae"])
    model.fit(X, Y, epochs=1, verbose=0)
    data = pickle.dumps(model)
    assert b"_thread" not in data and b"lock" not in data.lower()
    loaded = pickle.loads(data)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded._compile_args["metrics"] == ["mae"]
    assert loaded.optimizer.iterations == model.optimizer.iterations
    functional_in = fastnn.Input(shape=(4,))
    functional = fastnn.Model(functional_in, layers.Dense(2)(functional_in))
    again = pickle.loads(pickle.dumps(functional))
    np.testing.assert_array_equal(again.predict(X, verbose=0), functional.predict(X, verbose=0))


def test_copy_copy_is_independent_too():
    model = _model()
    clone = copy.copy(model)
    assert clone.layers[0].kernel is not model.layers[0].kernel
    np.testing.assert_array_equal(clone.predict(X, verbose=0), model.predict(X, verbose=0))


def test_weighted_metrics_round_trip(tmp_path):
    """Keras' second metric list is saved and restored with the first (whatever
    compile keeps of it)."""
    model = _model(metrics=["mae"], weighted_metrics=["mse"])
    model.save(tmp_path / "m.fastnn")
    loaded = load_model(tmp_path / "m.fastnn")
    for key in ("metrics", "weighted_metrics"):
        assert loaded._compile_args.get(key) == model._compile_args.get(key)
    weights = np.linspace(0.0, 2.0, len(X))
    assert (loaded.evaluate(X, Y, sample_weight=weights, verbose=0, return_dict=True)
            == model.evaluate(X, Y, sample_weight=weights, verbose=0, return_dict=True))


def test_unbuilt_model_copy_error_is_clear():
    model = fastnn.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match="Pickling or copying needs a built model"):
        copy.deepcopy(model)
