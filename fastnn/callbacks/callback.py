"""The base class every callback derives from, and the names of its hooks."""

from .. import distributed as _distributed

# Every hook a callback may implement, as named in Keras 3.
HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


def print_message(message):
    """Print one message of a callback (``verbose`` output) at once."""
    if not _distributed.is_primary():  # one rank of a data-parallel run speaks
        return
    # print() looks sys.stdout up at call time, so redirections are honoured.
    print(message, flush=True)


class Callback:
    """Base class for callbacks: override the hooks you need.

    Every hook does nothing by default, except that `on_train_batch_begin` and
    `on_train_batch_end` forward to the older names `on_batch_begin` and
    `on_batch_end`, so callbacks written against either name work.

    Attributes:
        model: The model being trained, evaluated or used for prediction.
        params: Dict of run parameters: `epochs`, `steps` (batches per epoch,
            or `None` if unknown) and `verbose`.
    """

    # Class-level defaults so subclasses that skip super().__init__() still work.
    model = None
    params = None
    #: True for a callback whose only effects are files and messages (CSVLogger,
    #: ModelCheckpoint): in a data-parallel run (fastnn.distributed) only rank 0 runs
    #: it, so one rank writes each file.
    primary_rank_only = False

    def __init__(self):
        self.model = None
        self.params = None

    def set_model(self, model):
        """Attaches the model the callbacks act on.

        Args:
            model: The model object.
        """
        self.model = model

    def set_params(self, params):
        """Stores the run parameters.

        Args:
            params: Dict with `epochs`, `steps` and `verbose`.
        """
        self.params = params

    def on_batch_begin(self, batch, logs=None):
        """Older name of `on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """Older name of `on_train_batch_end`."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each training epoch.

        Args:
            epoch: Index of the epoch, from 0.
            logs: Dict; currently empty.
        """

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each training epoch.

        Args:
            epoch: Index of the epoch, from 0.
            logs: Dict of the epoch's results, e.g. `{"loss": 0.2,
                "accuracy": 0.9, "val_loss": 0.3}`.
        """

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch.

        Args:
            batch: Index of the batch within the epoch, from 0.
            logs: Dict; currently empty.
        """
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch.

        Args:
            batch: Index of the batch within the epoch, from 0.
            logs: Dict of the running averages over the epoch so far.
        """
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each batch of `evaluate` or of validation in `fit`.

        Args:
            batch: Index of the batch, from 0.
            logs: Dict; currently empty.
        """

    def on_test_batch_end(self, batch, logs=None):
        """Called after each batch of `evaluate` or of validation in `fit`.

        Args:
            batch: Index of the batch, from 0.
            logs: Dict of the running averages so far.
        """

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each batch of `predict`.

        Args:
            batch: Index of the batch, from 0.
            logs: Dict; currently empty.
        """

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each batch of `predict`.

        Args:
            batch: Index of the batch, from 0.
            logs: Dict; may hold the batch's outputs.
        """

    def on_train_begin(self, logs=None):
        """Called once at the start of `fit`.

        Args:
            logs: Dict; currently empty.
        """

    def on_train_end(self, logs=None):
        """Called once at the end of `fit`.

        Args:
            logs: Dict; the logs of the last epoch.
        """

    def on_test_begin(self, logs=None):
        """Called at the start of `evaluate` or of each validation run.

        Args:
            logs: Dict; currently empty.
        """

    def on_test_end(self, logs=None):
        """Called at the end of `evaluate` or of each validation run.

        Args:
            logs: Dict of the evaluation results.
        """

    def on_predict_begin(self, logs=None):
        """Called at the start of `predict`.

        Args:
            logs: Dict; currently empty.
        """

    def on_predict_end(self, logs=None):
        """Called at the end of `predict`.

        Args:
            logs: Dict; currently empty.
        """
