"""Callbacks and the progress display, driven by a stand-in model and synthetic logs.

Integration with the real training loop is tested with the models; here each
callback's rules (patience, cooldown, file names, output format) are checked
on exact sequences of logs.
"""

import io
import math
import os
import re
import sys
import warnings

import numpy as np
import pytest

from fastnn import callbacks
from fastnn.utils import progbar as progbar_module
from fastnn.utils.progbar import Progbar
from fastnn.utils.validation import ArgumentTypeError


class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate


class FakeModel:
    """The part of the model interface callbacks use."""

    def __init__(self, learning_rate=0.1):
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.weights = [np.zeros(2)]
        self.saved = []
        self.history = None

    def get_weights(self):
        # Hands out the live buffer, as a model with preallocated weights might.
        return self.weights

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, filepath):
        with open(filepath, "w") as f:
            f.write("model")
        self.saved.append(("model", filepath))

    def save_weights(self, filepath):
        with open(filepath, "w") as f:
            f.write("weights")
        self.saved.append(("weights", filepath))


def run_epochs(callback, values, model=None, key="val_loss", extra=None):
    """Feeds one monitored value per epoch, setting the weights to the epoch
    index first so restored weights tell which epoch they came from. Returns
    the model and the number of epochs run before the loop would stop."""
    model = model or FakeModel()
    cbl = callbacks.CallbackList([callback], model=model, epochs=len(values), steps=1, verbose=0)
    cbl.on_train_begin()
    epochs_run = 0
    for epoch, value in enumerate(values):
        cbl.on_epoch_begin(epoch)
        model.weights[0][:] = epoch  # in place, as an optimizer would
        logs = {key: value, **(extra or {})}
        cbl.on_epoch_end(epoch, logs)
        epochs_run += 1
        if model.stop_training:
            break
    cbl.on_train_end()
    return model, epochs_run


# --------------------------------------------------------------------------- #
# Callback and CallbackList
# --------------------------------------------------------------------------- #


class Recorder(callbacks.Callback):
    def __init__(self, name, events):
        super().__init__()
        self.name = name
        self.events = events

    def __getattribute__(self, attr):
        if attr.startswith("on_"):
            events = object.__getattribute__(self, "events")
            name = object.__getattribute__(self, "name")

            def hook(*args, **kwargs):
                events.append((name, attr, args, kwargs))

            return hook
        return object.__getattribute__(self, attr)


def test_callback_list_dispatches_every_hook_in_order():
    events = []
    a, b = Recorder("a", events), Recorder("b", events)
    cbl = callbacks.CallbackList([a, b])
    cbl.on_train_begin()
    cbl.on_epoch_begin(0)
    cbl.on_train_batch_begin(0)
    cbl.on_train_batch_end(0, {"loss": 1.0})
    cbl.on_test_begin()
    cbl.on_test_batch_begin(0)
    cbl.on_test_batch_end(0, {"loss": 2.0})
    cbl.on_test_end({"loss": 2.0})
    cbl.on_epoch_end(0, {"loss": 1.0})
    cbl.on_train_end()
    cbl.on_predict_begin()
    cbl.on_predict_batch_begin(0)
    cbl.on_predict_batch_end(0)
    cbl.on_predict_end()
    hooks = [
        "on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
        "on_epoch_end", "on_train_end", "on_predict_begin", "on_predict_batch_begin",
        "on_predict_batch_end", "on_predict_end",
    ]
    assert [(n, h) for n, h, _, _ in events] == [(n, h) for h in hooks for n in "ab"]
    # Keras calling conventions: batch hooks get logs by keyword, others by position.
    _, _, args, kwargs = events[6]
    assert args == (0,) and kwargs == {"logs": {"loss": 1.0}}
    _, _, args, kwargs = events[16]
    assert args == (0, {"loss": 1.0}) and kwargs == {}
    # Missing logs become an empty dict, never None.
    assert events[0][2] == ({},)


def test_callback_list_shares_one_logs_dict_between_callbacks():
    seen = []
    adder = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(extra=1.0))
    reader = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(dict(logs)))
    callbacks.CallbackList([adder, reader]).on_epoch_end(0, {"loss": 1.0})
    assert seen == [{"loss": 1.0, "extra": 1.0}]


def test_callback_list_adds_history_and_progbar_last():
    user = callbacks.Callback()
    given = [user]
    model = FakeModel()
    cbl = callbacks.CallbackList(
        given, add_history=True, add_progbar=True, model=model, epochs=2, steps=3, verbose=0
    )
    assert given == [user]  # the caller's list is not modified
    assert cbl.callbacks[0] is user
    assert isinstance(cbl.callbacks[1], callbacks.History)
    assert isinstance(cbl.callbacks[2], callbacks.ProgbarLogger)
    assert cbl.history is cbl.callbacks[1]
    assert model.history is cbl.history
    for cb in cbl.callbacks:
        assert cb.model is model
        assert cb.params == {"epochs": 2, "steps": 3, "verbose": 0}


def test_callback_list_keeps_a_given_history():
    history = callbacks.History()
    cbl = callbacks.CallbackList([history], add_history=True, add_progbar=False)
    assert cbl.history is history
    assert len(cbl.callbacks) == 1
    assert callbacks.CallbackList().history is None


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match="Callback"):
        callbacks.CallbackList([object()])


def test_train_batch_hooks_forward_to_the_old_batch_names():
    seen = []

    class Old(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, logs))

    cbl = callbacks.CallbackList([Old()])
    cbl.on_train_batch_begin(3)
    cbl.on_train_batch_end(3, {"loss": 0.5})
    assert seen == [("begin", 3), ("end", 3, {"loss": 0.5})]


