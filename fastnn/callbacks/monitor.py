"""What `EarlyStopping`, `ReduceLROnPlateau` and `ModelCheckpoint` share: watching
one logged metric and deciding whether a value is an improvement."""

import math
import warnings

from ..utils.naming import did_you_mean
from ..utils.validation import check_choice, check_real, check_str
from .callback import Callback

# In mode "auto", a monitored name containing one of these is maximized;
# anything else (losses, errors) is minimized.
HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "iou")


class MonitorCallback(Callback):
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
        self.monitor = check_str("monitor", monitor, owner=owner)
        self.mode = check_choice("mode", mode, ("auto", "min", "max"), owner=owner)
        # An infinite min_delta is allowed (nothing counts as an improvement).
        self.min_delta = abs(check_real("min_delta", min_delta, allow_inf=True, owner=owner))
        self._warned_missing = False

    @property
    def _maximize(self):
        if self.mode != "auto":
            return self.mode == "max"
        name = self.monitor.lower()
        if name.startswith("val_"):
            name = name[len("val_"):]
        return any(hint in name for hint in HIGHER_IS_BETTER)

    def _is_improvement(self, current, reference):
        """Whether `current` beats `reference` by more than `min_delta`.

        A NaN is never an improvement, so it never becomes the best value: the
        first finite value after it does.  (Keras 3 takes a first NaN as the best
        value, and since every comparison with NaN is false, nothing improves on
        it afterwards: EarlyStopping, ModelCheckpoint and ReduceLROnPlateau freeze
        for the rest of the run.)  A NaN reference, one set by hand, counts as no
        reference.
        """
        if math.isnan(current):
            return False
        if reference is None or math.isnan(reference):
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
                    f"{', '.join(logs) or '(none)'}.{did_you_mean(self.monitor, logs)}",
                    stacklevel=3,
                )
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            # e.g. Precision(thresholds=[0.3, 0.7]) logs one value per threshold
            raise TypeError(
                f"{type(self).__name__} monitors `{self.monitor}`, which must be one "
                f"number per epoch. Received: {self.monitor}={value!r}"
            ) from None
