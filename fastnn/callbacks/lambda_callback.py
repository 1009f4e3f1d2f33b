"""`LambdaCallback`: a callback built from plain functions."""

from .callback import HOOKS, Callback


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
        unknown = sorted(set(kwargs) - set(HOOKS))
        if unknown:
            raise TypeError(
                f"LambdaCallback got unknown hook name(s) {unknown}. "
                f"Expected names among: {', '.join(HOOKS)}"
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