def test_subclass_without_super_init_still_works():
    class Bare(callbacks.Callback):
        def __init__(self):
            pass

    cb = Bare()
    assert cb.model is None and cb.params is None
    cb.on_train_batch_end(0, {})  # the base hooks run without __init__ state


# --------------------------------------------------------------------------- #
# History
# --------------------------------------------------------------------------- #


def test_history_records_each_epoch():
    model = FakeModel()
    cbl = callbacks.CallbackList(add_history=True, model=model)
    cbl.on_train_begin()
    for epoch in range(3):
        cbl.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0})
    cbl.on_train_end()
    history = cbl.history
    assert history.epoch == [0, 1, 2]
    assert history.history == {"loss": [1.0, 0.5, 1.0 / 3], "val_loss": [2.0, 2.0, 2.0]}
    assert model.history is history


# --------------------------------------------------------------------------- #
# EarlyStopping
# --------------------------------------------------------------------------- #


def test_early_stopping_patience():
    es = callbacks.EarlyStopping(monitor="val_loss", patience=2)
    # Best at epoch 1; epochs 2 and 3 do not improve, so training stops at 3.
    _, run = run_epochs(es, [1.0, 0.5, 0.6, 0.7, 0.1, 0.1])
    assert run == 4
    assert es.stopped_epoch == 3
    assert es.best == 0.5
    assert es.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    es = callbacks.EarlyStopping(monitor="loss")
    _, run = run_epochs(es, [1.0, 0.9, 0.95, 0.1], key="loss")
    assert run == 3 and es.stopped_epoch == 2


def test_early_stopping_min_delta_ignores_small_improvements():
    es = callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.1)
    # 0.95 and 0.91 are within 0.1 of the best (1.0): no improvement.
    _, run = run_epochs(es, [1.0, 0.95, 0.91, 0.5])
    assert run == 2 and es.best == 1.0
    # The sign of min_delta does not matter.
    assert callbacks.EarlyStopping(min_delta=-0.1).min_delta == 0.1


@pytest.mark.parametrize(
    "monitor, mode, values, stop_epoch",
    [
        ("val_accuracy", "auto", [0.5, 0.6, 0.55], 2),  # auto -> max from the name
        ("val_auc", "auto", [0.5, 0.6, 0.55], 2),
        ("val_loss", "auto", [0.5, 0.6, 0.55], 1),  # auto -> min
        ("val_loss", "max", [0.5, 0.6, 0.55], 2),
        ("val_accuracy", "min", [0.5, 0.6, 0.55], 1),
    ],
)
def test_early_stopping_mode(monitor, mode, values, stop_epoch):
    es = callbacks.EarlyStopping(monitor=monitor, mode=mode)
    run_epochs(es, values, key=monitor)
    assert es.stopped_epoch == stop_epoch


def test_early_stopping_restores_best_weights_when_stopped(capsys):
    es = callbacks.EarlyStopping(patience=1, restore_best_weights=True, verbose=1)
    model, run = run_epochs(es, [1.0, 0.2, 0.3, 0.4])
    assert run == 3
    # Weights were set to the epoch index in place; the copy taken at epoch 1
    # survives the later in-place updates.
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_early_stopping_restores_best_weights_at_end_even_without_stopping():
    es = callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    model, run = run_epochs(es, [1.0, 0.2, 0.3])
    assert run == 3 and es.stopped_epoch == 0
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])


