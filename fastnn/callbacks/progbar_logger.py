"""`ProgbarLogger`: the progress bar and metrics printed during ``fit``,
``evaluate`` and ``predict``."""

from ..utils.progbar import Progbar
from .callback import Callback, print_message


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
            print_message(f"Epoch {epoch + 1}/{self.epochs}")

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
