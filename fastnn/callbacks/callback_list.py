"""`CallbackList`: the one object the training loop calls, forwarding each hook to
every callback in order."""

import collections.abc

from .. import distributed as _distributed
from .callback import Callback
from .history import History
from .progbar_logger import ProgbarLogger


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
        if not _distributed.is_primary():
            self.callbacks = [cb for cb in self.callbacks if not cb.primary_rank_only]
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
        if callback.primary_rank_only and not _distributed.is_primary():
            return
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