def test_early_stopping_without_restore_keeps_last_weights():
    model, _ = run_epochs(callbacks.EarlyStopping(patience=1), [1.0, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(model.weights[0], [2.0, 2.0])


def test_early_stopping_baseline():
    # Improving but never beating the baseline does not reset patience...
    es = callbacks.EarlyStopping(patience=2, baseline=0.5)
    _, run = run_epochs(es, [0.9, 0.9, 0.9, 0.9])
    assert run == 2 and es.stopped_epoch == 1
    # ...while beating it does.
    es = callbacks.EarlyStopping(patience=2, baseline=0.5)
    _, run = run_epochs(es, [0.4, 0.4, 0.4, 0.4])
    assert run == 3 and es.stopped_epoch == 2


def test_early_stopping_start_from_epoch():
    es = callbacks.EarlyStopping(patience=0, start_from_epoch=2)
    # Epochs 0 and 1 get worse but are not monitored.
    _, run = run_epochs(es, [0.1, 0.9, 0.5, 0.4, 0.45])
    assert run == 5 and es.stopped_epoch == 4 and es.best == 0.4


def test_early_stopping_is_reset_for_each_fit():
    es = callbacks.EarlyStopping(patience=0)
    run_epochs(es, [1.0, 2.0])
    assert es.stopped_epoch == 1
    _, run = run_epochs(es, [5.0, 4.0, 3.0])  # a fresh best, no stop
    assert run == 3 and es.stopped_epoch == 0 and es.best == 3.0


def test_early_stopping_warns_once_when_metric_missing():
    es = callbacks.EarlyStopping(monitor="val_accuracy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, run = run_epochs(es, [1.0, 2.0, 3.0], key="loss")
    assert run == 3 and not model.stop_training
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert "val_accuracy" in messages[0] and "loss" in messages[0]


# --------------------------------------------------------------------------- #
# ModelCheckpoint
# --------------------------------------------------------------------------- #


def test_model_checkpoint_formats_epoch_and_metrics_in_the_name(tmp_path):
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{val_loss:.2f}.fnn")
    mc = callbacks.ModelCheckpoint(pattern)
    model, _ = run_epochs(mc, [0.5, 0.25, 0.75])
    names = sorted(os.listdir(tmp_path / "ckpt"))  # the folder is created
    assert names == ["model-01-0.50.fnn", "model-02-0.25.fnn", "model-03-0.75.fnn"]
    assert [kind for kind, _ in model.saved] == ["model"] * 3


def test_model_checkpoint_save_best_only(tmp_path, capsys):
    path = str(tmp_path / "best-{epoch}.fnn")
    mc = callbacks.ModelCheckpoint(path, save_best_only=True, verbose=1)
    model, _ = run_epochs(mc, [0.5, 0.7, 0.3, 0.4])
    assert [os.path.basename(p) for _, p in model.saved] == ["best-1.fnn", "best-3.fnn"]
    assert mc.best == 0.3
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from None to 0.50000" in out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out
    assert "Epoch 3: val_loss improved from 0.50000 to 0.30000" in out


def test_model_checkpoint_best_only_max_mode_and_threshold(tmp_path):
    path = str(tmp_path / "w.weights.npz")
    mc = callbacks.ModelCheckpoint(
        path, monitor="val_accuracy", save_best_only=True, save_weights_only=True,
        initial_value_threshold=0.6,
    )
    model, _ = run_epochs(mc, [0.5, 0.7, 0.65, 0.8], key="val_accuracy")
    assert len(model.saved) == 2  # 0.5 is below the threshold, 0.65 below the best
    assert all(kind == "weights" for kind, _ in model.saved)
    assert mc.best == 0.8


def test_model_checkpoint_best_only_without_metric_saves_with_warning(tmp_path):
    mc = callbacks.ModelCheckpoint(str(tmp_path / "m.fnn"), save_best_only=True)
    with pytest.warns(UserWarning, match="val_loss"):
        model, _ = run_epochs(mc, [0.5], key="loss")
    assert len(model.saved) == 1


def test_model_checkpoint_every_n_batches(tmp_path):
    path = str(tmp_path / "e{epoch}-b{batch}.fnn")
    mc = callbacks.ModelCheckpoint(path, save_freq=3)
    model = FakeModel()
    cbl = callbacks.CallbackList([mc], model=model)
    cbl.on_train_begin()
    for epoch in range(2):
        cbl.on_epoch_begin(epoch)
        for batch in range(4):
            cbl.on_train_batch_end(batch, {"loss": 1.0})
        cbl.on_epoch_end(epoch, {"loss": 1.0})
    cbl.on_train_end()
    # The count runs across epochs: batches 3, 6 of 8 in total.
    assert [os.path.basename(p) for _, p in model.saved] == ["e1-b3.fnn", "e2-b2.fnn"]


def test_model_checkpoint_bad_name_field(tmp_path):
    mc = callbacks.ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.fnn"))
    with pytest.raises(KeyError, match="val_acc"):
        run_epochs(mc, [0.5])


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "ckpt/{epoch:02d}.hdf5", "M.H5",
                                  "m.onnx"])
@pytest.mark.parametrize("weights_only", [False, True])
def test_model_checkpoint_refuses_a_foreign_extension_at_construction(
        name, weights_only, tmp_path):
    import fastnn
    from fastnn import layers

    path = str(tmp_path / name)
    with pytest.raises(ValueError) as refused:
        callbacks.ModelCheckpoint(path, save_weights_only=weights_only)
    # the very message model.save / save_weights gives for that name
    model = fastnn.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    with pytest.raises(ValueError) as saving:
        (model.save_weights if weights_only else model.save)(path)
    assert str(refused.value) == str(saving.value)
    assert ("'.npz'" if weights_only else "'.fastnn'") in str(refused.value)
    assert not os.listdir(tmp_path)


def test_model_checkpoint_accepts_fastnn_names(tmp_path):
    for name, weights_only in [("m.fastnn", False), ("m.npz", True), ("m-{val_loss:.2f}", False),
                               ("m.weights.npz", True)]:
        callbacks.ModelCheckpoint(str(tmp_path / name), save_weights_only=weights_only)


def test_model_checkpoint_refuses_a_directory(tmp_path):
    mc = callbacks.ModelCheckpoint(str(tmp_path))
    with pytest.raises(IsADirectoryError, match="directory"):
        run_epochs(mc, [0.5])


# --------------------------------------------------------------------------- #
# ReduceLROnPlateau
# --------------------------------------------------------------------------- #


def lr_trace(callback, values, lr=1.0):
    """The learning rate logged at each epoch and the final one."""
    model = FakeModel(learning_rate=lr)
    cbl = callbacks.CallbackList([callback], model=model)
    cbl.on_train_begin()
    logged = []
    for epoch, value in enumerate(values):
        logs = {"val_loss": value}
        cbl.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
    cbl.on_train_end()
    return logged, model.optimizer.learning_rate


def test_reduce_lr_on_plateau_patience():
    rlr = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    logged, final = lr_trace(rlr, [1.0, 1.0, 1.0, 1.0, 1.0])
    # Reductions after epochs 2 and 4; logs show the rate used in each epoch.
    assert logged == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert final == 0.25


def test_reduce_lr_on_plateau_improvement_resets_wait():
    rlr = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    _, final = lr_trace(rlr, [1.0, 1.0, 0.5, 0.5, 0.1])
    assert final == 1.0
    # min_delta: improvements of 1e-5 do not count.
    rlr = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    _, final = lr_trace(rlr, [1.0, 1.0 - 1e-5, 1.0 - 2e-5])
    assert final == 0.5


def test_reduce_lr_on_plateau_cooldown():
    rlr = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    logged, final = lr_trace(rlr, [1.0] * 7)
    # As in Keras, the counter is decremented before the epoch is judged, so
    # with cooldown=2 one epoch after a reduction is skipped and the next one
    # already counts: reductions after epochs 1, 3 and 5.
    assert logged == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    assert final == 0.125
    # Without cooldown every stalled epoch reduces (patience=1).
    logged, _ = lr_trace(callbacks.ReduceLROnPlateau(factor=0.5, patience=1), [1.0] * 4)
    assert logged == [1.0, 1.0, 0.5, 0.25]


def test_reduce_lr_on_plateau_min_lr(capsys):
    rlr = callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05, verbose=1)
    logged, final = lr_trace(rlr, [1.0] * 5)
    assert final == 0.05
    assert logged[-1] == 0.05
    out = capsys.readouterr().out
    assert out.count("ReduceLROnPlateau reducing learning rate") == 2  # 0.1, then 0.05
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.1" in out


