"""GFLOP/s of the native GEMM under each block-size table, against NumPy's ``@``.

Run it as a plain script from the repository root, on a quiet machine:

    python benchmarks/bench_gemm_tables.py [--tables zen3 zen4 caches ...]
        [--threads 1 2] [--dtype float32] [--repeats 7] [--min-seconds 0.02]
        [--quick] [--json out.json]

What it answers: which row of csrc/gemm/gemm.c's block-size tables (KC, MC, NC per
micro-architecture, or the rule on the caches the CPU reports) is fastest on the CPU at
hand, and by how much.  For every table the products are a 1024^3 square and the three
products of each Dense layer of the 784-500-500-10 MLP at batch 32 and 256 (forward
``x @ w``, weight gradient ``x.T @ dz``, input gradient ``dz @ w.T``; transposes taken
by strides, as the layers do).  Each is timed with ``fastnn.bench.benchmark_gemm``:
fastnn's native ``matmul`` and NumPy's ``@`` interleaved on the same operands, both
limited to the same thread count, the median of ``--repeats`` samples of at least
``--min-seconds`` each.  Every line gives GFLOP/s, the ratio to NumPy, and the share of
the FMA peak measured at that thread count (``_gemm.fma_peak_gflops``); the header
names the CPU, the micro-kernel and the table chosen at import.

The table is switched with the ``_gemm.select_table`` test hook, so all rows run with
the kernel chosen at import (AVX2+FMA where the CPU has it; its 6 x 16 / 6 x 8 tile).
Numbers from a shared or busy machine mean nothing; the script says so when the two
contenders' samples spread by more than 10%.
"""

import argparse
import importlib.util
import json
import os
import sys

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastnn import bench  # noqa: E402
from fastnn.info import config_dict  # noqa: E402

BATCH_SIZES = (32, 256)


def _shapes(quick):
    """The 1024^3 square and the MLP's training products (only batch 32 when quick)."""
    return bench.gemm_shapes(squares=(1024,), batch_sizes=BATCH_SIZES[:1] if quick
                             else BATCH_SIZES)


def _machine_lines(gemm, peaks):
    """The header: CPU, kernel, the table chosen at import, FMA peaks."""
    facts = config_dict()
    sizes = gemm.block_sizes()
    lines = [f"CPU: {facts['cpu']}",
             f"kernel: {sizes['kernel']}, table chosen at import: {sizes['table']}"]
    for dtype in ("float32", "float64"):
        lines.append(f"  {dtype}: {facts[f'gemm_{dtype}']}")
    lines.append("FMA peak (float32): " + ", ".join(
        f"{g:.1f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t, g in peaks.items()))
    return lines


def _run_table(gemm, table, shapes, threads, dtype, repeats, min_seconds, peak):
    """Time every shape under one table; returns the result dicts."""
    if not gemm.select_table(table):
        raise SystemExit(f"unknown table {table!r}; known: {', '.join(gemm.table_names())}")
    sizes = gemm.block_sizes()[dtype]
    print(f"\n{table} ({gemm.block_sizes()['table']}): "
          + ", ".join(f"{key.upper()} {value}" for key, value in sizes.items()))
    results = []
    for shape in shapes:
        res = bench.benchmark_gemm(shape, threads=threads, dtype=dtype, repeats=repeats,
                                   min_seconds=min_seconds, peak_gflops=peak)
        res["table"] = table
        res["block_sizes"] = sizes
        results.append(res)
        print(_result_line(res), flush=True)
    return results


def _result_line(res):
    native = res["results"]["fastnn-native"]
    numpy = res["results"]["fastnn-numpy"]
    shape = res["shape"]
    mnk = f"{shape['m']}x{shape['n']}x{shape['k']}"
    head = f"  {shape['name']:<24} {mnk:>14} {res['threads']:>3}"
    if native["status"] != "ok" or numpy["status"] != "ok":
        return f"{head}  native {native['status']}, numpy {numpy['status']}"
    g_nat, g_np = native["gflops"], numpy["gflops"]
    noisy = max(g_nat["spread"], g_np["spread"]) > 0.10
    share = native.get("fraction_of_peak")
    return (f"{head} {g_nat['median']:8.1f} {g_np['median']:8.1f} "
            f"{g_nat['median'] / g_np['median']:6.2f} "
            f"{'-' if share is None else f'{100 * share:5.0f}%'}"
            f"{'  (noisy: spread > 10%)' if noisy else ''}")


def main(argv=None):
    from fastnn._native import _gemm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(_gemm.table_names()),
                        help="tables to time (default: every row, portable, caches)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-seconds", type=float, default=0.02,
                        help="least duration of one timed sample")
    parser.add_argument("--quick", action="store_true",
                        help="the square and batch 32 only")
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args(argv)
    if min(args.threads) < 1 or args.repeats < 1 or args.min_seconds <= 0:
        parser.error("--threads and --repeats must be >= 1, --min-seconds > 0")

    peaks = {t: _gemm.fma_peak_gflops(t) for t in args.threads}
    for line in _machine_lines(_gemm, peaks):
        print(line)
    print(f"\nGFLOP/s, median of {args.repeats} interleaved samples, {args.dtype}; "
          "ratio = native / NumPy; share = native / FMA peak")
    print(f"  {'shape':<24} {'m x n x k':>14} {'thr':>3} {'native':>8} {'numpy':>8} "
          f"{'ratio':>6} {'share':>6}")
    results = []
    try:
        for table in args.tables:
            for threads in args.threads:
                results += _run_table(_gemm, table, _shapes(args.quick), threads,
                                      args.dtype, args.repeats, args.min_seconds,
                                      peaks[threads])
    finally:
        _gemm.select_table("auto")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": bench.machine_info(), "fma_peak_gflops": peaks,
                       "results": results}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
