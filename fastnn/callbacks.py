"""Callbacks: code that runs at fixed points of ``fit``, ``evaluate`` and ``predict``.

The names, arguments, defaults and behaviour follow Keras 3's
``keras.callbacks``. The training loop drives everything through one
`CallbackList`; a callback only sees the model through ``self.model`` and the
``logs`` dicts it is handed:

- ``on_train_batch_end`` / ``on_test_batch_end`` get the running averages of
  the epoch so far (``{"loss": 0.31, "accuracy": 0.88}``);
- ``on_epoch_end`` gets the epoch's results, validation ones prefixed ``val_``.

Every callback receives the *same* dict object in turn, so one that adds a key
(``ReduceLROnPlateau`` adds ``learning_rate``) is seen by those after it: the
`History` and `ProgbarLogger` that `CallbackList` appends last.

The model object is used only through ``stop_training``, ``get_weights`` /
``set_weights``, ``optimizer.learning_rate``, ``save`` / ``save_weights`` and
``history``, so tests can drive callbacks with a small stand-in.
"""

import collections.abc
import csv
import inspect
import math
import numbers
import os
import warnings

import numpy as np

from .utils.progbar import Progbar

__all__ = [
    "BackupAndRestore",
    "Callback",
    "CallbackList",
    "CSVLogger",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]

# Every hook a callback may implement, as named in Keras 3.
_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)

# In mode "auto", a monitored name containing one of these is maximized;
# anything else (losses, errors) is minimized.
_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "iou")


# --------------------------------------------------------------------------- #
# Argument checks, shared so every callback words its errors the same way.
# --------------------------------------------------------------------------- #


