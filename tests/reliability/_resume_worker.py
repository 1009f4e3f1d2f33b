"""Worker process for the crash tests (run as a script, killed with SIGKILL).

    python _resume_worker.py train BACKUP_DIR OUT.npz EPOCHS [THREADS]
        Train a fixed model with BackupAndRestore(BACKUP_DIR); at the end write the
        weights to OUT.npz.  Prints "epoch N" after each epoch ("start" first).
"""

import os
import sys

import numpy as np


def make_model(fastnn):
    from fastnn import layers

    fastnn.utils.set_random_seed(1234)
    model = fastnn.Sequential([
        layers.Dense(64, activation="relu", input_dim=12),
        layers.Dropout(0.25),
        layers.BatchNormalization(),
        layers.Dense(32, activation="tanh"),
        layers.Dense(4, activation="softmax"),
    ])
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=3e-3, clipnorm=5.0),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 12)).astype("float32")
    y = (x[:, :4].argmax(axis=1) + (x[:, 5] > 1)) % 4
    return x, y


def train(backup_dir, out, epochs, threads=2):
    import fastnn
    from fastnn import callbacks

    fastnn.set_num_threads(threads)
    model = make_model(fastnn)
    x, y = data()

    class Report(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"epoch {epoch}", flush=True)

    print("start", flush=True)
    cbs = [Report()] if backup_dir == "-" else [
        callbacks.BackupAndRestore(backup_dir, double_checkpoint=True), Report()]
    model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.1, verbose=0,
              callbacks=cbs)
    np.savez(out + ".tmp.npz", *model.get_weights())
    os.replace(out + ".tmp.npz", out)
    print("done", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3], int(sys.argv[4]),
              int(sys.argv[5]) if len(sys.argv) > 5 else 2)
