"""`LearningRateScheduler`: set the learning rate each epoch from a function."""

import inspect
import numbers

from .callback import Callback, print_message


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
            print_message(
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
