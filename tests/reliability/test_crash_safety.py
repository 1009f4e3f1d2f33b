"""Crash-safe saving and resuming.

* A process killed with SIGKILL at random moments while it saves (``model.save``,
  ``ModelCheckpoint``) always leaves the previous file loadable and whole.
* ``fit`` resumed with ``BackupAndRestore`` (weights, optimizer state, epoch, global and
  shuffling RNG states, Dropout streams) ends with bit-identical weights to the same run
  uninterrupted, including when the training process is killed with SIGKILL.

Fast variants run in the default suite; ``pytest -m slow`` runs the long ones.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastnn
from fastnn import callbacks, layers
from fastnn.models import load_model

HERE = os.path.dirname(os.path.abspath(__file__))
# the directory holding the fastnn this test imported (the installed one in CI), so the
# worker never imports an unbuilt source tree
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
WORKER = os.path.join(HERE, "_resume_worker.py")

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")


def _model(units=256, seed=0):
    fastnn.utils.set_random_seed(seed)
    model = fastnn.Sequential([
        layers.Dense(units, activation="relu", input_dim=64),
        layers.Dropout(0.1, seed=1),
        layers.Dense(units, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 64)), rng.integers(0, 10, 64), epochs=1, verbose=0)
    return model


def _fork(target):
    """Run ``target()`` in a forked child that never returns into pytest."""
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            target()
        except BaseException:  # noqa: BLE001 - the exit code reports it
            code = 1
        finally:
            os._exit(code)
    return pid


def _kill(pid):
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return status


def _temp_files(directory):
    return [n for n in os.listdir(directory) if n.startswith(".fastnn-")]


def sigkill_during_save(tmp_path, kills, seed=0):
    """Kill a process that saves versions 1, 2, 3, ... of a model in a loop; after each
    kill, the file must load and hold one whole version.  Returns (kills that
    interrupted a write, largest version seen)."""
    model = _model()
    shapes = [w.shape for w in model.get_weights()]
    path = tmp_path / "model.fastnn"
    model.set_weights([np.zeros(s, "float32") for s in shapes])
    model.save(path)  # version 0: every weight holds the version number (exact < 2**24)
    rng = np.random.default_rng(seed)
    interrupted, versions = 0, set()
    for k in range(kills):
        start = (k * 1000) + 1

        def loop(start=start):
            version = start
            while True:
                model.set_weights([np.full(s, version, "float32") for s in shapes])
                model.save(path)
                version += 1

        pid = _fork(loop)
        time.sleep(float(rng.uniform(0.005, 0.08)))
        _kill(pid)
        leftovers = _temp_files(tmp_path)
        interrupted += bool(leftovers)
        for name in leftovers:  # a killed writer leaves its temporary file behind
            os.unlink(tmp_path / name)
        loaded = load_model(path)
        weights = loaded.get_weights()
        version = float(weights[0].flat[0])
        for w in weights:  # every array of one and the same version
            np.testing.assert_array_equal(w, np.full(w.shape, version, "float32"))
        versions.add(int(version))
    return interrupted, versions


def test_sigkill_during_model_save_leaves_the_previous_file(tmp_path):
    interrupted, versions = sigkill_during_save(tmp_path, kills=20)
    assert interrupted >= 5, "the kills should land inside writes"
    assert len(versions) > 1


@pytest.mark.slow
def test_sigkill_during_model_save_long(tmp_path):
    interrupted, versions = sigkill_during_save(tmp_path, kills=500, seed=1)
    print(f"\n[reliability] save kills=500 interrupted_writes={interrupted} "
          f"versions={len(versions)}")
    assert interrupted >= 100


def sigkill_during_checkpoint(tmp_path, kills, seed=0, save_weights_only=False):
    """Kill a process training with ModelCheckpoint(save_freq=1) at random moments."""
    fastnn.utils.set_random_seed(seed)
    model = _model(units=128)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 64)).astype("float32")
    y = rng.integers(0, 10, 256)
    path = tmp_path / ("ckpt.weights.npz" if save_weights_only else "ckpt.fastnn")
    ckpt = callbacks.ModelCheckpoint(str(path), save_freq=1,
                                     save_weights_only=save_weights_only)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[ckpt])
    interrupted = 0
    for _ in range(kills):
        pid = _fork(lambda: model.fit(x, y, epochs=10**6, batch_size=64, verbose=0,
                                      callbacks=[ckpt]))
        time.sleep(float(rng.uniform(0.01, 0.1)))
        _kill(pid)
        leftovers = _temp_files(tmp_path)
        interrupted += bool(leftovers)
        for name in leftovers:
            os.unlink(tmp_path / name)
        if save_weights_only:
            model.load_weights(path)
        else:
            loaded = load_model(path)
            assert loaded.optimizer.iterations > 0
        assert all(np.isfinite(w).all() for w in model.get_weights())
    return interrupted


def test_sigkill_during_model_checkpoint(tmp_path):
    sigkill_during_checkpoint(tmp_path, kills=10)
    sigkill_during_checkpoint(tmp_path, kills=5, save_weights_only=True)


@pytest.mark.slow
def test_sigkill_during_model_checkpoint_long(tmp_path):
    a = sigkill_during_checkpoint(tmp_path, kills=150, seed=3)
    b = sigkill_during_checkpoint(tmp_path, kills=50, seed=4, save_weights_only=True)
    print(f"\n[reliability] checkpoint kills=200 interrupted_writes={a + b}")


# ----------------------------------------------------------------- resuming in-process
class _Interrupt(Exception):
    pass


class _StopAt(callbacks.Callback):
    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch = epoch, batch
        self.current = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.batch is not None and self.current == self.epoch and batch == self.batch:
            raise _Interrupt

    def on_epoch_end(self, epoch, logs=None):
        if self.batch is None and epoch == self.epoch:
            raise _Interrupt


def _resume_model(optimizer="adam"):
    fastnn.utils.set_random_seed(42)
    model = fastnn.Sequential([
        layers.Dense(32, activation="relu", input_dim=8),
        layers.Dropout(0.3),
        layers.BatchNormalization(),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _resume_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 8)).astype("float32"), rng.integers(0, 3, 300)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adagrad", "adamw"])
@pytest.mark.parametrize("stop", [(0, None), (2, None), (3, 4)])
def test_backup_and_restore_resumes_bit_identically(tmp_path, optimizer, stop):
    x, y = _resume_data()
    kwargs = dict(epochs=6, batch_size=16, validation_split=0.2, verbose=0)
    reference = _resume_model(optimizer)
    reference.fit(x, y, **kwargs)
    expected = reference.get_weights()
    after = fastnn.utils.random.get_state()

    backup = tmp_path / "backup"
    model = _resume_model(optimizer)
    with pytest.raises(_Interrupt):
        model.fit(x, y, callbacks=[callbacks.BackupAndRestore(backup), _StopAt(*stop)],
                  **kwargs)
    assert os.listdir(backup) == ["latest.fastnn"]
    resumed = _resume_model(optimizer)  # a fresh process would rebuild it like this
    history = resumed.fit(x, y, callbacks=[callbacks.BackupAndRestore(backup)], **kwargs)
    assert history.epoch[0] == stop[0] + (1 if stop[1] is None else 0)
    for a, b in zip(expected, resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert fastnn.utils.random.get_state() == after
    assert not backup.exists() or os.listdir(backup) == []  # deleted at the end


def test_backup_and_restore_bad_backups(tmp_path):
    x, y = _resume_data()
    backup = tmp_path / "b"
    model = _resume_model()
    with pytest.raises(_Interrupt):
        model.fit(x, y, epochs=4, verbose=0, callbacks=[
            callbacks.BackupAndRestore(backup, double_checkpoint=True), _StopAt(1)])
    assert sorted(os.listdir(backup)) == ["latest.fastnn", "previous.fastnn"]
    (backup / "latest.fastnn").write_bytes(b"garbage")
    # double_checkpoint: falls back to the previous backup (after epoch 0)
    h = _resume_model().fit(x, y, epochs=4, verbose=0, callbacks=[
        callbacks.BackupAndRestore(backup, double_checkpoint=True, delete_checkpoint=False)])
    assert h.epoch == [1, 2, 3]
    (backup / "latest.fastnn").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be restored"):
        _resume_model().fit(x, y, epochs=4, verbose=0,
                            callbacks=[callbacks.BackupAndRestore(backup)])
    # a backup from another architecture is refused, not half-applied
    model = _resume_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        callbacks.BackupAndRestore(tmp_path / "c", delete_checkpoint=False)])
    other = fastnn.Sequential([layers.Dense(4, input_dim=8), layers.Dense(3)])
    other.compile(optimizer="adam", loss="mse")
    before = other.get_weights()
    with pytest.raises(ValueError, match="cannot be restored"):
        other.fit(x, np.zeros((300, 3)), epochs=2, verbose=0,
                  callbacks=[callbacks.BackupAndRestore(tmp_path / "c")])
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a plain saved model is not a backup
    os.makedirs(tmp_path / "d")
    model.save(tmp_path / "d" / "latest.fastnn")
    with pytest.raises(ValueError, match="training state"):
        _resume_model().fit(x, y, epochs=2, verbose=0,
                            callbacks=[callbacks.BackupAndRestore(tmp_path / "d")])


@pytest.mark.parametrize("bad", [dict(save_freq=5), dict(backup_dir=""),
                                 dict(backup_dir=None)])
def test_backup_and_restore_arguments(tmp_path, bad):
    kwargs = {"backup_dir": tmp_path, **bad}
    with pytest.raises(ValueError):
        callbacks.BackupAndRestore(**kwargs)


# ----------------------------------------------------------------- resuming after SIGKILL
def _run_worker(args, kill_after=None, timeout=300):
    """Run the worker; with ``kill_after=(epochs, seconds)``, SIGKILL it ``seconds``
    after it reported that many finished epochs (or when it ends first).  Returns True
    when it finished."""
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen([sys.executable, WORKER, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        if kill_after is None:
            out, _ = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, out
            return True
        epochs, seconds = kill_after
        seen = 0
        for line in proc.stdout:
            if line.startswith("done"):
                break
            if line.startswith("epoch"):
                seen += 1
                if seen >= epochs:
                    break
        time.sleep(seconds)
        proc.kill()
        rest = proc.stdout.read()
        proc.wait(timeout=60)
        return "done" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def sigkill_and_resume(tmp_path, kills, epochs, seed=0, max_epochs_per_run=3):
    """Train ``epochs`` epochs with BackupAndRestore in a process killed at a random
    moment (after 1 to ``max_epochs_per_run`` epochs, then 0-20 ms into the next),
    restarted until it finishes; its weights must equal an uninterrupted run's."""
    ref = tmp_path / "reference.npz"
    _run_worker(["train", "-", str(ref), str(epochs)])
    out = tmp_path / "resumed.npz"
    backup = tmp_path / "backup"
    rng = np.random.default_rng(seed)
    done, killed = False, 0
    while killed < kills and not done:
        when = (int(rng.integers(1, max_epochs_per_run + 1)), float(rng.uniform(0, 0.02)))
        done = _run_worker(["train", str(backup), str(out), str(epochs)], kill_after=when)
        killed += not done
    if not done:
        _run_worker(["train", str(backup), str(out), str(epochs)])
    with np.load(ref) as a, np.load(out) as b:
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    return killed


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    assert sigkill_and_resume(tmp_path, kills=3, epochs=10) >= 2


@pytest.mark.slow
def test_sigkill_then_resume_long(tmp_path):
    killed = sigkill_and_resume(tmp_path, kills=50, epochs=150, seed=7)
    print(f"\n[reliability] resume kills={killed}")
    assert killed >= 30
