"""`History`: the per-epoch logs that ``fit`` returns."""

from .callback import Callback


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
