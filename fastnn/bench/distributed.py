"""The ``distributed`` section of ``fastnn bench``: weak scaling of data-parallel ``fit``.

Three configurations train the seeds' 784-500-500-10 MLP (Adam, softmax
cross-entropy, float32) on synthetic data, each in fresh processes:

- ``1 rank x 1 thread``, batch ``b`` (``b`` = samples per rank per step, 128 by
  default): the baseline;
- ``2 ranks x 1 thread`` under ``mpiexec -n 2``, global batch ``2b``: the
  data-parallel run, which would ideally train at twice the baseline's samples/s;
- ``1 rank x 2 threads``, batch ``2b``: the same work per step on the same cores,
  split by OpenMP instead of MPI;
- ``2 ranks x 1 thread, Allreduce``: the data-parallel run again with the step buffer
  summed by one MPI ``Allreduce`` (``FASTNN_DISTRIBUTED_REDUCTION=allreduce``) instead
  of the node's shared memory (the default on one node), to show what that saves.

Each run times ``fit`` epochs after an untimed warm-up epoch and reports samples/s
(the median over ``repeats`` epochs, each one ``fit`` call, so that a fit's start --
input checks and, on several ranks, the broadcast of the weights and optimizer state
from rank 0 -- is in it), and the steady-state samples/s of the epoch bodies alone
(from ``on_epoch_begin`` to ``on_epoch_end``: the steps and what runs between them).  The data-parallel run also reports the share of
a step spent in the gradient reduction ("allreduce": the shared-memory sum or the
``Allreduce``, with the loss and metric state around it) and in packing the gradients
into its buffer (the copy ``fastnn.distributed`` makes), timed around those calls on
rank 0 and divided by the duration of the same epochs.  It also reports every rank's
timeline of a step in thread CPU time (robust to other processes on the machine, unlike
wall-clock): the whole ``fit``, the training steps, the reduction and, within it, the
node barriers (MPI spins in them, so their CPU time is the waiting for the other rank),
each in milliseconds per step, beside the wall-clock of the same spans.

Run as ``python -m fastnn.bench.distributed --worker ...`` it is one of those processes
and prints one JSON line.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

MLP = (784, 500, 500, 10)
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(samples_per_rank=128, steps=8, repeats=3, layers=MLP, timeout=600,
            progress=None):
    """Run the three configurations and return their results as one dict.

    Args:
        samples_per_rank: rows each rank computes per step.
        steps: steps per timed epoch.
        repeats: timed epochs per configuration (the median is reported).
        layers: units per layer, input first.
        timeout: seconds each configuration may take.
        progress: optional ``callable(str)`` told what runs.

    Returns:
        ``{"settings": ..., "runs": [...], "weak_scaling": float or None,
        "status": "ok" or a reason}``: ``weak_scaling`` is the 2-rank samples/s over
        twice the 1-rank-1-thread samples/s (1.0 is perfect).
    """
    settings = {"samples_per_rank": samples_per_rank, "steps": steps, "repeats": repeats,
                "layers": list(layers)}
    doc = {"settings": settings, "runs": [], "weak_scaling": None,
           "weak_scaling_allreduce": None, "status": "ok"}
    mpiexec = _find_mpiexec()
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        mpiexec = None
    if mpiexec is None:
        doc["status"] = "skipped: needs mpi4py and mpiexec (pip install 'fastnn[mpi]')"
        return doc
    plan = [("1 rank x 1 thread", 1, 1, samples_per_rank, None),
            ("2 ranks x 1 thread", 2, 1, 2 * samples_per_rank, None),
            ("1 rank x 2 threads", 1, 2, 2 * samples_per_rank, None),
            ("2 ranks x 1 thread, Allreduce", 2, 1, 2 * samples_per_rank, "allreduce")]
    for label, ranks, threads, batch, reduction in plan:
        if progress:
            progress(f"distributed: {label}, global batch {batch}")
        command = [sys.executable, "-m", "fastnn.bench.distributed", "--worker",
                   "--threads", str(threads), "--batch", str(batch), "--steps", str(steps),
                   "--repeats", str(repeats), "--layers", ",".join(map(str, layers))]
        if ranks > 1:
            command = [mpiexec, "-n", str(ranks), *command]
        env = dict(os.environ)
        env.pop("OMP_NUM_THREADS", None)
        env.pop("FASTNN_DISTRIBUTED_REDUCTION", None)
        # the workers import the fastnn this process runs (a checkout, not another
        # installed copy)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        if reduction is not None:
            env["FASTNN_DISTRIBUTED_REDUCTION"] = reduction
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env)
        if proc.returncode != 0:
            doc["status"] = f"{label} failed: {proc.stderr.strip()[-500:]}"
            return doc
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        doc["runs"].append(dict(result, label=label, ranks=ranks, threads=threads))
    base, parallel, plain = doc["runs"][0], doc["runs"][1], doc["runs"][3]
    doc["weak_scaling"] = parallel["samples_per_s"] / (2 * base["samples_per_s"])
    doc["weak_scaling_allreduce"] = plain["samples_per_s"] / (2 * base["samples_per_s"])
    doc["weak_scaling_steady"] = (parallel["steady_samples_per_s"]
                                  / (2 * base["steady_samples_per_s"]))
    return doc


def _find_mpiexec():
    return (shutil.which("mpiexec")
            or shutil.which("mpiexec", path=os.path.dirname(sys.executable)))


def format_table(doc):
    """The result of ``measure`` as plain-text lines."""
    s = doc["settings"]
    lines = [f"Data-parallel weak scaling, {'-'.join(map(str, s['layers']))} MLP, "
             f"{s['samples_per_rank']} samples per rank per step"]
    if doc["status"] != "ok":
        return lines + [f"  {doc['status']}"]
    lines.append(f"  {'configuration':<30} {'batch':>6} {'samples/s':>11} {'steady':>9} "
                 f"{'allreduce':>10} {'packing':>8}")
    for run in doc["runs"]:
        share = run.get("allreduce_share")
        pack = run.get("pack_share")
        lines.append(f"  {run['label']:<30} {run['batch']:>6} {run['samples_per_s']:>11.0f} "
                     f"{run['steady_samples_per_s']:>9.0f} "
                     f"{'' if share is None else f'{share:.1%}':>10} "
                     f"{'' if pack is None else f'{pack:.1%}':>8}")
    lines.append(f"  weak scaling: 2 ranks reach {doc['weak_scaling']:.2f} of twice "
                 "1 rank x 1 thread (target >= 0.90); "
                 f"{doc['weak_scaling_allreduce']:.2f} with Allreduce; "
                 f"{doc['weak_scaling_steady']:.2f} in the steady state (epoch bodies)")
    lines.append("  per step, ms of thread CPU (wall):")
    for run in doc["runs"]:
        for rank, timeline in enumerate(run.get("timeline", [])):
            parts = ", ".join(f"{name} {cpu:.3f} ({wall:.3f})"
                              for name, (cpu, wall) in timeline.items())
            lines.append(f"    {run['label']}, rank {rank}: {parts}")
    return lines


# ---------------------------------------------------------------------- one process
def _worker(threads, batch, steps, repeats, layers):
    import fastnn
    from fastnn import layers as L
    from fastnn.distributed import _data_parallel

    fastnn.distributed.initialize()
    fastnn.set_num_threads(threads)
    fastnn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = batch * steps
    x = rng.normal(size=(n, layers[0])).astype(np.float32)
    y = rng.integers(0, layers[-1], n)
    model = fastnn.Sequential(
        [L.Input((layers[0],))]
        + [L.Dense(u, activation="relu") for u in layers[1:-1]]
        + [L.Dense(layers[-1], activation="softmax")])
    model.compile(fastnn.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    timers = _StepTimers(_data_parallel.DataParallel)
    clock = _EpochClock()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up: buffers, caches
    spans = _Spans()
    spans.wrap(type(model), "fit", "fit")
    spans.wrap(type(model), "_train_step", "steps")
    spans.wrap(_data_parallel.DataParallel, "_reduce_tail", "reduction")
    from fastnn.distributed import _shared_memory
    spans.wrap(_shared_memory.NodeReducer, "_sync", "barriers")
    seconds, allreduce, pack, bodies = [], [], [], []
    for _ in range(repeats):
        timers.reset()
        fastnn.distributed.barrier()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=[clock])
        seconds.append(time.perf_counter() - start)
        bodies.append(clock.seconds)
        allreduce.append(timers.allreduce)
        pack.append(timers.pack)
    spans.remove()
    median = float(np.median(seconds))
    result = {"batch": batch, "samples_per_s": n / median, "seconds_per_step": median / steps,
              "steady_samples_per_s": n / float(np.median(bodies))}
    timeline = spans.per_step(repeats * steps)
    if fastnn.distributed.size() > 1:
        result.update(step_shares(seconds, allreduce, pack))
        result["reduction"] = fastnn.distributed._world.reduction
        timelines = fastnn.distributed.communicator().gather(timeline, root=0)
    else:
        timelines = [timeline]
    result["timeline"] = timelines
    if fastnn.distributed.is_primary():
        print(json.dumps(result), flush=True)


class _EpochClock:
    """A callback timing the body of an epoch (``on_epoch_begin`` to ``on_epoch_end``):
    the steps without the fit's start.  Not a batch hook, so it leaves the trainer's
    batch loop as it is without callbacks."""

    def __new__(cls):
        from fastnn.callbacks import Callback

        class EpochClock(Callback):
            seconds = 0.0

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds = time.perf_counter() - self._start

        return EpochClock()


class _Spans:
    """Thread CPU time and wall-clock spent in wrapped methods, summed per name."""

    def __init__(self):
        self.totals, self._undo = {}, []

    def wrap(self, owner, name, label):
        original = getattr(owner, name)
        totals = self.totals.setdefault(label, [0.0, 0.0])

        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                totals[0] += time.thread_time() - cpu
                totals[1] += time.perf_counter() - wall

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def remove(self):
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo = []

    def per_step(self, steps):
        """``{label: [cpu ms, wall ms]}`` per step, for the spans that ran."""
        return {label: [cpu * 1e3 / steps, wall * 1e3 / steps]
                for label, (cpu, wall) in self.totals.items() if wall > 0}


def step_shares(seconds, allreduce, pack):
    """The shares of the timed epochs spent reducing and packing.

    Args:
        seconds: each timed epoch's duration.
        allreduce, pack: the time spent in the reduction and in packing during each of
            those epochs (the timers are reset before every epoch, so each entry is one
            epoch's total, never a running sum).

    Returns:
        ``{"allreduce_share": ..., "pack_share": ...}``: the time summed over the epochs
        over the epochs' summed duration, so that one epoch's totals are compared with
        that same epoch's duration.
    """
    if not (len(seconds) == len(allreduce) == len(pack)) or not seconds:
        raise ValueError(
            f"step_shares expects one allreduce and one pack time per timed epoch; "
            f"received {len(seconds)} epochs, {len(allreduce)} allreduce and {len(pack)} "
            "pack times.")
    total = float(sum(seconds))
    return {"allreduce_share": float(sum(allreduce)) / total,
            "pack_share": float(sum(pack)) / total}


class _StepTimers:
    """Times the Allreduce and the rest of ``reduce_step`` (packing the gradients and
    the moving statistics, the bookkeeping) by wrapping them."""

    def __init__(self, data_parallel_class):
        self.reset()
        timers = self
        reduce_step = data_parallel_class.reduce_step
        reduce_tail = data_parallel_class._reduce_tail

        def timed_step(dp, *args):
            start = time.perf_counter()
            out = reduce_step(dp, *args)
            timers.pack += time.perf_counter() - start - timers._last_tail
            return out

        def timed_tail(dp, *args):
            start = time.perf_counter()
            out = reduce_tail(dp, *args)
            timers._last_tail = time.perf_counter() - start
            timers.allreduce += timers._last_tail
            return out

        data_parallel_class.reduce_step = timed_step
        data_parallel_class._reduce_tail = timed_tail

    def reset(self):
        self.allreduce = self.pack = self._last_tail = 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--layers", required=True)
    args = parser.parse_args(argv)
    _worker(args.threads, args.batch, args.steps, args.repeats,
            tuple(int(u) for u in args.layers.split(",")))


if __name__ == "__main__":
    main()
