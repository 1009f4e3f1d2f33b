"""Callbacks: code that runs at fixed points of ``fit``, ``evaluate`` and ``predict``.

The names, arguments, defaults and behaviour follow Keras 3's
``keras.callbacks``, with one module per callback as Keras lays them out. The
training loop drives everything through one `CallbackList`; a callback only
sees the model through ``self.model`` and the ``logs`` dicts it is handed:

- ``on_train_batch_end`` / ``on_test_batch_end`` get the running averages of
  the epoch so far (``{"loss": 0.31, "accuracy": 0.88}``);
- ``on_epoch_end`` gets the epoch's results, validation ones prefixed ``val_``.

Every callback receives the *same* dict object in turn, so one that adds a key
(``ReduceLROnPlateau`` adds ``learning_rate``) is seen by those after it: the
`History` and `ProgbarLogger` that `CallbackList` appends last.

The model object is used only through its public API: ``stop_training``,
``get_weights`` / ``set_weights``, ``optimizer.learning_rate``, ``save`` /
``save_weights``, ``save_training_state`` / ``load_training_state``
(`BackupAndRestore`) and ``history``, so tests can drive callbacks with a
small stand-in. This package never imports ``fastnn.models``: the engine
imports the callbacks (its fit loop builds a `CallbackList`), not the reverse.
"""

from .backup_and_restore import BackupAndRestore
from .callback import Callback
from .callback_list import CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .progbar_logger import ProgbarLogger
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = [
    "BackupAndRestore",
    "Callback",
    "CallbackList",
    "CSVLogger",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]
