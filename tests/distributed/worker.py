"""One rank of a data-parallel test run: ``python worker.py SCENARIO OUT [ARG]``.

Started by tests/distributed/test_data_parallel.py under ``mpiexec -n 2`` (and, for the
single-process reference, without it).  Each rank writes what the test compares to
``OUT/<scenario>-rank<r>.npz`` (arrays) and ``.json`` (numbers and logs).
"""

import json
import os
import signal
import sys

import numpy as np

import fastnn
from fastnn import callbacks, layers

fastnn.distributed.initialize()
RANK, SIZE = fastnn.distributed.rank(), fastnn.distributed.size()


class CountingComm:
    """The job's communicator, counting the reductions that go through it."""

    def __init__(self, comm):
        self._comm = comm
        self.buffer_allreduces = 0
        self.flag_allreduces = 0  # one int32: the ranks agreeing on a yes/no
        self.pickled_allreduces = 0
        self.sizes = set()

    def Allreduce(self, sendbuf, recvbuf, op):
        if recvbuf.dtype == np.int32 and recvbuf.size == 1:
            self.flag_allreduces += 1
            return self._comm.Allreduce(sendbuf, recvbuf, op=op)
        self.buffer_allreduces += 1
        self.sizes.add(recvbuf.size)
        assert isinstance(recvbuf, np.ndarray) and recvbuf.flags.c_contiguous
        return self._comm.Allreduce(sendbuf, recvbuf, op=op)

    def allreduce(self, *args, **kwargs):
        self.pickled_allreduces += 1
        return self._comm.allreduce(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._comm, name)


class CountingReductions:
    """Counts the step reductions (shared memory or Allreduce alike) and their sizes."""

    def __init__(self):
        from fastnn.distributed import _data_parallel

        self._cls = _data_parallel.DataParallel
        self._original = self._cls._reduce_buffer
        self.count, self.sizes = 0, set()
        counter = self

        def counted(dp, layout):
            counter.count += 1
            counter.sizes.add(layout.result.size)
            return counter._original(dp, layout)

        self._cls._reduce_buffer = counted

    def remove(self):
        self._cls._reduce_buffer = self._original


def data(n, features, classes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *features)).astype(dtype)
    y = rng.integers(0, classes, n)
    sw = rng.uniform(0.5, 2.0, n).astype(dtype)
    return x, y, sw


def build(builder, dtype):
    """A compiled model; the weights depend on the global seed (set per rank)."""
    fastnn.config.set_floatx(dtype)
    if builder == "mlp":
        model = fastnn.Sequential([
            layers.Input((12,)),
            layers.Dense(16, activation="relu", kernel_regularizer="l2"),
            layers.Dense(3, activation="softmax"),
        ])
        shape = (12,)
    elif builder == "cnn":
        model = fastnn.Sequential([
            layers.Input((8, 8, 2)),
            layers.Conv2D(4, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ])
        shape = (8, 8, 2)
    else:
        raise ValueError(builder)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    return model, shape


def scramble_other_ranks(model):
    """Give every rank but 0 other weights: fit must start from rank 0's."""
    if RANK:
        rng = np.random.default_rng(100 + RANK)
        model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])


def train(builder, dtype, n, out):
    fastnn.utils.set_random_seed(1 + 10 * RANK)  # ranks differ on purpose
    model, shape = build(builder, dtype)
    scramble_other_ranks(model)
    x, y, sw = data(n, shape, 3, dtype)
    xv, yv, _ = data(37, shape, 3, dtype, seed=1)
    comm = fastnn.distributed.communicator()
    counter = reductions = None
    if comm is not None:
        counter = fastnn.distributed._world.comm = CountingComm(comm)
        reductions = CountingReductions()
    history = model.fit(x, y, batch_size=25, epochs=3, sample_weight=sw,
                        validation_data=(xv, yv), verbose=0)
    evaluated = model.evaluate(xv, yv, batch_size=17, verbose=0, return_dict=True)
    predicted = model.predict(xv[:5], verbose=0)
    if counter is not None:
        fastnn.distributed._world.comm = comm
        reductions.remove()
    record = {"history": history.history, "evaluate": evaluated}
    if counter is not None:
        record.update(buffer_allreduces=counter.buffer_allreduces,
                      flag_allreduces=counter.flag_allreduces,
                      pickled_allreduces=counter.pickled_allreduces,
                      reductions=reductions.count,
                      buffer_sizes=sorted(reductions.sizes),
                      reduction=fastnn.distributed._world.reduction,
                      local_size=fastnn.distributed.local_size())
    tag = f"{builder}-{dtype}"
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays["predicted"] = predicted
    save(out, tag, arrays, record)


