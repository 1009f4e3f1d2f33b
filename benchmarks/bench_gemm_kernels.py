"""GFLOP/s of each GEMM micro-kernel against NumPy's ``@`` (OpenBLAS), on one thread.

Run it as a plain script from the repository root:

    python benchmarks/bench_gemm_kernels.py [--kernels avx512 avx2-fma] [--rounds 5]
        [--min-seconds 0.05] [--table caches:L1D:L2:L3 | ROW] [--json out.json]

What it answers: how much each micro-kernel this CPU runs (csrc/gemm/ukernel_*.c)
gains over the others and over OpenBLAS, on the products gemm.c's design block quotes:
a 1024^3 square and every product of a 784-500-500-10 training step at batch 32, 128
and 256 (forward ``x @ w``, weight gradient ``x.T @ dz``, input gradient ``dz @ w.T``,
transposes taken by strides as the layers do).

Method, chosen for a shared machine where wall-clock time means little: every
contender runs in its own fresh process (FASTNN_GEMM_KERNEL forces the kernel;
OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 1), and each product is timed by the calling
thread's CPU time (``time.thread_time``: both fastnn on one thread and OpenBLAS on one
thread compute in the calling thread), over enough calls to pass ``--min-seconds``.
The processes are run ``--rounds`` times in turn, and each figure is the best round:
other load only slows a run down.  Each kernel's share of peak is against the FMA peak
of its own instructions (``fma_peak_gflops(1, kernel)``), measured in its process.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shapes():
    """(label, m, n, k, a_transposed, b_transposed)."""
    out = [("1024^3", 1024, 1024, 1024, False, False)]
    for batch in (32, 128, 256):
        for units_in, units_out in ((784, 500), (500, 500), (500, 10)):
            tag = f"b{batch} {units_in}x{units_out}"
            out.append((f"{tag} x@W", batch, units_out, units_in, False, False))
            out.append((f"{tag} x.T@dz", units_in, units_out, batch, True, False))
            if units_in != 784:  # the first layer's input gradient is never needed
                out.append((f"{tag} dz@W.T", batch, units_in, units_out, False, True))
    return out


CHILD = r"""
import json, sys, time
import numpy as np
contender, min_seconds, table = sys.argv[1], float(sys.argv[2]), sys.argv[3]
shapes = json.loads(sys.argv[4])
rng = np.random.default_rng(0)
peak = None
if contender != "openblas":
    from fastnn._native import _gemm
    assert _gemm.kernel_name() == contender, (_gemm.kernel_name(), contender)
    if table.startswith("caches:"):
        _gemm.select_table_from_caches(*(int(v) for v in table.split(":")[1:]))
    elif table != "auto":
        assert _gemm.select_table(table)
    peak = _gemm.fma_peak_gflops(1)
    blocks = _gemm.block_sizes()
else:
    blocks = None
res = {}
for label, m, n, k, ta, tb in shapes:
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    a = a.T if ta else a
    b = b.T if tb else b
    c = np.empty((m, n), np.float32)
    if contender == "openblas":
        call = lambda: np.matmul(a, b, out=c)
    else:
        call = lambda: _gemm.gemm(a, b, c, None, 0, 0.0, False, 1)
    call()
    reps = 1
    while True:
        t0 = time.thread_time()
        for _ in range(reps):
            call()
        dt = time.thread_time() - t0
        if dt >= min_seconds:
            break
        reps = reps * 2 if dt < min_seconds / 8 else int(reps * 1.3 * min_seconds / dt) + 1
    res[label] = 2.0 * m * n * k * reps / dt / 1e9
print(json.dumps({"gflops": res, "peak": peak, "blocks": blocks}))
"""


def run_child(contender, min_seconds, table, shape_list):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=ROOT)
    env.pop("FASTNN_DISABLE_SIMD", None)
    if contender != "openblas":
        env["FASTNN_GEMM_KERNEL"] = contender
    out = subprocess.run([sys.executable, "-c", CHILD, contender, str(min_seconds), table,
                          json.dumps(shape_list)], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kernels", nargs="+", default=None,
                        help="kernels to time (default: every one this CPU runs)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.05)
    parser.add_argument("--table", default="auto",
                        help="block sizes for the fastnn kernels: auto, a row name, or "
                             "caches:L1D:L2:L3 (bytes) for the cache rule")
    parser.add_argument("--no-openblas", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from fastnn._native import _gemm
    from fastnn.info import config_dict
    kernels = args.kernels or [k for k in _gemm.available_kernels() if k != "portable"]
    contenders = kernels + ([] if args.no_openblas else ["openblas"])
    shape_list = shapes()
    best = {c: {} for c in contenders}
    meta = {}
    for _ in range(args.rounds):
        for contender in contenders:
            got = run_child(contender, args.min_seconds, args.table, shape_list)
            meta[contender] = {"peak": max(got["peak"] or 0.0,
                                           meta.get(contender, {}).get("peak", 0.0)),
                               "blocks": got["blocks"]}
            for label, g in got["gflops"].items():
                best[contender][label] = max(g, best[contender].get(label, 0.0))
    print(f"CPU: {config_dict()['cpu']}")
    print(f"method: 1 thread, thread CPU time, best of {args.rounds} fresh-process rounds, "
          f"float32, table {args.table}")
    for k in kernels:
        bs = meta[k]["blocks"]
        f = bs["float32"]
        print(f"  {k}: table {bs['table']}, MR {f['mr']} NR {f['nr']} KC {f['kc']} "
              f"MC {f['mc']} NC {f['nc']}; FMA peak {meta[k]['peak']:.1f} GFLOP/s")
    head = f"{'product':<26}" + "".join(f"{c:>10}" for c in contenders)
    if "openblas" in contenders:
        head += "".join(f"{k + '/ob':>14}" for k in kernels)
    if len(kernels) >= 2:
        head += f"{kernels[0] + '/' + kernels[1]:>18}"
    print(head)
    for label, *_ in shape_list:
        line = f"{label:<26}" + "".join(f"{best[c][label]:>10.1f}" for c in contenders)
        if "openblas" in contenders:
            line += "".join(f"{best[k][label] / best['openblas'][label]:>14.2f}"
                            for k in kernels)
        if len(kernels) >= 2:
            line += f"{best[kernels[0]][label] / best[kernels[1]][label]:>18.2f}"
        print(line)
    import math
    line = f"{'geometric mean':<26}" + "".join(
        f"{math.exp(sum(math.log(best[c][l]) for l, *_ in shape_list) / len(shape_list)):>10.1f}"
        for c in contenders)
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"best": best, "meta": meta}, f, indent=1)


if __name__ == "__main__":
    main()
