"""Saving and loading: round trips with optimizer state, atomic writes, bad files."""

import json
import os
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.models import load_model
from fastnn.utils.files import atomic_write

# Every test here runs once per backend (conftest's ops_backend), so the API behaves the
# same on NumPy and on the native kernels.
pytestmark = pytest.mark.usefixtures("ops_backend")


def _trained_model(seed=0):
    fastnn.utils.set_random_seed(seed)
    model = fastnn.Sequential([
        layers.Dense(16, activation="relu", input_dim=6, kernel_regularizer="l2"),
        layers.Dropout(0.2, seed=3),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    return model


def _data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)


def test_round_trip_architecture_weights_and_optimizer_state(tmp_path):
    model = _trained_model()
    path = tmp_path / "model.fastnn"
    model.save(path)
    loaded = load_model(path)
    x, y = _data()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    # continuing training gives the same weights as continuing the original
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_functional_model_round_trip(tmp_path):
    a, b = fastnn.Input(shape=(4,)), fastnn.Input(shape=(3,))
    out = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([layers.Dense(5)(a), b]))
    model = fastnn.Model([a, b], out)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    path = tmp_path / "f.fastnn"
    model.save(path)
    loaded = load_model(path)
    xs = [np.ones((2, 4), "float32"), np.ones((2, 3), "float32")]
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0))


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    model = _trained_model()
    path = tmp_path / "m.fastnn"
    model.save(path)
    model.save(path)  # overwrite
    assert sorted(os.listdir(tmp_path)) == ["m.fastnn"]
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]  # the temporary file is removed
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "f.bin", lambda f: f.write(b""))


def test_training_state_round_trip(tmp_path):
    """The trainer hook BackupAndRestore uses: save_training_state writes the model plus
    the random states and the next epoch; load_training_state puts them back."""
    model = _trained_model()
    path = tmp_path / "backup.fastnn"
    global_state = fastnn.utils.random.get_state()
    model.save_training_state(path, epoch=3)
    with zipfile.ZipFile(path) as zf:
        state = json.loads(zf.read("metadata.json"))["training_state"]
    assert state["epoch"] == 3 and state["global_rng"] == global_state
    assert state["fit_rng"] == model._fit_rng.bit_generator.state
    assert [s is None for s in state["layer_rng_states"]] == [True, False, True]

    other = _trained_model(seed=5)
    fastnn.utils.set_random_seed(99)
    assert other.load_training_state(path) == 3
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert fastnn.utils.random.get_state() == global_state
    assert other._fit_rng.bit_generator.state == state["fit_rng"]
    assert other._resume_epoch == 3
    # a plain model file holds no training state
    model.save(tmp_path / "plain.fastnn")
    with pytest.raises(ValueError, match="training state"):
        other.load_training_state(tmp_path / "plain.fastnn")


def test_save_weights_and_load_weights(tmp_path):
    model = _trained_model()
    other = _trained_model(seed=5)
    model.save_weights(tmp_path / "w.npz")
    other.load_weights(tmp_path / "w.npz")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_file_without_pickle_or_code(tmp_path):
    model = _trained_model()
    path = tmp_path / "m.fastnn"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {"metadata.json", "config.json", "weights.npz",
                                      "optimizer.npz"}
        config = json.loads(zf.read("config.json"))
    assert config["class_name"] == "Sequential"
    text = json.dumps(config)
    assert "fastnn." not in text and "module" not in text


# ----------------------------------------------------------------- hostile / broken files
def _rewrite(src, dst, replace=None, drop=()):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if replace and name in replace:
                data = replace[name](data)
            zout.writestr(name, data)


def test_not_a_model_file(tmp_path):
    p = tmp_path / "x.fastnn"
    p.write_text("hello")
    with pytest.raises(ValueError, match="not a valid fastnn model"):
        load_model(p)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.fastnn")


def test_truncated_file(tmp_path):
    model = _trained_model()
    path = tmp_path / "m.fastnn"
    model.save(path)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.fastnn"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="not a valid fastnn model"):
            load_model(bad)


def test_wrong_format_version_and_unknown_layer(tmp_path):
    model = _trained_model()
    path = tmp_path / "m.fastnn"
    model.save(path)

    def bump(data):
        meta = json.loads(data)
        meta["format_version"] = 99
        return json.dumps(meta).encode()

    _rewrite(path, tmp_path / "v.fastnn", {"metadata.json": bump})
    with pytest.raises(ValueError, match="format_version"):
        load_model(tmp_path / "v.fastnn")

    def evil_layer(data):
        cfg = json.loads(data)
        cfg["config"]["layers"][1]["class_name"] = "os.system"
        return json.dumps(cfg).encode()

    _rewrite(path, tmp_path / "u.fastnn", {"config.json": evil_layer})
    with pytest.raises(ValueError, match="Unknown layer class"):
        load_model(tmp_path / "u.fastnn")


def test_weights_that_do_not_match_the_architecture(tmp_path):
    import io

    model = _trained_model()
    path = tmp_path / "m.fastnn"
    model.save(path)

    def wrong_shapes(_):
        buf = io.BytesIO()
        np.savez(buf, **{f"w{i:03d}": np.zeros((2, 2), "float32") for i in range(4)})
        return buf.getvalue()

    _rewrite(path, tmp_path / "s.fastnn", {"weights.npz": wrong_shapes})
    with pytest.raises(ValueError, match="shape"):
        load_model(tmp_path / "s.fastnn")

    def object_array(_):
        buf = io.BytesIO()
        np.savez(buf, w000=np.array([{"a": 1}], dtype=object))
        return buf.getvalue()

    _rewrite(path, tmp_path / "o.fastnn", {"weights.npz": object_array})
    with pytest.raises(ValueError):
        load_model(tmp_path / "o.fastnn")


def test_extra_members_and_path_traversal_refused(tmp_path):
    model = _trained_model()
    path = tmp_path / "m.fastnn"
    model.save(path)
    bad = tmp_path / "t.fastnn"
    _rewrite(path, bad)
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("../../evil.py", "print('pwned')")
    with pytest.raises(ValueError, match="unexpected members"):
        load_model(bad)
    assert not (tmp_path.parent / "evil.py").exists()