def batch_norm(out):
    """One step on one global batch: the moving statistics are the ranks' mean."""
    fastnn.config.set_floatx("float64")
    fastnn.utils.set_random_seed(3)
    model = fastnn.Sequential([layers.Input((5,)), layers.BatchNormalization(momentum=0.9),
                               layers.Dense(2)])
    model.compile("sgd", "mse")
    x, _, _ = data(30, (5,), 2, "float64", seed=4)
    x = x * np.arange(1, 6) + np.arange(5)
    y = np.ones((30, 2))
    model.fit(x, y, batch_size=30, epochs=1, shuffle=False, verbose=0)
    bn = model.layers[0]
    save(out, "bn", {"x": x, "moving_mean": bn.moving_mean.value,
                     "moving_variance": bn.moving_variance.value}, {})


def dropout(out):
    """Masks per rank, reproducible; the trained weights still agree."""
    fastnn.config.set_floatx("float64")
    layer = layers.Dropout(0.5, seed=123)
    ones = np.ones((4, 40))
    first = layer.forward(ones, True, {})
    layer.set_rng_state({"seed": 123, "stream": 0})
    again = layer.forward(ones, True, {})
    fastnn.utils.set_random_seed(5)
    model = fastnn.Sequential([layers.Input((12,)), layers.Dense(8, activation="relu"),
                               layers.Dropout(0.3), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y, _ = data(60, (12,), 3, "float64")
    model.fit(x, y, batch_size=20, epochs=2, verbose=0)
    arrays = {"first": first, "again": again}
    arrays.update({f"w{i}": w for i, w in enumerate(model.get_weights())})
    save(out, "dropout", arrays, {})


def thread_counts(out):
    default = fastnn.get_num_threads()
    fastnn.set_num_threads(3)
    save(out, "threads", {}, {"default": default, "set": fastnn.get_num_threads(),
                              "usable": fastnn.threads.usable_cores(),
                              "local_size": fastnn.distributed.local_size()})


class ForbidWrites:
    """Makes any file write by this rank fail the run."""

    @staticmethod
    def install():
        def refuse(*args, **kwargs):
            raise AssertionError(f"rank {RANK} wrote a file: {args[:2]}")

        fastnn.models.saving.save_model = refuse
        fastnn.models.saving.save_weights = refuse
        fastnn.callbacks.csv_logger.open = refuse


def files(out):
    """Callbacks that decide (EarlyStopping, ReduceLROnPlateau) and that write."""
    sys.stdout = open(os.path.join(out, f"stdout-rank{RANK}.txt"), "w")
    fastnn.utils.set_random_seed(1 + 10 * RANK)
    model, shape = build("mlp", "float64")
    scramble_other_ranks(model)
    x, y, _ = data(90, shape, 3, "float64")
    if RANK:
        ForbidWrites.install()
    cbs = [callbacks.EarlyStopping(monitor="val_loss", min_delta=0.02, patience=1),
           callbacks.ReduceLROnPlateau(monitor="val_loss", min_delta=0.05, patience=0,
                                       factor=0.5),
           callbacks.CSVLogger(os.path.join(out, "log.csv")),
           callbacks.ModelCheckpoint(os.path.join(out, "ckpt-{epoch}.fastnn"))]
    history = model.fit(x, y, batch_size=16, epochs=30, validation_split=0.25,
                        callbacks=cbs, verbose=1)
    path = os.path.join(out, "final.fastnn")
    model.save(path)
    fastnn.distributed.barrier()
    loaded = fastnn.load_model(path)
    sys.stdout.flush()
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays["loaded_predict"] = loaded.predict(x[:4], verbose=0)
    arrays["predict"] = model.predict(x[:4], verbose=0)
    save(out, "files", arrays, {"history": history.history,
                                "lr": model.optimizer.learning_rate})


class RaiseAtEpochEnd(callbacks.Callback):
    def __init__(self, epoch, rank):
        super().__init__()
        self.epoch, self.rank = epoch, rank

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch and RANK == self.rank:
            raise RuntimeError("injected interruption")


def resume(out, phase):
    """phase 'interrupted': rank 0 fails after epoch 1's backup; 'resumed': run again."""
    fastnn.utils.set_random_seed(1 + 10 * RANK)
    model, shape = build("mlp", "float64")
    scramble_other_ranks(model)
    x, y, _ = data(70, shape, 3, "float64")
    cbs = [callbacks.BackupAndRestore(os.path.join(out, "backup"))]
    if phase == "interrupted":
        cbs.append(RaiseAtEpochEnd(1, 0))
    history = model.fit(x, y, batch_size=16, epochs=4, callbacks=cbs, verbose=0)
    save(out, "resume", {f"w{i}": w for i, w in enumerate(model.get_weights())},
         {"history": history.history})


class Fault(callbacks.Callback):
    def __init__(self, kind):
        super().__init__()
        self.kind, self.batches = kind, 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if RANK == 1 and self.batches == 3:
            if self.kind == "exception":
                raise ValueError("injected fault on rank 1")
            if self.kind == "kill":
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)


def fault(out, kind):
    fastnn.utils.set_random_seed(2)
    model, shape = build("mlp", "float64")
    x, y, _ = data(200, shape, 3, "float64")
    counter = Fault(kind)
    cbs = [counter]
    if kind == "nan":
        x[65] = 1e300  # overflows in rank 0's share of the fourth batch (rows 60-79)
        cbs.append(callbacks.TerminateOnNaN())
    history = model.fit(x, y, batch_size=20, epochs=50, shuffle=False, callbacks=cbs,
                        verbose=0)
    save(out, f"fault-{kind}", {}, {"batches": counter.batches,
                                    "epochs": len(history.history["loss"])})


def weights(out):
    """A short float64 MLP fit on any number of ranks: the weights and the history."""
    fastnn.utils.set_random_seed(1 + 10 * RANK)
    model, shape = build("mlp", "float64")
    scramble_other_ranks(model)
    x, y, sw = data(90, shape, 3, "float64")
    history = model.fit(x, y, batch_size=30, epochs=2, sample_weight=sw, verbose=0)
    save(out, "weights", {f"w{i}": w for i, w in enumerate(model.get_weights())},
         {"history": history.history, "local_size": fastnn.distributed.local_size()})


def on_batch(out):
    """A custom loop: train_on_batch on global batches (uneven ones, one smaller than
    the ranks), then test_on_batch, also after a rank changed its weights."""
    fastnn.utils.set_random_seed(1 + 10 * RANK)
    model, shape = build("mlp", "float64")
    scramble_other_ranks(model)
    x, y, sw = data(111, shape, 3, "float64")
    xv, yv, _ = data(37, shape, 3, "float64", seed=1)
    # first a small step buffer (loss and metrics only), then the training one needs
    # more room: the shared segments are reallocated and the small one made again
    # (slots rounded to 64 bytes, not a page, so that this small model outgrows them)
    from fastnn.distributed import _shared_memory
    _shared_memory._ALIGN = 64
    test_logs = [model.test_on_batch(xv, yv, return_dict=True)]
    train_logs = []
    for start in range(0, 111, 25):  # 25, 25, 25, 25, 11 rows
        rows = slice(start, start + 25)
        train_logs.append(model.train_on_batch(x[rows], y[rows], sample_weight=sw[rows],
                                               return_dict=True))
    train_logs.append(model.train_on_batch(x[:1], y[:1], return_dict=True))  # 1 row
    test_logs.append(model.test_on_batch(xv, yv, return_dict=True))
    # set_weights on one rank: the next call starts from rank 0's weights again
    if RANK:
        model.set_weights([w + 1.0 for w in model.get_weights()])
    test_logs.append(model.test_on_batch(xv, yv, return_dict=True))
    save(out, "on_batch", {f"w{i}": w for i, w in enumerate(model.get_weights())},
         {"train": train_logs, "test": test_logs,
          "generation": (fastnn.distributed._world._reducer.generation
                         if SIZE > 1 else None)})


def refit(out):
    """Several fits of one model: the later ones skip the start's broadcast while
    every rank holds the same model, and broadcast again when one rank changed its
    weights or optimizer state, announced (set_weights) or behind fastnn's back
    (writing into the arrays); each fit's broadcasts are counted."""
    from fastnn.distributed import _data_parallel

    fastnn.utils.set_random_seed(1 + 10 * RANK)
    model, shape = build("mlp", "float64")
    scramble_other_ranks(model)
    x, y, sw = data(90, shape, 3, "float64")
    original = _data_parallel.DataParallel.broadcast_model
    counts = []

    def counted(dp, m):
        counts[-1] += 1
        return original(dp, m)

    _data_parallel.DataParallel.broadcast_model = counted
    changes = [None, None, "set_weights", "kernel", "adam m", "iterations", None]
    for change in changes:
        if RANK == 1 and change == "set_weights":
            model.set_weights([w + 1.0 for w in model.get_weights()])
        elif RANK == 1 and change == "kernel":
            model.layers[0].kernel.value[3, 2] += 1e-9
        elif RANK == 1 and change == "adam m":
            model.optimizer.variables[2].reshape(-1)[7] *= 2.0
        elif RANK == 1 and change == "iterations":
            model.optimizer.iterations += 1
        counts.append(0)
        model.fit(x, y, batch_size=30, epochs=1, sample_weight=sw, verbose=0)
    _data_parallel.DataParallel.broadcast_model = original
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"opt{i}": np.asarray(v) for i, v in
                   enumerate(model.optimizer.variables)})
    save(out, "refit", arrays, {"broadcasts": counts, "changes": changes})