def test_reduce_lr_on_plateau_min_lr_stored_as_float32():
    # A rate kept in float32 reads back just above the float64 min_lr; it must
    # count as having reached it.
    rlr = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_lr=0.001, verbose=1)
    model = FakeModel(learning_rate=float(np.float32(0.001)))
    cbl = callbacks.CallbackList([rlr], model=model)
    cbl.on_train_begin()
    for epoch in range(3):
        cbl.on_epoch_end(epoch, {"val_loss": 1.0})
    assert model.optimizer.learning_rate == float(np.float32(0.001))


def test_reduce_lr_on_plateau_max_mode():
    rlr = callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    model = FakeModel(learning_rate=1.0)
    cbl = callbacks.CallbackList([rlr], model=model)
    cbl.on_train_begin()
    for epoch, acc in enumerate([0.5, 0.6, 0.7, 0.7]):
        cbl.on_epoch_end(epoch, {"val_accuracy": acc})
    assert model.optimizer.learning_rate == 0.5  # only the last epoch stalls


# --------------------------------------------------------------------------- #
# A NaN monitored value (MonitorCallback): never an improvement, never the best.
# Keras 3 takes a first NaN as the best value and then freezes; fastnn does not.
# --------------------------------------------------------------------------- #

NAN = math.nan


@pytest.mark.parametrize("monitor, values, best", [
    ("val_loss", [NAN, 1.0, 0.5, 0.6, 0.7], 0.5),
    ("val_loss", [NAN, NAN, 0.8, NAN, 0.3], 0.3),
    ("val_accuracy", [NAN, 0.5, 0.9, 0.8, 0.7], 0.9),
])
def test_nan_is_never_an_improvement(monitor, values, best):
    cb = callbacks.EarlyStopping(monitor=monitor)
    for current, reference in [(NAN, None), (NAN, 1.0), (NAN, NAN)]:
        assert not cb._is_improvement(current, reference)
    assert cb._is_improvement(1.0, NAN)  # a NaN set by hand counts as no reference
    es = callbacks.EarlyStopping(monitor=monitor, patience=10, restore_best_weights=True)
    model, _ = run_epochs(es, values, key=monitor)
    assert es.best == best
    # the weights put back are those of the best finite epoch
    np.testing.assert_array_equal(model.weights[0], values.index(best))


def test_early_stopping_after_a_first_nan_counts_patience_from_the_finite_best():
    es = callbacks.EarlyStopping(patience=2)
    _, run = run_epochs(es, [NAN, 1.0, 0.5, 0.6, 0.7, 0.1])
    assert es.best == 0.5 and es.best_epoch == 2
    assert run == 5 and es.stopped_epoch == 4  # 0.6 and 0.7: two epochs without gain
    # only NaN: every epoch is one without improvement, the first included
    es = callbacks.EarlyStopping(patience=2)
    _, run = run_epochs(es, [NAN] * 5)
    assert es.best is None and run == 2 and es.stopped_epoch == 1


def test_model_checkpoint_best_only_skips_a_first_nan(tmp_path):
    path = str(tmp_path / "best-{epoch}.fnn")
    mc = callbacks.ModelCheckpoint(path, save_best_only=True)
    model, _ = run_epochs(mc, [NAN, 0.7, NAN, 0.3, 0.4])
    assert [os.path.basename(p) for _, p in model.saved] == ["best-2.fnn", "best-4.fnn"]
    assert mc.best == 0.3


def test_reduce_lr_on_plateau_after_a_first_nan_sees_improvements():
    rlr = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    # the finite values improve every epoch: no reduction (Keras would reduce
    # twice, every finite value failing to beat the NaN)
    logged, final = lr_trace(rlr, [NAN, 1.0, 0.9, 0.8, 0.7, 0.6])
    assert rlr.best == 0.6 and final == 1.0
    # NaN epochs count as epochs without improvement
    rlr = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    _, final = lr_trace(rlr, [1.0, NAN, NAN, 0.9])
    assert rlr.best == 0.9 and final == 0.5


# --------------------------------------------------------------------------- #
# LearningRateScheduler
# --------------------------------------------------------------------------- #


def test_learning_rate_scheduler():
    model = FakeModel(learning_rate=1.0)
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    one_arg = callbacks.LearningRateScheduler(lambda epoch: 0.1 * (epoch + 1))
    cbl = callbacks.CallbackList([sched], model=model)
    rates = []
    for epoch in range(3):
        cbl.on_epoch_begin(epoch)
        logs = {}
        cbl.on_epoch_end(epoch, logs)
        rates.append(logs["learning_rate"])
    assert rates == [1.0, 0.5, 0.25]
    one_arg.set_model(model)
    one_arg.on_epoch_begin(2)
    assert model.optimizer.learning_rate == pytest.approx(0.3)
    bad = callbacks.LearningRateScheduler(lambda epoch, lr: "fast")
    bad.set_model(model)
    with pytest.raises(ValueError, match="float"):
        bad.on_epoch_begin(0)


