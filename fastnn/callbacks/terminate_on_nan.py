"""`TerminateOnNaN`: stop training at the first NaN or infinite loss."""

import math

from .callback import Callback, print_message


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
        print_message(f"Batch {batch}: Invalid loss ({loss}), terminating training")
        self.model.stop_training = True
