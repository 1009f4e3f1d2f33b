"""`BackupAndRestore`: back up the training state every epoch and resume an
interrupted ``fit`` from it."""

import os

from .. import distributed as _distributed
from ..utils.files import user_path
from ..utils.validation import check_choice
from .callback import Callback


class BackupAndRestore(Callback):
    """Backs up the whole training state at the end of every epoch, and resumes an
    interrupted ``fit`` from it (Keras 3's ``keras.callbacks.BackupAndRestore``).

    The backup is one model file (``<backup_dir>/latest.fastnn``, written atomically, so
    a crash or SIGKILL while writing leaves the previous backup intact) holding the
    weights, the optimizer state, the per-layer random state (Dropout) and, in its
    metadata, the next epoch and the states of the global random generator and of
    ``fit``'s shuffling generator.  When ``fit`` starts and a backup exists, it is loaded
    into the model and training continues at the saved epoch.  A run interrupted and
    resumed this way ends with the same weights, bit for bit, as the same run
    uninterrupted (same seed, data, and thread count):

        fastnn.utils.set_random_seed(0)
        model = make_model()   # the same architecture, compiled the same way
        model.fit(x, y, epochs=10,
                  callbacks=[fastnn.callbacks.BackupAndRestore("/tmp/backup")])

    Put it after callbacks that change the model at the end of an epoch (e.g.
    ``ReduceLROnPlateau``), so that the backup includes their changes.  The state of
    other callbacks (EarlyStopping's patience counter, ...) is not backed up, as in Keras.

    The model writes and reads the backup itself (``model.save_training_state`` and
    ``model.load_training_state``), so this callback only decides when and where.

    Args:
        backup_dir: directory of the backup (created if needed); one per training run.
        save_freq: ``"epoch"``, the only value supported: back up after every epoch.
        double_checkpoint: also keep the backup before the latest, and resume from it
            if the latest cannot be read.
        delete_checkpoint: delete the backup when ``fit`` ends normally.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        owner = "BackupAndRestore"
        self.backup_dir = user_path(backup_dir, "backup_dir", owner=owner)
        # a backup after every epoch is the only schedule supported
        self.save_freq = check_choice("save_freq", save_freq, ("epoch",), owner=owner)
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._latest = os.path.join(self.backup_dir, "latest.fastnn")
        self._previous = os.path.join(self.backup_dir, "previous.fastnn")

    def on_train_begin(self, logs=None):
        candidates = [self._latest] + ([self._previous] if self.double_checkpoint else [])
        errors = []
        for path in candidates:
            if not os.path.exists(path):
                continue
            try:
                self.model.load_training_state(path)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            return
        if errors:
            raise ValueError(
                "BackupAndRestore: the backup cannot be restored (" + "; ".join(errors)
                + "). Delete it to start training afresh."
            )

    def on_epoch_end(self, epoch, logs=None):
        # every rank of a data-parallel run restores the backup; rank 0 alone writes it
        if not _distributed.is_primary():
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._latest):
            os.replace(self._latest, self._previous)
        self.model.save_training_state(self._latest, epoch=int(epoch) + 1)

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or not _distributed.is_primary():
            return
        for path in (self._latest, self._previous):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