# --------------------------------------------------------------------------- #
# TerminateOnNaN
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_terminate_on_nan(bad, capsys):
    model = FakeModel()
    cbl = callbacks.CallbackList([callbacks.TerminateOnNaN()], model=model)
    cbl.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    cbl.on_train_batch_end(7, {"loss": bad})
    assert model.stop_training
    assert "Batch 7: Invalid loss" in capsys.readouterr().out


def test_terminate_on_nan_raise_error():
    cb = callbacks.TerminateOnNaN(raise_error=True)
    cb.set_model(FakeModel())
    with pytest.raises(RuntimeError, match="batch 4"):
        cb.on_train_batch_end(4, {"loss": math.nan})


# --------------------------------------------------------------------------- #
# CSVLogger
# --------------------------------------------------------------------------- #


def csv_run(logger, epochs, model=None):
    cbl = callbacks.CallbackList([logger], model=model or FakeModel())
    cbl.on_train_begin()
    for epoch, logs in enumerate(epochs):
        cbl.on_epoch_end(epoch, dict(logs))
    cbl.on_train_end()


def test_csv_logger_writes_sorted_header_and_rows(tmp_path):
    path = tmp_path / "log.csv"
    logger = callbacks.CSVLogger(path)
    csv_run(logger, [{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875}])
    assert path.read_text().splitlines() == [
        "epoch,accuracy,loss",
        "0,0.75,0.5",
        "1,0.875,0.25",
    ]
    assert logger.csv_file.closed  # no leaked handle after training


def test_csv_logger_separator_missing_values_and_append(tmp_path):
    path = tmp_path / "log.tsv"
    csv_run(callbacks.CSVLogger(path, separator="\t"), [{"loss": 1.0, "val_loss": 2.0}])
    # Appending keeps the existing columns, so rows stay aligned with the header.
    csv_run(callbacks.CSVLogger(path, separator="\t", append=True), [{"loss": 0.5}])
    assert path.read_text().splitlines() == [
        "epoch\tloss\tval_loss",
        "0\t1.0\t2.0",
        "0\t0.5\tNA",
    ]
    # Without append the file starts over.
    csv_run(callbacks.CSVLogger(path, separator="\t"), [{"loss": 0.1}])
    assert path.read_text().splitlines() == ["epoch\tloss", "0\t0.1"]


def test_csv_logger_adds_expected_validation_columns(tmp_path):
    path = tmp_path / "log.csv"
    model = FakeModel()
    model.metrics_names = ["loss", "val_loss"]
    csv_run(callbacks.CSVLogger(path), [{"loss": 1.0}], model=model)
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,1.0,NA"]


def test_csv_logger_append_with_new_metrics_widens_the_header(tmp_path):
    path = tmp_path / "log.csv"
    csv_run(callbacks.CSVLogger(path), [{"loss": 1.0}, {"loss": 0.9}])
    # a second run with more metrics: no column may be dropped (Keras drops them)
    csv_run(callbacks.CSVLogger(path, append=True),
            [{"loss": 0.5, "val_loss": 0.6, "accuracy": 0.7}, {"loss": 0.4, "accuracy": 0.8}])
    assert path.read_text().splitlines() == [
        "epoch,loss,accuracy,val_loss",
        "0,1.0,NA,NA",
        "1,0.9,NA,NA",
        "0,0.5,0.7,0.6",
        "1,0.4,0.8,NA",
    ]
    # a third run without some columns keeps them, with NA
    csv_run(callbacks.CSVLogger(path, append=True), [{"loss": 0.3}])
    assert path.read_text().splitlines()[-1] == "0,0.3,NA,NA"


def test_csv_logger_a_name_first_logged_later_gets_a_column(tmp_path):
    path = tmp_path / "log.tsv"
    logger = callbacks.CSVLogger(path, separator="\t")
    csv_run(logger, [{"loss": 1.0}, {"loss": 0.9, "learning_rate": 0.1},
                     {"loss": 0.8, "learning_rate": 0.05}])
    assert path.read_text().splitlines() == [
        "epoch\tloss\tlearning_rate",
        "0\t1.0\tNA",
        "1\t0.9\t0.1",
        "2\t0.8\t0.05",
    ]
    assert logger.csv_file.closed
    assert [p.name for p in tmp_path.iterdir()] == ["log.tsv"]  # no temporary file left


@pytest.mark.parametrize("first_line", ["loss,accuracy\n", "epoch;loss\n"])
def test_csv_logger_refuses_to_append_to_a_foreign_file(tmp_path, first_line):
    path = tmp_path / "log.csv"
    path.write_text(first_line + "1,2\n")
    with pytest.raises(ValueError, match="CSVLogger cannot append to .*log.csv: its first "
                                         "line is not a CSVLogger header"):
        csv_run(callbacks.CSVLogger(path, append=True), [{"loss": 0.5}])
    assert path.read_text() == first_line + "1,2\n"  # untouched


# --------------------------------------------------------------------------- #
# LambdaCallback
# --------------------------------------------------------------------------- #


