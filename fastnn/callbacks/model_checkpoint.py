"""`ModelCheckpoint`: save the model, or its weights, during training."""

import math
import os

from ..utils.files import make_parent_dirs, user_path
from ..utils.model_files import check_extension
from ..utils.validation import check_choice, check_int, check_real
from .callback import print_message
from .monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Saves the model, or its weights, during training.

    Args:
        filepath: Where to save (not a `.h5`, `.keras`, `.hdf5` or `.onnx` name:
            fastnn writes its own format, so such a name is refused here, as
            `model.save` refuses it). It may hold `str.format` fields filled from
            the epoch number (counted from 1) and the logs, e.g.
            `"ckpt/{epoch:02d}-{val_loss:.2f}.fnn"`; with an integer
            `save_freq`, `{batch}` (from 1) is available too.
        monitor: Metric deciding what is "best" when `save_best_only`.
        verbose: 1 prints a message at each decision.
        save_best_only: Whether to save only when the monitored metric
            improves on the best value so far (a file without fields then
            always holds the best model).  A NaN or infinite value (a
            diverged run) is never the best: it is not saved.
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

    primary_rank_only = True  # one rank of a data-parallel run writes the files

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
        owner = "ModelCheckpoint"
        self.filepath = user_path(filepath, "filepath", owner=owner)
        if isinstance(save_freq, str):
            save_freq = check_choice("save_freq", save_freq, ("epoch",), owner=owner)
        else:
            save_freq = check_int("save_freq", save_freq, low=1, owner=owner)
        self.save_freq = save_freq
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        # A name promising another library's format (.h5, .keras, ...) is refused now,
        # with model.save's own message, not after the first epoch of training.
        check_extension(self.filepath, weights_only=self.save_weights_only,
                        owner="save_weights" if self.save_weights_only else "save")
        self.best = check_real("initial_value_threshold", initial_value_threshold,
                               allow_none=True, allow_inf=True, owner=owner)
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
                print_message(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = self._get_monitor_value(logs)
        if current is None:
            # Saving without a comparison beats silently never saving.
            return True
        if not math.isfinite(current):
            # A diverged run must not overwrite the best checkpoint, nor become the
            # reference every later (finite) value has to beat.
            if self.verbose > 0:
                print_message(f"\nEpoch {epoch + 1}: {self.monitor} is {current}, which "
                              f"is never the best; not saving")
            return False
        best_text = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print_message(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_text} "
                    f"to {current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print_message(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_text}")
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
        make_parent_dirs(filepath)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)
