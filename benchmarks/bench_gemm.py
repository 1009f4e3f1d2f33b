"""GFLOP/s of fastnn's native GEMM against numpy.matmul (NumPy's BLAS), per thread count.

Run it as a plain script from the repository root:

    python benchmarks/bench_gemm.py [--threads 1 2] [--dtypes float32 float64] [--quick]
        [--repeats N] [--stat median|best] [--json out.json]

A thin front end over ``fastnn.bench.benchmark_gemm`` (also used by
``fastnn bench``): for every shape the two libraries are timed interleaved on the same
operands, each sample a batch of calls lasting at least ~20 ms, with fastnn and NumPy's
BLAS limited to the same thread count (``thread_limits``); the table reports medians.
Shapes (``gemm_shapes``): squares, and the three products of each Dense layer of the
seeds' MLP (784-500-500-10) at batch sizes 32, 128 and 256: forward x @ w, weight
gradient x.T @ dz, input gradient dz @ w.T, through the backends' ``matmul`` (what the
layers call) with a preallocated ``out=``.
"""

import argparse
import importlib.util
import json
import os
import sys

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastnn import bench  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer shapes")
    parser.add_argument("--stat", choices=("median", "best"), default="median",
                        help="report the median sample or the best (fastest) one; on a "
                             "busy machine other work only ever slows a sample down")
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args(argv)
    if min(args.threads) < 1:
        parser.error("--threads must be >= 1")

    if args.quick:
        shapes = bench.gemm_shapes(squares=(512, 1024), batch_sizes=(128,))
    else:
        shapes = bench.gemm_shapes()
    stat_key = "max" if args.stat == "best" else "median"
    header = (f"{'shape':<26} {'m x n x k':>16} {'dtype':>7} {'thr':>3} "
              f"{'native':>8} {'numpy':>8} {'ratio':>6}")
    print(f"GFLOP/s, {args.stat} of", args.repeats, "interleaved samples")
    print(header)
    print("-" * len(header))
    results = []
    for threads in args.threads:
        for dtype in args.dtypes:
            for shape in shapes:
                res = bench.benchmark_gemm(shape, threads=threads, dtype=dtype,
                                           repeats=args.repeats)
                results.append(res)
                cells = []
                for name in bench.GEMM_CONTENDERS:
                    entry = res["results"][name]
                    cells.append(f"{entry['gflops'][stat_key]:8.1f}"
                                 if entry["status"] == "ok" else f"{entry['status']:>8}")
                ratio = res["results"]["fastnn-native"].get("vs_fastnn_numpy")
                if args.stat == "best" and all(
                        res["results"][n]["status"] == "ok"
                        for n in ("fastnn-native", "fastnn-numpy")):
                    ratio = (res["results"]["fastnn-native"]["gflops"]["max"]
                             / res["results"]["fastnn-numpy"]["gflops"]["max"])
                mnk = f"{shape['m']}x{shape['n']}x{shape['k']}"
                print(f"{shape['name']:<26} {mnk:>16} {dtype:>7} {threads:>3} "
                      f"{' '.join(cells)} {'-' if ratio is None else f'{ratio:6.2f}'}",
                      flush=True)
    machine = bench.machine_info()
    print(f"kernel: {machine['simd_kernel']}, BLAS threads: {machine['blas_thread_control']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "gemm", "machine": machine, "results": results}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