def test_lambda_callback_calls_each_function_like_its_hook():
    calls = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, logs)),
        on_test_end=lambda logs: calls.append(("test_end", logs)),
        on_train_end=lambda logs: calls.append(("train_end",)),
    )
    cbl = callbacks.CallbackList([cb])
    cbl.on_train_begin()
    cbl.on_epoch_begin(0)
    cbl.on_train_batch_end(0, {"loss": 1.0})
    cbl.on_test_end({"loss": 2.0})
    cbl.on_epoch_end(0, {"loss": 1.0})
    cbl.on_train_end()
    assert calls == [
        ("train_begin", {}),
        ("epoch_begin", 0),
        ("batch_end", 0, {"loss": 1.0}),
        ("test_end", {"loss": 2.0}),
        ("epoch_end", 0, {"loss": 1.0}),
        ("train_end",),
    ]


def test_lambda_callback_old_batch_aliases():
    calls = []
    cb = callbacks.LambdaCallback(
        on_batch_begin=lambda batch, logs: calls.append(("begin", batch)),
        on_batch_end=lambda batch, logs: calls.append(("end", batch)),
    )
    cbl = callbacks.CallbackList([cb])
    cbl.on_train_batch_begin(2)
    cbl.on_train_batch_end(2, {})
    assert calls == [("begin", 2), ("end", 2)]


def test_lambda_callback_rejects_unknown_or_non_callable():
    with pytest.raises(TypeError, match="on_epoch_ends"):
        callbacks.LambdaCallback(on_epoch_ends=print)
    with pytest.raises(TypeError, match="callable"):
        callbacks.LambdaCallback(on_epoch_end=3)


# --------------------------------------------------------------------------- #
# BackupAndRestore (with a real model: tests/reliability/test_crash_safety.py)
# --------------------------------------------------------------------------- #


class BackupModel(FakeModel):
    """A stand-in with the model's training-state hook: a backup holds its epoch."""

    def __init__(self):
        super().__init__()
        self.resumed_at = None

    def save_training_state(self, filepath, epoch):
        with open(filepath, "w") as f:
            f.write(str(epoch))

    def load_training_state(self, filepath):
        with open(filepath) as f:
            text = f.read()
        if not text.isdigit():
            raise ValueError(f"{filepath} is not a backup")
        self.resumed_at = int(text)
        return self.resumed_at


def backup_run(callback, model, epochs):
    cbl = callbacks.CallbackList([callback], model=model)
    cbl.on_train_begin()
    for epoch in range(epochs):
        cbl.on_epoch_end(epoch, {})
    return cbl


def test_backup_and_restore_uses_the_model_hook(tmp_path):
    backup = tmp_path / "b"
    model = BackupModel()
    backup_run(callbacks.BackupAndRestore(backup, double_checkpoint=True), model, 3)
    assert (backup / "latest.fastnn").read_text() == "3"  # the epoch to resume at
    assert (backup / "previous.fastnn").read_text() == "2"
    assert model.resumed_at is None  # nothing to resume from at the start

    resumed = BackupModel()
    cbl = backup_run(callbacks.BackupAndRestore(backup), resumed, 0)
    assert resumed.resumed_at == 3
    cbl.on_train_end()  # a normal end deletes the backup
    assert os.listdir(backup) == []


def test_backup_and_restore_falls_back_to_the_previous_backup(tmp_path):
    backup = tmp_path / "b"
    backup_run(callbacks.BackupAndRestore(backup, double_checkpoint=True), BackupModel(), 2)
    (backup / "latest.fastnn").write_text("garbage")
    model = BackupModel()
    backup_run(callbacks.BackupAndRestore(backup, double_checkpoint=True), model, 0)
    assert model.resumed_at == 1
    with pytest.raises(ValueError, match="cannot be restored.*not a backup"):
        backup_run(callbacks.BackupAndRestore(backup), BackupModel(), 0)


# --------------------------------------------------------------------------- #
# Progress display
# --------------------------------------------------------------------------- #


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def fit_output(capsys, verbose, epochs=2, steps=4):
    model = FakeModel()
    cbl = callbacks.CallbackList(
        add_history=True, add_progbar=True, model=model, epochs=epochs, steps=steps,
        verbose=verbose,
    )
    cbl.on_train_begin()
    for epoch in range(epochs):
        cbl.on_epoch_begin(epoch)
        for batch in range(steps):
            cbl.on_train_batch_begin(batch)
            cbl.on_train_batch_end(batch, {"loss": 0.5, "accuracy": 0.25})
        # Validation inside fit is silent.
        cbl.on_test_begin()
        cbl.on_test_batch_end(0, {"loss": 9.0})
        cbl.on_test_end({"loss": 9.0})
        cbl.on_epoch_end(
            epoch, {"loss": 0.3243, "accuracy": 0.88444, "val_loss": 0.4, "val_accuracy": 0.5}
        )
    cbl.on_train_end()
    return capsys.readouterr().out


def test_progbar_logger_verbose_1_on_a_non_tty(capsys):
    out = fit_output(capsys, verbose=1)
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2"
    assert lines[2] == "Epoch 2/2"
    assert len(lines) == 4  # no per-batch lines in a log file
    assert re.fullmatch(
        r"4/4 ━{20} \d+s \d+(us|ms|s)/step - accuracy: 0\.8844 - loss: 0\.3243"
        r" - val_accuracy: 0\.5000 - val_loss: 0\.4000",
        lines[1],
    ), lines[1]
    assert "\x1b" not in out and "\r" not in out


def test_progbar_logger_verbose_2(capsys):
    out = fit_output(capsys, verbose=2)
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and len(lines) == 4
    assert re.fullmatch(
        r"4/4 - \d+s - \d+(us|ms|s)/step - accuracy: 0\.8844 - loss: 0\.3243"
        r" - val_accuracy: 0\.5000 - val_loss: 0\.4000",
        lines[3],
    ), lines[3]


