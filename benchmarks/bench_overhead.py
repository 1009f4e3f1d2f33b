"""Per-call cost of a native primitive on a tiny array: what the Python -> C path costs.

Run it as a plain script from the repository root, on a quiet machine:

    python benchmarks/bench_overhead.py [--threads 1] [--calls 20000] [--rounds 7]
        [--json out.json]

On a tiny array the kernel's arithmetic takes nanoseconds, so the time per call is the
price of the path around it: argument checks, dtype dispatch, the GIL release and the
OpenMP region.  That price is paid by every layer and every optimizer step, and matters
most for small nets at small batches.  The calls measured go through the public
interfaces a training step uses, so the script runs unchanged across refactors of the
native layer and compares them fairly:

- ``dense_forward``: ``ops.dense_forward(x, w, b, "relu", out=y)`` with x 1x4, w 4x4;
- ``dense_backward``: ``ops.dense_backward(x, w, y, dy, "relu", out_dx=..., out_dw=...,
  out_db=...)`` on the same shapes;
- ``adam_step``: ``Adam().apply([g], [p])`` on 4 float32 elements (the optimizer's
  whole step: its checks, the clipping scales and the update call).

Each figure is the median over ``--rounds`` rounds of ``--calls`` back-to-back calls, in
microseconds per call, with the min..max spread.  The CPU model is printed with it, since
the figures depend on the core.

On a shared or virtual machine the wall-clock figures of a sub-microsecond call swing by
+-30% from run to run.  Instructions per call do not: count them with valgrind, for one
case, at two call counts, and divide the difference (this cancels start-up):

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind \
        --callgrind-out-file=/dev/null python benchmarks/bench_overhead.py \
        --only dense_forward --calls 2000 --rounds 1 --warmup 0
    (again with --calls 12000; instructions per call = difference / 10000)
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import fastnn  # noqa: E402
from fastnn import backend, optimizers  # noqa: E402


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _per_call_us(fn, calls, rounds, warmup):
    """Median and spread of microseconds per call of ``fn()`` over ``rounds`` rounds."""
    for _ in range(warmup):  # warm caches, allocators and the OpenMP pool
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples), min(samples), max(samples)


def _cases(ops, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4)).astype(dtype)
    w = rng.standard_normal((4, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    y = np.empty((1, 4), dtype=dtype)
    ops.dense_forward(x, w, b, "relu", out=y)
    dy = rng.standard_normal((1, 4)).astype(dtype)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    param = rng.standard_normal(4).astype(dtype)
    grad = rng.standard_normal(4).astype(dtype)
    adam = optimizers.Adam(learning_rate=1e-3)
    # Small steps on a fixed gradient: the values stay finite for millions of calls.
    return {
        "dense_forward": lambda: ops.dense_forward(x, w, b, "relu", out=y),
        "dense_backward": lambda: ops.dense_backward(
            x, w, y, dy, "relu", out_dx=dx, out_dw=dw, out_db=db),
        "adam_step": lambda: adam.apply([grad], [param]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backend", choices=["native", "numpy"], default="native")
    parser.add_argument("--warmup", type=int, default=2000, help="untimed calls first")
    parser.add_argument("--only", choices=["dense_forward", "dense_backward", "adam_step"],
                        help="measure this case alone")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    results = {}
    with fastnn.threads.num_threads(args.threads), backend.using(args.backend) as ops:
        for name, fn in _cases(ops, np.dtype(args.dtype)).items():
            if args.only in (None, name):
                results[name] = _per_call_us(fn, args.calls, args.rounds, args.warmup)
    print(f"CPU: {_cpu_model()}; backend {args.backend}, {args.dtype}, "
          f"{args.threads} thread(s), median of {args.rounds} rounds of {args.calls} calls")
    for name, (med, lo, hi) in results.items():
        print(f"  {name:15s} {med:7.2f} us/call  (spread {lo:.2f}..{hi:.2f})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"cpu": _cpu_model(), "threads": args.threads, "dtype": args.dtype,
                       "backend": args.backend,
                       "us_per_call": {k: {"median": v[0], "min": v[1], "max": v[2]}
                                       for k, v in results.items()}}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
