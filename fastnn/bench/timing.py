"""Timing on a shared machine: interleaved rounds, settle pauses, medians and spreads.

Runs are *interleaved*: after the warm-up rounds, each round runs every contender once,
in an order that rotates from round to round, so that drift on a shared machine (another
process starting, the CPU clock changing) hits all contenders alike instead of whichever
happened to run last.  Results are summarized as the median over rounds with its min,
max and relative spread.
"""

import os
import threading
import time

import numpy as np

# OpenBLAS's idle threads keep spinning for about 0.1-0.15 s after a call (measured: a
# native 2-thread GEMM started right after NumPy ran at 37 GFLOP/s, 0.15 s later at 68;
# on a Zen 5 a fixed 0.05 s pause left fastnn's 2-thread figures at half their value), and
# PyTorch's and libgomp's pools spin too.  So each timed run starts only once every other
# thread of this process has stopped running (see ``wait_until_quiet``); SETTLE_SECONDS
# is the longest it waits.
SETTLE_SECONDS = 1.0

#: ``wait_until_quiet``'s window, and the share of one core the other threads may use in
#: it for the process to count as quiet.
QUIET_WINDOW_SECONDS = 0.005
QUIET_SHARE = 0.05


def interleaved_times(runners, repeats=5, warmup=1, progress=None, settle_seconds=None,
                      noisy_starts=None):
    """Time callables in interleaved rounds with a rotating order.

    Args:
        runners: Dict name -> zero-argument callable (one timed unit of work each).
        repeats: Timed rounds; every runner runs once per round.
        warmup: Untimed rounds first (buffer allocation, caches, thread pools start).
        progress: Optional callable taking one status string.
        settle_seconds: Longest wait before each run for the threads still spinning
            from the previous contender to stop (``wait_until_quiet``), so that they do
            not steal cores from this one; None means ``SETTLE_SECONDS``, 0 no wait.
        noisy_starts: Optional list; the name of each timed run that started before the
            other threads went quiet is appended to it.

    Returns:
        Dict name -> list of seconds, one per timed round.
    """
    names = list(runners)
    times = {name: [] for name in names}
    if settle_seconds is None:
        settle_seconds = SETTLE_SECONDS
    for r in range(warmup + repeats):
        for name in round_order(names, r):
            if progress is not None:
                phase = "warm-up" if r < warmup else f"round {r - warmup + 1}/{repeats}"
                progress(f"{phase}: {name}")
            quiet = wait_until_quiet(settle_seconds) if settle_seconds else True
            elapsed = timed(runners[name])
            if r >= warmup:
                times[name].append(elapsed)
                if not quiet and noisy_starts is not None:
                    noisy_starts.append(name)
    return times


def round_order(names, r):
    """The order of round ``r``: ``names`` rotated left by ``r`` places.

    Rotating the start means no contender always runs right after the same other one
    (whose spinning threads or dirty caches it would always inherit).  Used by
    ``interleaved_times`` and by the worker processes of ``fastnn.bench.isolate``.
    """
    names = list(names)
    k = r % len(names) if names else 0
    return names[k:] + names[:k]


def _watched_tasks(pids):
    """``(folder, tid)`` of every thread ``wait_until_quiet`` watches, or None without
    ``/proc``: every thread of each process in ``pids`` (None: this process only), but
    the caller."""
    if not os.path.isdir("/proc/self/task"):
        return None
    me_pid, me_tid = os.getpid(), str(threading.get_native_id())
    tasks = []
    for pid in ((me_pid,) if pids is None else pids):
        base = "/proc/self/task" if pid == me_pid else f"/proc/{int(pid)}/task"
        try:
            tids = os.listdir(base)
        except OSError:
            continue  # the process ended
        tasks += [(base, tid) for tid in tids if not (pid == me_pid and tid == me_tid)]
    return tasks