def test_progbar_logger_verbose_0_is_silent(capsys):
    assert fit_output(capsys, verbose=0) == ""


def test_progbar_logger_single_epoch_has_no_epoch_line(capsys):
    out = fit_output(capsys, verbose=2, epochs=1)
    assert "Epoch" not in out and len(out.splitlines()) == 1


def test_progbar_logger_evaluate_and_predict_show_a_bar(capsys):
    logger = callbacks.ProgbarLogger()
    cbl = callbacks.CallbackList([logger], epochs=1, steps=None, verbose=1)
    cbl.on_test_begin()
    for batch in range(3):
        cbl.on_test_batch_end(batch, {"loss": 0.5})
    cbl.on_test_end({"loss": 0.25})
    cbl.on_predict_begin()
    for batch in range(3):
        cbl.on_predict_batch_end(batch, {"outputs": np.zeros(3)})
    cbl.on_predict_end()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    # Unknown steps: the count seen becomes the target.
    assert re.fullmatch(r"3/3 ━{20} \d+s \d+(us|ms|s)/step - loss: 0\.2500", lines[0])
    assert re.fullmatch(r"3/3 ━{20} \d+s \d+(us|ms|s)/step", lines[1])


def test_progbar_updates_in_place_on_a_tty(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    bar = Progbar(target=100, interval=0.0)
    for step in (32, 64):
        bar.update(step, [("loss", 0.3243), ("accuracy", 0.8844)])
    bar.update(100, [("loss", 0.25), ("accuracy", 0.9)])
    out = tty.getvalue()
    plain = ANSI.sub("", out)
    parts = plain.split("\r")[1:]
    assert len(parts) == 3 and plain.endswith("\n")
    assert re.match(r" 32/100 ━{20} \S+ \S+/step - loss: 0\.3243 - accuracy: 0\.8844", parts[0])
    assert re.match(r"100/100 ━{20} \d+s \S+/step - loss: 0\.2500 - accuracy: 0\.9000", parts[2])
    # On a terminal the done part is green and the rest dim: 32% of 20 is 6.
    first = out.split("\r")[1]
    assert "\x1b[32m" + "━" * 6 + "\x1b[0m\x1b[2m" + "━" * 14 in first


def test_progbar_throttles_redraws(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    bar = Progbar(target=1000, interval=3600.0)
    for step in range(1, 1001):
        bar.update(step, [("loss", 1.0)])
    # Only the first redraw (the clock starts at 0) and the final one.
    assert tty.getvalue().count("\r") == 2


def test_progbar_averages_unless_stateful(capsys):
    bar = Progbar(target=4, verbose=2, stateful_metrics=["lr"])
    for step, loss in enumerate([1.0, 2.0, 3.0], start=1):
        bar.update(step, [("loss", loss), ("lr", loss)])
    bar.add(1, [("loss", 6.0), ("lr", 6.0)])  # the finalizing update is exact
    assert capsys.readouterr().out.endswith("- loss: 6.0000 - lr: 6.0000\n")
    bar = Progbar(target=3, verbose=2)
    for step, loss in enumerate([1.0, 2.0, 3.0], start=1):
        bar.update(step, [("loss", loss)], finalize=False)
    bar.update(3, finalize=True)
    assert capsys.readouterr().out.endswith("- loss: 2.0000\n")


def test_progbar_number_formats():
    fmt = progbar_module.format_value
    assert fmt(0.32434) == " 0.3243"
    assert fmt(12.5) == " 12.5000"
    assert fmt(0.00012345) == " 1.2345e-04"
    assert fmt(-0.00012345) == " -1.2345e-04"
    assert fmt(0.0) == " 0.0000"
    assert fmt(float("nan")) == " nan"
    assert progbar_module.format_time_per_unit(0.003, "step") == " 3ms/step"
    assert progbar_module.format_time_per_unit(2e-5, "step") == " 20us/step"
    assert progbar_module.format_time_per_unit(2.4, "step") == " 2s/step"
    assert progbar_module.format_eta(3723) == "1:02:03"
    assert progbar_module.format_eta(123) == "2:03"
    assert progbar_module.format_eta(45) == "45s"


def test_progbar_unknown_target(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    bar = Progbar(target=None, interval=0.0)
    bar.update(5, [("loss", 1.0)])
    assert "      5/Unknown" in ANSI.sub("", tty.getvalue())


# --------------------------------------------------------------------------- #
# Argument validation
# --------------------------------------------------------------------------- #


def _invalid(owner, name, expected, received):
    """The one message of fastnn.utils.validation, for argument ``name`` of ``owner``."""
    return (f"{owner}: Invalid value for argument `{name}`: expected {expected}. "
            f"Received: {name}={received}")


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: callbacks.ReduceLROnPlateau(factor=1.5), ValueError,
         _invalid("ReduceLROnPlateau", "factor", "a finite number in [0, 1)", "1.5")),
        (lambda: callbacks.ReduceLROnPlateau(factor=-0.1), ValueError,
         _invalid("ReduceLROnPlateau", "factor", "a finite number in [0, 1)", "-0.1")),
        (lambda: callbacks.ReduceLROnPlateau(patience=-1), ValueError,
         _invalid("ReduceLROnPlateau", "patience", "an integer >= 0", "-1")),
        (lambda: callbacks.ReduceLROnPlateau(cooldown=1.5), ArgumentTypeError,
         _invalid("ReduceLROnPlateau", "cooldown", "an integer >= 0", "1.5")),
        (lambda: callbacks.ReduceLROnPlateau(min_lr=-1.0), ValueError,
         _invalid("ReduceLROnPlateau", "min_lr", "a number >= 0", "-1.0")),
        (lambda: callbacks.ReduceLROnPlateau(mode="up"), ValueError,
         _invalid("ReduceLROnPlateau", "mode", "one of 'auto', 'min', 'max'", "'up'")),
        (lambda: callbacks.ReduceLROnPlateau(min_delta=float("nan")), ValueError,
         _invalid("ReduceLROnPlateau", "min_delta", "a number", "nan")),
        (lambda: callbacks.EarlyStopping(patience=-2), ValueError,
         _invalid("EarlyStopping", "patience", "an integer >= 0", "-2")),
        (lambda: callbacks.EarlyStopping(patience=True), ArgumentTypeError,
         _invalid("EarlyStopping", "patience", "an integer >= 0", "True")),
        (lambda: callbacks.EarlyStopping(mode="best"), ValueError,
         _invalid("EarlyStopping", "mode", "one of 'auto', 'min', 'max'", "'best'")),
        (lambda: callbacks.EarlyStopping(monitor=None), ArgumentTypeError,
         _invalid("EarlyStopping", "monitor", "a non-empty string", "None")),
        (lambda: callbacks.EarlyStopping(monitor=""), ValueError,
         _invalid("EarlyStopping", "monitor", "a non-empty string", "''")),
        (lambda: callbacks.EarlyStopping(start_from_epoch=-1), ValueError,
         _invalid("EarlyStopping", "start_from_epoch", "an integer >= 0", "-1")),
        (lambda: callbacks.EarlyStopping(baseline="low"), ArgumentTypeError,
         _invalid("EarlyStopping", "baseline", "a number or None", "'low'")),
        (lambda: callbacks.ModelCheckpoint("m.fnn", save_freq="batch"), ValueError,
         _invalid("ModelCheckpoint", "save_freq", "one of 'epoch'", "'batch'")),
        (lambda: callbacks.ModelCheckpoint("m.fnn", save_freq=0), ValueError,
         _invalid("ModelCheckpoint", "save_freq", "an integer >= 1", "0")),
        (lambda: callbacks.ModelCheckpoint("m.fnn", mode="low"), ValueError,
         _invalid("ModelCheckpoint", "mode", "one of 'auto', 'min', 'max'", "'low'")),
        (lambda: callbacks.ModelCheckpoint("m.fnn", initial_value_threshold="x"),
         ArgumentTypeError,
         _invalid("ModelCheckpoint", "initial_value_threshold", "a number or None", "'x'")),
        (lambda: callbacks.ModelCheckpoint(None), ArgumentTypeError,
         _invalid("ModelCheckpoint", "filepath", "a non-empty path (str, bytes or os.PathLike)", "None")),
        (lambda: callbacks.CSVLogger("x.csv", separator=";;"), ValueError,
         _invalid("CSVLogger", "separator", "a single character", "';;'")),
        (lambda: callbacks.CSVLogger("x.csv", separator=1), ArgumentTypeError,
         _invalid("CSVLogger", "separator", "a non-empty string", "1")),
        (lambda: callbacks.CSVLogger(None), ArgumentTypeError,
         _invalid("CSVLogger", "filename", "a non-empty path (str or os.PathLike)", "None")),
        (lambda: callbacks.BackupAndRestore("b", save_freq=5), ValueError,
         _invalid("BackupAndRestore", "save_freq", "one of 'epoch'", "5")),
        (lambda: callbacks.BackupAndRestore(None), ArgumentTypeError,
         _invalid("BackupAndRestore", "backup_dir", "a non-empty path (str, bytes or os.PathLike)", "None")),
        (lambda: Progbar(target=-1), ValueError,
         _invalid("Progbar", "target", "an integer >= 0 or None", "-1")),
        (lambda: Progbar(target=10, verbose=3), ValueError,
         _invalid("Progbar", "verbose", "one of 0, 1, 2", "3")),
        (lambda: Progbar(10, stateful_metrics=[], stateless_metrics=[]), ValueError,
         "Pass at most one of `stateful_metrics` and `stateless_metrics`. "
         "Received: stateful_metrics=[], stateless_metrics=[]"),
    ],
)
def test_bad_arguments(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert str(info.value) == message
    # every refusal is a ValueError, as in Keras; a wrong type is also a TypeError
    assert isinstance(info.value, ValueError)


def test_path_arguments_accept_path_objects(tmp_path):
    assert callbacks.ModelCheckpoint(tmp_path / "m.fnn").filepath == str(tmp_path / "m.fnn")
    assert callbacks.BackupAndRestore(tmp_path / "b").backup_dir == str(tmp_path / "b")
    assert callbacks.CSVLogger(tmp_path / "log.csv").filename == str(tmp_path / "log.csv")


def test_infinite_thresholds_are_accepted():
    # an unreachable baseline or first threshold is a valid, if odd, setting
    assert callbacks.EarlyStopping(baseline=-math.inf).baseline == -math.inf
    mc = callbacks.ModelCheckpoint("m.fnn", initial_value_threshold=math.inf)
    assert mc.best == math.inf


def test_bad_callables():
    with pytest.raises(TypeError, match="schedule"):
        callbacks.LearningRateScheduler(0.1)


def test_monitoring_a_metric_with_several_values_is_refused_clearly():
    es = callbacks.EarlyStopping(monitor="val_precision")
    with pytest.raises(TypeError, match=re.escape(
            "EarlyStopping monitors `val_precision`, which must be one number per epoch. "
            "Received: val_precision=[0.5, 0.25]")):
        run_epochs(es, [[0.5, 0.25]], key="val_precision")
