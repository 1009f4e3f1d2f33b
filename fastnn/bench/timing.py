"""Timing on a shared machine: interleaved rounds, settle pauses, medians and spreads.

Runs are *interleaved*: after the warm-up rounds, each round runs every contender once,
in an order that rotates from round to round, so that drift on a shared machine (another
process starting, the CPU clock changing) hits all contenders alike instead of whichever
happened to run last.  Results are summarized as the median over rounds with its min,
max and relative spread.
"""

import time

import numpy as np

# OpenBLAS's idle threads keep spinning for about 0.12-0.15 s after a call (measured here:
# a native 2-thread GEMM started right after NumPy ran at 37 GFLOP/s, 0.15 s later at 68),
# so each timed run starts after the previous contender's threads have gone to sleep.
SETTLE_SECONDS = 0.2


def interleaved_times(runners, repeats=5, warmup=1, progress=None, settle_seconds=None):
    """Time callables in interleaved rounds with a rotating order.

    Args:
        runners: Dict name -> zero-argument callable (one timed unit of work each).
        repeats: Timed rounds; every runner runs once per round.
        warmup: Untimed rounds first (buffer allocation, caches, thread pools start).
        progress: Optional callable taking one status string.
        settle_seconds: Pause before each run, so that threads still spinning from the
            previous contender do not steal cores from this one; None means
            ``SETTLE_SECONDS``.

    Returns:
        Dict name -> list of seconds, one per timed round.
    """
    names = list(runners)
    times = {name: [] for name in names}
    if settle_seconds is None:
        settle_seconds = SETTLE_SECONDS
    for r in range(warmup + repeats):
        # Rotating the start means no contender always runs right after the same other
        # one (whose spinning threads or dirty caches it would always inherit).
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            if progress is not None:
                phase = "warm-up" if r < warmup else f"round {r - warmup + 1}/{repeats}"
                progress(f"{phase}: {name}")
            if settle_seconds:
                time.sleep(settle_seconds)
            elapsed = timed(runners[name])
            if r >= warmup:
                times[name].append(elapsed)
    return times


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
