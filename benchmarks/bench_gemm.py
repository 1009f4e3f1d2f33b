"""GFLOP/s of fastnn's native GEMM against numpy.matmul (OpenBLAS), 1 and 2 threads.

Run it as a plain script:  python benchmarks/bench_gemm.py [--threads 1 2]
[--dtypes float32 float64] [--quick]

Each thread count runs in its own subprocess with OPENBLAS_NUM_THREADS (and
OMP_NUM_THREADS) set before NumPy loads, so both libraries get the same number of
threads.  Inside it, the two are timed interleaved on the same operands (native, numpy,
native, numpy, ...), each sample a batch of calls lasting at least ~20 ms, and the
table reports medians, so machine noise hits both alike.  Shapes: squares, and the
three products of each Dense layer of the seeds' MLP (784-500-500-10) at batch sizes
32, 128 and 256: forward x @ w, weight gradient x.T @ dz, input gradient dz @ w.T.
Products go through NativeOps.matmul (what the layers call) with preallocated out=.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

SQUARES = [512, 1024, 2048]
LAYERS = [(784, 500), (500, 500), (500, 10)]
BATCHES = [32, 128, 256]


def _shapes(quick):
    """(label, m, n, k, transpose_a, transpose_b) for every product benchmarked."""
    shapes = [(f"square {s}", s, s, s, False, False) for s in SQUARES[: 2 if quick else 3]]
    for batch in BATCHES[1:2] if quick else BATCHES:
        for fan_in, units in LAYERS:
            tag = f"b{batch} {fan_in}x{units}"
            shapes.append((f"{tag} x@w", batch, units, fan_in, False, False))
            shapes.append((f"{tag} x.T@dz", fan_in, units, batch, True, False))
            shapes.append((f"{tag} dz@w.T", batch, fan_in, units, False, True))
    return shapes


def _calls_for(fn, min_seconds=0.02):
    """How many calls of fn make a sample of at least min_seconds."""
    t0 = time.perf_counter()
    fn()
    return max(1, int(min_seconds / max(time.perf_counter() - t0, 1e-7)) + 1)


def _time_batch(fn, calls):
    """Seconds per call over one batch of calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def _worker(threads, dtypes, repeats, quick):
    # Imported here, after the parent set the BLAS thread variables for this process.
    import numpy as np

    if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    from fastnn import parallel
    from fastnn._native import _gemm
    from fastnn.backend.native_ops import NativeOps

    parallel.set_num_threads(threads)
    ops = NativeOps()
    rng = np.random.default_rng(0)
    for dtype_name in dtypes:
        dtype = np.dtype(dtype_name)
        for label, m, n, k, ta, tb in _shapes(quick):
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            av, bv = (a.T if ta else a), (b.T if tb else b)
            out = np.empty((m, n), dtype=dtype)

            def native():
                ops.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out)

            def numpy():
                np.matmul(av, bv, out=out)

            native(), numpy()  # warm up: packing buffers, OpenBLAS threads
            calls = min(_calls_for(native), _calls_for(numpy))
            t_native, t_numpy = [], []
            for _ in range(repeats):
                t_native.append(_time_batch(native, calls))
                t_numpy.append(_time_batch(numpy, calls))
            flops = 2.0 * m * n * k
            row = {
                "shape": label, "m": m, "n": n, "k": k, "dtype": dtype_name,
                "threads": threads, "kernel": _gemm.kernel_name(),
                "native_gflops": flops / sorted(t_native)[repeats // 2] / 1e9,
                "numpy_gflops": flops / sorted(t_numpy)[repeats // 2] / 1e9,
            }
            print(json.dumps(row), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer shapes")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.dtypes, args.repeats, args.quick)
        return

    rows = []
    header = f"{'shape':<26} {'m x n x k':>16} {'dtype':>7} {'thr':>3} " \
             f"{'native':>8} {'numpy':>8} {'ratio':>6}"
    print("GFLOP/s, median of", args.repeats, "interleaved samples")
    print(header)
    print("-" * len(header))
    for threads in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(threads),
               "--repeats", str(args.repeats), "--dtypes", *args.dtypes]
        if args.quick:
            cmd.append("--quick")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            r = json.loads(line)
            rows.append(r)
            mnk = f"{r['m']}x{r['n']}x{r['k']}"
            print(f"{r['shape']:<26} {mnk:>16} {r['dtype']:>7} {r['threads']:>3} "
                  f"{r['native_gflops']:8.1f} {r['numpy_gflops']:8.1f} "
                  f"{r['native_gflops'] / r['numpy_gflops']:6.2f}", flush=True)
        if proc.wait() != 0:
            sys.exit(proc.returncode)
    if rows:
        print(f"kernel: {rows[0]['kernel']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