def bad_input(out):
    """fit and evaluate on inputs with a bad value where one rank's share of the
    rows holds it (each rank checks only its rows for NaN and infinities): every rank
    must raise one process's error, and good data must still train."""
    fastnn.utils.set_random_seed(5)
    model, shape = build("mlp", "float32")
    x, y, _ = data(40, shape, 3, "float64")
    messages = {}
    for case, row, value in [("nan, first row", 0, np.nan), ("inf, last row", 39, np.inf),
                             ("too large for float32, last row", 39, 1e300)]:
        bad = x.copy()
        bad[row, 1] = value
        for call in ("fit", "evaluate"):
            try:
                if call == "fit":
                    model.fit(bad, y, batch_size=10, epochs=1, verbose=0)
                else:
                    model.evaluate(bad, y, batch_size=10, verbose=0)
            except ValueError as exc:
                messages[f"{call}: {case}"] = str(exc)
            else:
                messages[f"{call}: {case}"] = None
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0).history
    save(out, "bad_input", {f"w{i}": w for i, w in enumerate(model.get_weights())},
         {"messages": messages, "history": history})


def replay(out, threads):
    """Data-parallel fits of a plain Dense chain, whose steps the step plan replays
    (``step_plan``: the gradients written straight into the step buffer), and the
    same fits with the plan disabled (the ordinary step); each rank saves both."""
    from fastnn.models import step_plan

    fastnn.set_num_threads(int(threads))
    build_plan, run_plan = step_plan.build, step_plan.StepPlan.run
    replays = {"count": 0}

    def counted_run(plan, *args, **kwargs):
        replays["count"] += plan.dp is not None
        return run_plan(plan, *args, **kwargs)

    step_plan.StepPlan.run = counted_run
    for dtype in ("float64", "float32"):
        arrays, record = {}, {}
        for mode in ("replayed", "ordinary"):
            step_plan.build = build_plan if mode == "replayed" else (lambda *a, **k: None)
            replays["count"] = 0
            fastnn.utils.set_random_seed(3 + 10 * RANK)
            fastnn.config.set_floatx(dtype)
            model = fastnn.Sequential([layers.Input((12,)),
                                       layers.Dense(16, activation="relu"),
                                       layers.Dense(9, activation="tanh"),
                                       layers.Dense(3, activation="softmax")])
            model.compile("adam", "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            scramble_other_ranks(model)
            # 101 rows in global batches of 25: shares of 12 and 13 rows, and a last
            # batch of one row (one rank's share is empty)
            x, y, sw = data(101, (12,), 3, dtype, seed=4)
            h1 = model.fit(x, y, batch_size=25, epochs=2, verbose=0).history
            h2 = model.fit(x, y, batch_size=25, epochs=1, sample_weight=sw,
                           verbose=0).history
            # other trainable variables and no metric: another step buffer
            model.layers[0].trainable = False
            model.compile("adam", "sparse_categorical_crossentropy")
            h3 = model.fit(x, y, batch_size=25, epochs=1, verbose=0).history
            for i, w in enumerate(model.get_weights()):
                arrays[f"{mode}-w{i}"] = w
            record[mode] = {"history": [h1, h2, h3], "replays": replays["count"]}
        save(out, f"replay-{dtype}", arrays, record)
    step_plan.build, step_plan.StepPlan.run = build_plan, run_plan


def save(out, tag, arrays, record):
    stem = os.path.join(out, f"{tag}-rank{RANK}")
    np.savez(stem + ".npz", **arrays)
    record = dict(record, rank=RANK, size=SIZE)
    with open(stem + ".json", "w") as f:
        json.dump(record, f)


def main(scenario, out, arg=None):
    if scenario == "train":
        builder = arg
        train(builder, "float64", 110, out)
        train(builder, "float32", 101, out)
        if builder == "mlp":
            batch_norm(out)
            dropout(out)
            thread_counts(out)
    elif scenario == "replay":
        replay(out, arg)
    elif scenario == "on_batch":
        on_batch(out)
    elif scenario == "bad_input":
        bad_input(out)
    elif scenario == "refit":
        refit(out)
    elif scenario == "weights":
        weights(out)
    elif scenario == "files":
        files(out)
    elif scenario == "resume":
        resume(out, arg)
    elif scenario == "fault":
        fault(out, arg)
    else:
        raise ValueError(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
