"""Worker for the long-run tests, run in a fresh interpreter so that its memory figures
are its own:

    python _long_run_worker.py PREDICT_CALLS FIT_CALLS

Prints one JSON line with the RSS and tracemalloc figures, thread and file-descriptor
counts before and after.
"""

import gc
import json
import os
import sys
import threading
import tracemalloc

import numpy as np


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def os_threads():
    return len(os.listdir("/proc/self/task"))


def main(predict_calls, fit_calls):
    import fastnn
    from fastnn import callbacks, layers

    fastnn.utils.set_random_seed(0)
    model = fastnn.Sequential([
        layers.Dense(64, activation="relu", input_dim=20),
        layers.Dropout(0.2),
        layers.BatchNormalization(),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 20)).astype("float32")
    y = rng.integers(0, 10, 256)
    small = x[:8]

    def fit_once():
        model.fit(x, y, epochs=1, batch_size=32, validation_split=0.25, verbose=0,
                  callbacks=[callbacks.EarlyStopping(monitor="val_loss", patience=2)])

    # warm-up: first-call allocations, caches per batch size, the OpenMP pool
    warm_predict = max(predict_calls // 10, 200)
    warm_fit = max(fit_calls // 10, 5)
    for _ in range(warm_predict):
        model.predict(small, verbose=0)
    for _ in range(warm_fit):
        fit_once()
    gc.collect()
    tracemalloc.start()
    before = {"rss": rss_bytes(), "traced": tracemalloc.get_traced_memory()[0],
              "threads": threading.active_count(), "os_threads": os_threads(),
              "fds": open_fds()}
    for i in range(predict_calls):
        model.predict(small, verbose=0)
        if fit_calls and i % max(predict_calls // fit_calls, 1) == 0:
            fit_once()
    for _ in range(fit_calls - min(fit_calls, predict_calls)):
        fit_once()
    gc.collect()
    after = {"rss": rss_bytes(), "traced": tracemalloc.get_traced_memory()[0],
             "threads": threading.active_count(), "os_threads": os_threads(),
             "fds": open_fds()}
    tracemalloc.stop()
    print(json.dumps({"predict_calls": predict_calls, "fit_calls": fit_calls,
                      "before": before, "after": after}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