def _check_int(owner, name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"{owner}: `{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )
    return int(value)


def _check_number(owner, name, value, minimum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{owner}: `{name}` must be a number. Received: {name}={value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: `{name}` must be >= {minimum}. Received: {name}={value!r}")
    return float(value)


def _check_mode(owner, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(
            f"{owner}: `mode` must be one of 'auto', 'min', 'max'. Received: mode={mode!r}"
        )
    return mode


def _check_monitor(owner, monitor):
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(
            f"{owner}: `monitor` must be the name of a logged metric, such as "
            f"'val_loss'. Received: monitor={monitor!r}"
        )
    return monitor


def _print(message):
    # print() looks sys.stdout up at call time, so redirections are honoured.
    print(message, flush=True)


# --------------------------------------------------------------------------- #
# The base class and the list the training loop drives.
# --------------------------------------------------------------------------- #


class Callback:
    """Base class for callbacks: override the hooks you need.

    Every hook does nothing by default, except that `on_train_batch_begin` and
    `on_train_batch_end` forward to the older names `on_batch_begin` and
    `on_batch_end`, so callbacks written against either name work.

    Attributes:
        model: The model being trained, evaluated or used for prediction.
        params: Dict of run parameters: `epochs`, `steps` (batches per epoch,
            or `None` if unknown) and `verbose`.
    """

    # Class-level defaults so subclasses that skip super().__init__() still work.
    model = None
    params = None

    def __init__(self):
        self.model = None
        self.params = None

    def set_model(self, model):
        """Attaches the model the callbacks act on.

        Args:
            model: The model object.
        """
        self.model = model

    def set_params(self, params):
        """Stores the run parameters.

        Args:
            params: Dict with `epochs`, `steps` and `verbose`.
        """
        self.params = params

    def on_batch_begin(self, batch, logs=None):
        """Older name of `on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """Older name of `on_train_batch_end`."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each training epoch.

        Args:
            epoch: Index of the epoch, from 0.
            logs: Dict; currently empty.
        """

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each training epoch.

        Args:
            epoch: Index of the epoch, from 0.
            logs: Dict of the epoch's results, e.g. `{"loss": 0.2,
                "accuracy": 0.9, "val_loss": 0.3}`.
        """

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch.

        Args:
            batch: Index of the batch within the epoch, from 0.
            logs: Dict; currently empty.
        """
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch.

        Args:
            batch: Index of the batch within the epoch, from 0.
            logs: Dict of the running averages over the epoch so far.
        """
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each batch of `evaluate` or of validation in `fit`.

        Args:
            batch: Index of the batch, from 0.
            logs: Dict; currently empty.
        """

    def on_test_batch_end(self, batch, logs=None):
        """Called after each batch of `evaluate` or of validation in `fit`.

        Args:
            batch: Index of the batch, from 0.
            logs: Dict of the running averages so far.
        """

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each batch of `predict`.

        Args:
            batch: Index of the batch, from 0.
            logs: Dict; currently empty.
        """

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each batch of `predict`.

        Args:
            batch: Index of the batch, from 0.
            logs: Dict; may hold the batch's outputs.
        """

    def on_train_begin(self, logs=None):
        """Called once at the start of `fit`.

        Args:
            logs: Dict; currently empty.
        """

    def on_train_end(self, logs=None):
        """Called once at the end of `fit`.

        Args:
            logs: Dict; the logs of the last epoch.
        """

    def on_test_begin(self, logs=None):
        """Called at the start of `evaluate` or of each validation run.

        Args:
            logs: Dict; currently empty.
        """

    def on_test_end(self, logs=None):
        """Called at the end of `evaluate` or of each validation run.

        Args:
            logs: Dict of the evaluation results.
        """

    def on_predict_begin(self, logs=None):
        """Called at the start of `predict`.

        Args:
            logs: Dict; currently empty.
        """

    def on_predict_end(self, logs=None):
        """Called at the end of `predict`.

        Args:
            logs: Dict; currently empty.
        """


class CallbackList(Callback):
    """Calls every hook on each of a list of callbacks, in order.

    Args:
        callbacks: A `Callback` or a list of them (not modified).
        add_history: Whether to append a `History` unless the list has one.
        add_progbar: Whether to append a `ProgbarLogger` unless the list has one.
        model: The model to attach to every callback. When given, its
            `history` attribute is set to the `History` callback, if any.
        **params: Run parameters (`epochs`, `steps`, `verbose`) passed to every
            callback's `set_params`.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        elif isinstance(callbacks, (str, bytes, dict)) or not isinstance(
            callbacks, collections.abc.Iterable
        ):
            raise TypeError(
                "`callbacks` must be a list of `fastnn.callbacks.Callback` instances. "
                f"Received: callbacks of type {type(callbacks).__name__}"
            )
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    "`callbacks` must be a list of `fastnn.callbacks.Callback` "
                    f"instances. Received an item of type {type(cb).__name__}: {cb!r}"
                )
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        # Appended last so they see keys that earlier callbacks add to logs.
        if add_history and self._history is None:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and self._progbar is None:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    @property
    def history(self):
        """The `History` callback in the list, or `None`."""
        return self._history

    def append(self, callback):
        """Adds a callback at the end of the list.

        Args:
            callback: A `Callback`; it gets the list's model and params.
        """
        if not isinstance(callback, Callback):
            raise TypeError(
                f"Expected a `Callback` instance. Received: {type(callback).__name__}"
            )
        self.callbacks.append(callback)
        if isinstance(callback, History) and self._history is None:
            self._history = callback
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)

    def set_model(self, model):
        """Attaches `model` to every callback (ignored when `None`).

        Args:
            model: The model object.
        """
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params):
        """Passes the run parameters to every callback (ignored when empty).

        Args:
            params: Dict with `epochs`, `steps` and `verbose`.
        """
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    # Hooks with (logs) and (epoch, logs) take logs positionally and batch
    # hooks take it by keyword, exactly as Keras calls them, so user functions
    # written for Keras (LambdaCallback arguments) are called the same way.

    def _each(self, hook, *args):
        logs = args[-1] if args[-1] is not None else {}
        for cb in self.callbacks:
            getattr(cb, hook)(*args[:-1], logs)

    def _each_batch(self, hook, batch, logs):
        logs = logs if logs is not None else {}
        for cb in self.callbacks:
            getattr(cb, hook)(batch, logs=logs)

    def on_train_begin(self, logs=None):
        self._each("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._each("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end", epoch, logs)

    def on_test_begin(self, logs=None):
        self._each("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._each("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._each("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._each("on_predict_end", logs)

    def on_batch_begin(self, batch, logs=None):
        self._each_batch("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._each_batch("on_batch_end", batch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._each_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._each_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._each_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._each_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._each_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._each_batch("on_predict_batch_end", batch, logs)


# --------------------------------------------------------------------------- #
# Recording and display.
# --------------------------------------------------------------------------- #


class History(Callback):
    """Records each epoch's logs; `fit` returns it (also as `model.history`).

    Attributes:
        history: Dict mapping each logged name to its list of per-epoch values.
        epoch: List of the epoch indices recorded in the current `fit`.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        # As in Keras, only the epoch list restarts; `fit` makes a new History
        # for every call unless the user passes one in.
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints progress and metrics to stdout; `fit` adds one unless `verbose=0`.

    It reads `params["verbose"]`: 1 shows a bar updated during each epoch,
    2 one line per epoch. `Epoch i/n` is printed before each epoch when there
    is more than one. Validation inside `fit` is silent; `evaluate` and
    `predict` show their own bar.
    """

    def __init__(self):
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self.target = None
        self.seen = 0
        self.progbar = None
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        # A logger reused for a later `evaluate` must show its bar again.
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start_progbar()
        if self.verbose and self.epochs > 1:
            _print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._start_progbar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start_progbar()

    def on_predict_batch_end(self, batch, logs=None):
        # Predictions are arrays, not metrics: show progress only.
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._finish(None)

    def _start_progbar(self):
        self.seen = 0
        # The logs are already epoch averages, so the bar shows them as given
        # (no names to average) instead of averaging averages.
        self.progbar = Progbar(
            target=self.target, verbose=self.verbose or 0, unit_name="step", stateless_metrics=()
        )

    def _update(self, batch, logs):
        if self.progbar is None:
            self._start_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            # Sorted names: the display order Keras users know (accuracy, loss).
            self.progbar.update(self.seen, sorted((logs or {}).items()), finalize=False)

    def _finish(self, logs):
        if self.progbar is None:
            self._start_progbar()
        if self.progbar.target is None:
            # Steps were unknown up front: the count seen is the total.
            self.progbar.target = self.seen
        self.progbar.update(self.progbar.target, sorted((logs or {}).items()), finalize=True)


class CSVLogger(Callback):
    """Writes each epoch's logs as one row of a CSV file.

    The header is `epoch` followed by the log names in sorted order, fixed at
    the first epoch (or taken from the file when appending); a name missing
    later is written as `NA`. The file is
    flushed after every row and closed at the end of training.

    Args:
        filename: Path of the CSV file.
        separator: One character separating the fields.
        append: Whether to append to an existing file (no second header) rather
            than overwrite it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                "CSVLogger: `separator` must be a single character. "
                f"Received: separator={separator!r}"
            )
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = bool(append)
        self.keys = None
        self.writer = None
        self.csv_file = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        self._close()
        self.keys = None
        self._write_header = True
        if self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0:
            self._write_header = False
            # Continue under the existing header's columns, so a run that
            # logs different names still writes aligned rows.
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.sep), [])
            if header[:1] == ["epoch"]:
                self.keys = header[1:]
        directory = os.path.dirname(self.filename)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # newline="" lets the csv module choose line endings itself.
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None or self.csv_file.closed:
            # Used outside `fit` (no on_train_begin): open on first use.
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
            # A model that validates only some epochs still gets val_ columns.
            for name in getattr(self.model, "metrics_names", None) or ():
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
        if self.writer is None:
            self.writer = csv.writer(self.csv_file, delimiter=self.sep)
            if self._write_header:
                self.writer.writerow(["epoch"] + self.keys)
        row = [epoch] + [_csv_value(logs.get(key, "NA")) for key in self.keys]
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    # Scalars as written by str(); a vector as one quoted "[a, b]" cell.
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, collections.abc.Iterable):
        return f"[{', '.join(map(str, value))}]"
    return value


class LambdaCallback(Callback):
    """A callback built from plain functions.

    Each function is called like the hook it replaces: `on_epoch_begin` and
    `on_epoch_end` as `f(epoch, logs)`, `on_train_begin` and `on_train_end` as
    `f(logs)`, batch hooks as `f(batch, logs=logs)`.

    Args:
        on_epoch_begin: Called at the start of every epoch.
        on_epoch_end: Called at the end of every epoch.
        on_train_begin: Called at the start of training.
        on_train_end: Called at the end of training.
        on_train_batch_begin: Called before every training batch.
        on_train_batch_end: Called after every training batch.
        **kwargs: Any other hook by its name: `on_batch_begin`,
            `on_batch_end` (older names of the train batch hooks),
            `on_test_begin`, `on_test_batch_end`, `on_predict_end`, ...
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise TypeError(
                f"LambdaCallback got unknown hook name(s) {unknown}. "
                f"Expected names among: {', '.join(_HOOKS)}"
            )
        hooks = dict(
            kwargs,
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
        )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(
                    f"LambdaCallback: `{name}` must be callable. Received: {name}={fn!r}"
                )
            # An instance attribute shadows the method, so the default
            # on_train_batch_end still forwards to a given on_batch_end.
            setattr(self, name, fn)


# --------------------------------------------------------------------------- #
# Callbacks that watch a metric.
# --------------------------------------------------------------------------- #


class _MonitorCallback(Callback):
    """Shared logic of callbacks that watch one logged metric.

    Args:
        monitor: Name of the metric in the epoch logs.
        mode: 'min', 'max', or 'auto' to pick from the name: names containing
            acc, auc, precision, recall, f1 or iou are maximized, others
            minimized.
        min_delta: How much better than the reference a value must be to count
            as an improvement (its sign is ignored).
    """

    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        owner = type(self).__name__
        self.monitor = _check_monitor(owner, monitor)
        self.mode = _check_mode(owner, mode)
        self.min_delta = abs(_check_number(owner, "min_delta", min_delta))
        self._warned_missing = False

    @property
    def _maximize(self):
        if self.mode != "auto":
            return self.mode == "max"
        name = self.monitor.lower()
        if name.startswith("val_"):
            name = name[len("val_"):]
        return any(hint in name for hint in _HIGHER_IS_BETTER)

    def _is_improvement(self, current, reference):
        """Whether `current` beats `reference` by more than `min_delta`."""
        if reference is None:
            return True
        if self._maximize:
            return current - self.min_delta > reference
        return current + self.min_delta < reference

    def _get_monitor_value(self, logs):
        """The monitored value from `logs`, or `None` with a warning (once per
        training run, so a typo does not print one warning per epoch)."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(
                    f"{type(self).__name__} is conditioned on metric `{self.monitor}`, "
                    f"which is not available. Available metrics are: "
                    f"{', '.join(logs) or '(none)'}.",
                    stacklevel=3,
                )
            return None
        return float(value)


class EarlyStopping(_MonitorCallback):
    """Stops training when a monitored metric has stopped improving.

    After each epoch the metric is compared with the best value so far; when it
    has not improved by more than `min_delta` for `patience` epochs in a row,
    `model.stop_training` is set and the loop ends after this epoch.

    Args:
        monitor: Name of the metric to watch.
        min_delta: Smallest change that counts as an improvement.
        patience: Number of epochs without improvement before stopping.
        verbose: 1 prints a message when stopping or restoring weights.
        mode: 'min', 'max' or 'auto' (inferred from the metric name).
        baseline: A value the metric must beat: while it has not, the patience
            count is not reset by improvements.
        restore_best_weights: Whether to put back, at the end of training, the
            weights of the epoch with the best value (whether or not training
            stopped early).
        start_from_epoch: Number of warm-up epochs not monitored at all.

    Attributes:
        stopped_epoch: Epoch index at which training was stopped, 0 if never.
        best: Best value seen so far, `None` before the first one.
        best_epoch: Epoch index of `best`.
        wait: Epochs since the last improvement.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__(monitor, mode, min_delta)
        self.patience = _check_int("EarlyStopping", "patience", patience)
        self.start_from_epoch = _check_int("EarlyStopping", "start_from_epoch", start_from_epoch)
        self.baseline = (
            None if baseline is None else _check_number("EarlyStopping", "baseline", baseline)
        )
        self.verbose = verbose
        self.restore_best_weights = bool(restore_best_weights)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None
        self._warned_missing = False

    def on_train_begin(self, logs=None):
        # The same instance may serve several fit calls.
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        current = self._get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # With no improvement ever, the first monitored epoch is the best.
            self.best_weights = self._copy_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._copy_weights()
            # Below the baseline an improvement does not buy more patience.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def _copy_weights(self):
        # Copies, because the optimizer updates weight buffers in place and a
        # model may hand out views of them.
        return [np.array(w, copy=True) for w in self.model.get_weights()]


class ModelCheckpoint(_MonitorCallback):
    """Saves the model, or its weights, during training.

    Args:
        filepath: Where to save. It may hold `str.format` fields filled from
            the epoch number (counted from 1) and the logs, e.g.
            `"ckpt/{epoch:02d}-{val_loss:.2f}.fnn"`; with an integer
            `save_freq`, `{batch}` (from 1) is available too.
        monitor: Metric deciding what is "best" when `save_best_only`.
        verbose: 1 prints a message at each decision.
        save_best_only: Whether to save only when the monitored metric
            improves on the best value so far (a file without fields then
            always holds the best model).
        save_weights_only: Whether to call `model.save_weights` rather than
            `model.save`.
        mode: 'min', 'max' or 'auto' (inferred from the metric name).
        save_freq: `"epoch"` to save after every epoch, or an integer N to save
            after every N training batches.
        initial_value_threshold: Value the metric must beat for the first save
            when `save_best_only`.

    Attributes:
        best: Best monitored value so far (kept across `fit` calls, so a later
            run does not overwrite a better checkpoint).
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, 0)
        try:
            self.filepath = os.fspath(filepath)
        except TypeError:
            raise ValueError(
                f"ModelCheckpoint: `filepath` must be a path. Received: filepath={filepath!r}"
            ) from None
        if save_freq != "epoch":
            save_freq = _check_int("ModelCheckpoint", "save_freq", save_freq, minimum=1)
        self.save_freq = save_freq
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if initial_value_threshold is not None:
            initial_value_threshold = _check_number(
                "ModelCheckpoint", "initial_value_threshold", initial_value_threshold
            )
        self.best = initial_value_threshold
        self._current_epoch = 0
        self._batches_since_save = 0

    def on_train_begin(self, logs=None):
        self._warned_missing = False

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _format_path(self, epoch, batch, logs):
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields.setdefault("batch", batch + 1)
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as e:
            raise KeyError(
                f'ModelCheckpoint could not format filepath "{self.filepath}": '
                f"no value for field {e}. Available fields: {', '.join(fields)}"
            ) from None

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = self._get_monitor_value(logs)
        if current is None:
            # Saving without a comparison beats silently never saving.
            return True
        best_text = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_text} "
                    f"to {current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_text}")
        return False

    def _save(self, epoch, batch, logs):
        filepath = self._format_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(
                "ModelCheckpoint needs a file path, but this is an existing "
                f"directory: {filepath}"
            )
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


class ReduceLROnPlateau(_MonitorCallback):
    """Reduces the learning rate when a metric has stopped improving.

    After `patience` epochs without an improvement greater than `min_delta`,
    the learning rate is multiplied by `factor` (never below `min_lr`), then
    `cooldown` epochs pass before waiting starts again. The learning rate in
    use is added to each epoch's logs as `learning_rate`.

    Args:
        monitor: Name of the metric to watch.
        factor: Multiplier applied to the learning rate, in [0, 1).
        patience: Number of epochs without improvement before reducing.
        verbose: 1 prints a message at each reduction.
        mode: 'min', 'max' or 'auto' (inferred from the metric name).
        min_delta: Smallest change that counts as an improvement.
        cooldown: Number of epochs after a reduction during which epochs
            without improvement are not counted.
        min_lr: Lower bound on the learning rate.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__(monitor, mode, min_delta)
        factor = _check_number("ReduceLROnPlateau", "factor", factor)
        if not 0.0 <= factor < 1.0:
            raise ValueError(
                "ReduceLROnPlateau: `factor` must be >= 0 and < 1.0, since it "
                f"multiplies the learning rate to reduce it. Received: factor={factor}"
            )
        self.factor = factor
        self.patience = _check_int("ReduceLROnPlateau", "patience", patience)
        self.cooldown = _check_int("ReduceLROnPlateau", "cooldown", cooldown)
        self.min_lr = _check_number("ReduceLROnPlateau", "min_lr", min_lr, minimum=0.0)
        self.verbose = verbose
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0
        self._warned_missing = False

    def in_cooldown(self):
        """Whether a recent reduction still suspends the patience count."""
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = self._get_monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0

        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch):
        old_lr = float(self.model.optimizer.learning_rate)
        # Compared in float32: a rate stored as float32 reads back slightly
        # above a float64 min_lr and would otherwise be "reduced" forever.
        if np.float32(old_lr) <= np.float32(self.min_lr):
            return
        new_lr = max(old_lr * self.factor, self.min_lr)
        self.model.optimizer.learning_rate = new_lr
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        self.cooldown_counter = self.cooldown
        self.wait = 0


# --------------------------------------------------------------------------- #
# Other callbacks.
# --------------------------------------------------------------------------- #


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch from a function.

    Args:
        schedule: `schedule(epoch, lr) -> new_lr`, with `epoch` from 0 and
            `lr` the current learning rate; `schedule(epoch)` is accepted too.
        verbose: 1 prints the new learning rate each epoch.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                "LearningRateScheduler: `schedule` must be callable. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = _accepts_two_positional(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        old_lr = float(self.model.optimizer.learning_rate)
        new_lr = self.schedule(epoch, old_lr) if self._takes_lr else self.schedule(epoch)
        if isinstance(new_lr, bool) or not isinstance(new_lr, numbers.Real):
            raise ValueError(
                "LearningRateScheduler: the `schedule` function must return a "
                f"float. Received: {new_lr!r}"
            )
        self.model.optimizer.learning_rate = float(new_lr)
        if self.verbose > 0:
            _print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate "
                f"to {float(new_lr)}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


def _accepts_two_positional(fn):
    # Decided from the signature rather than by catching TypeError from a call,
    # which would also swallow TypeErrors raised inside the schedule itself.
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return True
    positional = 0
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite.

    Args:
        raise_error: Whether to raise `RuntimeError` at once instead of
            stopping gracefully (which lets `on_train_end` of every callback
            run, e.g. to restore weights).
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                "Terminating training immediately."
            )
        _print(f"Batch {batch}: Invalid loss ({loss}), terminating training")
        self.model.stop_training = True


class BackupAndRestore(Callback):
    """Backs up the whole training state at the end of every epoch, and resumes an
    interrupted ``fit`` from it (Keras 3's ``keras.callbacks.BackupAndRestore``).

    The backup is one model file (``<backup_dir>/latest.fastnn``, written atomically, so
    a crash or SIGKILL while writing leaves the previous backup intact) holding the
    weights, the optimizer state, the per-layer random state (Dropout) and, in its
    metadata, the next epoch and the states of the global random generator and of
    ``fit``'s shuffling generator.  When ``fit`` starts and a backup exists, it is loaded
    into the model and training continues at the saved epoch.  A run interrupted and
    resumed this way ends with the same weights, bit for bit, as the same run
    uninterrupted (same seed, data, and thread count):

        fastnn.utils.set_random_seed(0)
        model = make_model()   # the same architecture, compiled the same way
        model.fit(x, y, epochs=10,
                  callbacks=[fastnn.callbacks.BackupAndRestore("/tmp/backup")])

    Put it after callbacks that change the model at the end of an epoch (e.g.
    ``ReduceLROnPlateau``), so that the backup includes their changes.  The state of
    other callbacks (EarlyStopping's patience counter, ...) is not backed up, as in Keras.

    Args:
        backup_dir: directory of the backup (created if needed); one per training run.
        save_freq: ``"epoch"``, the only value supported: back up after every epoch.
        double_checkpoint: also keep the backup before the latest, and resume from it
            if the latest cannot be read.
        delete_checkpoint: delete the backup when ``fit`` ends normally.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise ValueError(
                "BackupAndRestore: `backup_dir` must be a directory path. "
                f"Received: backup_dir={backup_dir!r}"
            )
        if save_freq != "epoch":
            raise ValueError(
                "BackupAndRestore: only save_freq='epoch' is supported (a backup after "
                f"every epoch). Received: save_freq={save_freq!r}"
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._latest = os.path.join(self.backup_dir, "latest.fastnn")
        self._previous = os.path.join(self.backup_dir, "previous.fastnn")

    def on_train_begin(self, logs=None):
        from .models import saving

        candidates = [self._latest] + ([self._previous] if self.double_checkpoint else [])
        errors = []
        for path in candidates:
            if not os.path.exists(path):
                continue
            try:
                state = saving.restore_training_state(self.model, path)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            self._resume(state)
            return
        if errors:
            raise ValueError(
                "BackupAndRestore: the backup cannot be restored (" + "; ".join(errors)
                + "). Delete it to start training afresh."
            )

    def _resume(self, state):
        from .utils import random as _random

        rng = getattr(self.model, "_fit_rng", None)
        if rng is not None:
            rng.bit_generator.state = state["fit_rng"]
        _random.set_state(state["global_rng"])
        self.model._resume_epoch = state["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        from .models import saving
        from .utils import random as _random

        os.makedirs(self.backup_dir, exist_ok=True)
        rng = getattr(self.model, "_fit_rng", None)
        state = {
            "epoch": int(epoch) + 1,
            "fit_rng": None if rng is None else rng.bit_generator.state,
            "global_rng": _random.get_state(),
            "layer_rng_states": [
                layer.get_rng_state() if hasattr(layer, "get_rng_state") else None
                for layer in self.model.layers
            ],
        }
        if self.double_checkpoint and os.path.exists(self._latest):
            os.replace(self._latest, self._previous)
        saving.save_model(self.model, self._latest, training_state=state)

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        for path in (self._latest, self._previous):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
