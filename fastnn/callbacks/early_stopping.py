"""`EarlyStopping`: stop training when a monitored metric has stopped improving."""

import numpy as np

from ..utils.validation import check_int, check_real
from .callback import print_message
from .monitor import MonitorCallback


class EarlyStopping(MonitorCallback):
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
        owner = "EarlyStopping"
        self.patience = check_int("patience", patience, low=0, owner=owner)
        self.start_from_epoch = check_int("start_from_epoch", start_from_epoch, low=0,
                                          owner=owner)
        self.baseline = check_real("baseline", baseline, allow_none=True, allow_inf=True,
                                   owner=owner)
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
            print_message(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_message(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def _copy_weights(self):
        # Copies, because the optimizer updates weight buffers in place and a
        # model may hand out views of them.
        return [np.array(w, copy=True) for w in self.model.get_weights()]
