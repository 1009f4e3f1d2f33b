"""`ReduceLROnPlateau`: lower the learning rate when a metric has stopped improving."""

import numpy as np

from ..utils.validation import check_int, check_real
from .callback import print_message
from .monitor import MonitorCallback


class ReduceLROnPlateau(MonitorCallback):
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
        owner = "ReduceLROnPlateau"
        # factor multiplies the learning rate to reduce it: below 1
        self.factor = check_real("factor", factor, low=0.0, high=1.0, high_open=True,
                                 owner=owner)
        self.patience = check_int("patience", patience, low=0, owner=owner)
        self.cooldown = check_int("cooldown", cooldown, low=0, owner=owner)
        self.min_lr = check_real("min_lr", min_lr, low=0.0, allow_inf=True, owner=owner)
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
            print_message(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        self.cooldown_counter = self.cooldown
        self.wait = 0