def _activity(tasks):
    """``(ns, runnable)`` of the watched threads: by thread, the nanoseconds it has so
    far run or waited on a run queue (schedstat's first two fields), and how many are
    runnable now (state ``R`` in their ``stat``).

    Both, because schedstat alone misses spinning: the kernel updates the running time
    of a thread on another core only at a scheduler tick or switch, so a spinning
    process read the same value over many 5 ms windows (measured on a 2-core Zen 5, AMD
    EPYC family 26: unchanged in 2 of 5 windows; the processes' CPU-time clocks, read
    with ``clock_gettime``, lag the same way for threads other than the caller), and
    passed for quiet.  A spinning pool thread is runnable whenever it is read, an idle
    one sleeps.  The waiting time counts because a spinner the scheduler has set aside
    for a moment on a loaded machine still wants a core.
    """
    ns, runnable = {}, 0
    for base, tid in tasks:
        try:
            with open(f"{base}/{tid}/schedstat") as f:
                running, waiting = f.read().split()[:2]
            with open(f"{base}/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
        ns[(base, tid)] = int(running) + int(waiting)
        runnable += state == "R"
    return ns, runnable


def wait_until_quiet(max_seconds=SETTLE_SECONDS, pids=None):
    """Wait until no other watched thread is running, at most ``max_seconds``.

    Idle thread pools (OpenBLAS's, PyTorch's, libgomp's) spin for a while after their
    last job; a contender timed meanwhile shares the cores with them and measures slower
    than it runs alone.  The watched threads' time running or waiting to run
    (``/proc/<pid>/task/*/schedstat``) is read over windows of ``QUIET_WINDOW_SECONDS``,
    and their state (``.../stat``) at the end of each; the wait ends at the first window
    in which they ran or waited to run together less than ``QUIET_SHARE`` of one core
    and none of them is runnable at its end (see ``_activity``).  Without ``/proc`` it
    sleeps ``max_seconds``.

    Args:
        max_seconds: The longest wait.
        pids: None to watch every other thread of this process (contenders sharing one
            process); else the processes to watch, every thread of each (this process's
            own pid: every thread but the caller).  ``fastnn.bench.isolate`` passes the
            other contenders' worker processes and its own.

    Returns:
        True when the watched threads went quiet, False when ``max_seconds`` ran out
        first.
    """
    tasks = _watched_tasks(pids)
    if tasks is None:
        time.sleep(max_seconds)
        return True
    before, _ = _activity(tasks)
    deadline = time.perf_counter() + max_seconds
    while True:
        start = time.perf_counter()
        time.sleep(QUIET_WINDOW_SECONDS)
        tasks = _watched_tasks(pids)  # threads come and go
        now, runnable = _activity(tasks)
        window = time.perf_counter() - start
        # By thread: one that ended takes its time away, one that is new counts whole.
        used = sum(t - before.get(key, 0) for key, t in now.items())
        if not runnable and used < QUIET_SHARE * window * 1e9:
            return True
        if time.perf_counter() >= deadline:
            return False
        before = now


def timed(fn):
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def calls_for(fn, min_seconds):
    """How many calls of ``fn`` make one timed sample of at least ``min_seconds``.

    Calls ``fn`` once to find out.  Small products take microseconds: timing one call
    would measure the timer.
    """
    t = timed(fn)
    return max(1, int(min_seconds / max(t, 1e-7)) + 1)


def repeated(fn, calls):
    """``fn`` itself for one call, else a callable calling it ``calls`` times."""
    if calls == 1:
        return fn
    return lambda: [fn() for _ in range(calls)]


def summarize(values):
    """Median, min, max and relative spread of a list of numbers.

    Args:
        values: A non-empty list of floats.

    Returns:
        Dict with ``median``, ``min``, ``max`` and ``spread`` ((max - min) / median).
    """
    arr = np.asarray(values, dtype=float)
    med = float(np.median(arr))
    return {"median": med, "min": float(arr.min()), "max": float(arr.max()),
            "spread": float((arr.max() - arr.min()) / med) if med else 0.0}
