"""The speed targets of the native backend, measured side by side on the machine at hand.

Run it as a plain script from the repository root, on a quiet machine (``uptime``):

    python benchmarks/bench_targets.py [--quick | --smoke] [--threads 2] [--in-process]
        [--json out.json] [--markdown out.md]

Every target is a ratio between contenders timed in one run (``fastnn.bench``'s
interleaved rounds, each contender in its own persistent worker process, each timed
sample starting once the other contenders' processes are quiet; ``--in-process`` runs
them all in this process instead, as before ``fastnn.bench.isolate``), or a share of the
FMA peak measured in the same run, so that it holds on any CPU:

- GEMM 1024^3, float32: fastnn native against NumPy's BLAS (OpenBLAS), 1 thread and
  ``--threads``: at least 1.0x;
- every product of a 784-500-500-10 training step (forward ``x @ w``, weight gradient
  ``x.T @ dz``, input gradient ``dz @ w.T``) at batch 32 and 256: each at least 0.9x
  OpenBLAS, their geometric mean at least 1.1x;
- training that MLP with Adam at batch 256: at least 65% of the FMA peak;
- at batch 128 and 32: at least 1.5x PyTorch eager with ``Adam(fused=True)``;
- at batch 128 on 1 thread: at least 1.3x a careful hand-written NumPy loop;
- the 100-32-8-1 net at batch 32: at least 2.5x the hand-written loop;
- fastnn's NumPy backend at batch 128: at least 0.9x the hand-written loop;
- one row through the MLP (batch-1 inference): no slower than a hand-written NumPy
  forward pass;
- thread scaling of the MLP at batch 256 from 1 thread to 2: at least 1.8x.

It prints the CPU, the measured FMA peak, and one table: each target, the two figures it
compares, the ratio, the goal and whether it was reached.  ``--smoke`` runs every
measurement once, briefly, to check that the script works: its numbers mean nothing.
"""

import argparse
import contextlib
import importlib.util
import json
import math
import os
import sys
import time

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastnn import bench  # noqa: E402
from fastnn.bench import isolate, optional  # noqa: E402
from fastnn.bench.scenarios import sized_scenario  # noqa: E402

NATIVE, NUMPY_BE, TORCH, HAND = "fastnn-native", "fastnn-numpy", "torch", "numpy-handwritten"
MODEL_CONTENDERS = (NATIVE, NUMPY_BE, TORCH, HAND)

#: repeats, warm-up rounds, training seconds per timed sample (None: one run), GEMM
#: seconds per sample
PRESETS = {"full": (7, 1, 0.3, 0.05), "quick": (3, 1, 0.1, 0.02),
           "smoke": (1, 0, None, 0.0)}

SMOKE_NOTE = ("--smoke run: these numbers mean nothing (one short round, no warm-up); "
              "they only show that every measurement runs.")


def _models():
    return {key: (label, template) for key, label, template in bench.seed_models()}


def _median(result, name, metric):
    entry = result["results"].get(name, {})
    return entry[metric]["median"] if entry.get("status") == "ok" else None


def run(threads, preset="full", progress=print, isolation="processes"):
    """Measure every target; returns ``{"machine", "peaks", "rows", "products", ...}``.

    ``isolation``: ``"processes"`` (one persistent worker per contender) or
    ``"in-process"``.
    """
    isolate.check_isolation(isolation)
    with (isolate.WorkerPool() if isolation == "processes"
          else contextlib.nullcontext()) as pool:
        doc = _measure(threads, preset, progress, pool)
    doc["isolation"] = isolation
    return doc


def _measure(threads, preset, progress, pool):
    repeats, warmup, train_s, gemm_s = PRESETS[preset]
    names = [n for n in MODEL_CONTENDERS if bench.contender_status(n)[0]]
    if TORCH in names and pool is None:
        optional.load("torch")  # before the thread limits, so that it is limited too
    common = dict(repeats=repeats, warmup=warmup, pool=pool)
    counts = sorted({1, threads})
    peaks = bench.best_fma_peaks(counts)
    rows, products = [], []

    def target(label, a, b, goal, kind="ratio"):
        value = None if a is None or b is None else a / b
        rows.append({"target": label, "a": a, "b": b, "value": value, "goal": goal,
                     "kind": kind, "reached": value is not None and value >= goal})

    def gemm(shape, t):
        progress(f"GEMM {shape['name']} on {t} thread(s)")
        res = bench.benchmark_gemm(shape, contenders=[NATIVE, NUMPY_BE], threads=t,
                                   min_seconds=gemm_s, **common)
        return _median(res, NATIVE, "gflops"), _median(res, NUMPY_BE, "gflops")

    def train(key, batch, t, contenders):
        label, template = _models()[key]
        sc = sized_scenario(template, label, key, batch, max(4 * batch, 1024))
        progress(f"training {sc['name']} on {t} thread(s)")
        res = bench.benchmark_training(sc, contenders=contenders, threads=t,
                                       min_seconds=train_s, peak_gflops=peaks[t]["gflops"],
                                       **common)
        return res

    square = bench.gemm_shapes((1024,), batch_sizes=())[0]
    for t in counts:
        target(f"GEMM 1024^3, {t} thread(s): native / OpenBLAS", *gemm(square, t), 1.0)
    for shape in bench.gemm_shapes((), batch_sizes=(32, 256)):
        native, blas = gemm(shape, threads)
        products.append({"shape": shape["name"], "native": native, "openblas": blas,
                         "ratio": native / blas})
        target(f"product {shape['name']}, {threads}t: native / OpenBLAS", native, blas, 0.9)
    ratios = [p["ratio"] for p in products]
    geomean = math.exp(sum(map(math.log, ratios)) / len(ratios))
    rows.append({"target": f"those {len(ratios)} products: geometric mean", "a": None,
                 "b": None, "value": geomean, "goal": 1.1, "kind": "ratio",
                 "reached": geomean >= 1.1})

    b256 = train("mlp784", 256, threads, names)
    share = b256["results"][NATIVE].get("fraction_of_peak")
    rows.append({"target": f"MLP b256, {threads}t: native share of the FMA peak",
                 "a": _median(b256, NATIVE, "samples_per_s"), "b": peaks[threads]["gflops"],
                 "value": share, "goal": 0.65, "kind": "share",
                 "reached": share is not None and share >= 0.65})
    for batch in (128, 32):
        res = train("mlp784", batch, threads, names)
        target(f"MLP b{batch}, {threads}t: native / PyTorch (fused Adam)",
               _median(res, NATIVE, "samples_per_s"), _median(res, TORCH, "samples_per_s"),
               1.5)
        if batch == 128:
            target(f"MLP b128, {threads}t: NumPy backend / hand-written NumPy",
                   _median(res, NUMPY_BE, "samples_per_s"),
                   _median(res, HAND, "samples_per_s"), 0.9)
    one = train("mlp784", 128, 1, [NATIVE, HAND])
    target("MLP b128, 1 thread: native / hand-written NumPy",
           _median(one, NATIVE, "samples_per_s"), _median(one, HAND, "samples_per_s"), 1.3)
    tab = train("tabular", 32, threads, [NATIVE, HAND, TORCH] if TORCH in names
                else [NATIVE, HAND])
    target(f"tabular 100-32-8-1 b32, {threads}t: native / hand-written NumPy",
           _median(tab, NATIVE, "samples_per_s"), _median(tab, HAND, "samples_per_s"), 2.5)
    if threads > 1:
        alone = train("mlp784", 256, 1, [NATIVE])
        target(f"MLP b256: native {threads} threads / 1 thread",
               _median(b256, NATIVE, "samples_per_s"), _median(alone, NATIVE, "samples_per_s"),
               1.8)
    label, template = _models()["mlp784"]
    sc = bench.inference_scenario(sized_scenario(template, label, "mlp784", 1, 256), 1)
    progress(f"inference {sc['name']} on {threads} thread(s)")
    inf = bench.benchmark_inference(sc, contenders=[NATIVE, HAND], threads=threads,
                                    min_seconds=train_s, **common)
    target(f"MLP batch-1 inference, {threads}t: native / hand-written NumPy",
           _median(inf, NATIVE, "samples_per_s"), _median(inf, HAND, "samples_per_s"), 1.0)
    peaks = bench.best_fma_peaks(counts, previous=peaks)
    return {"machine": bench.machine_info(), "threads": threads, "preset": preset,
            "peaks": {str(t): p["gflops"] for t, p in peaks.items()}, "rows": rows,
            "products": products}


def _fmt(x):
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 1000 else f"{x:.1f}"


def markdown(doc):
    m = doc["machine"]
    peaks = ", ".join(f"{g:.0f} GFLOP/s on {t} thread(s)" for t, g in doc["peaks"].items())
    lines = [f"CPU: {m['fastnn_config'].get('cpu') or m['cpu_model']}, "
             f"{m['usable_cores']} usable cores; fastnn kernel "
             f"{m['simd_kernel']}, GEMM table {m['fastnn_config'].get('gemm_table')}; "
             f"measured FMA peak {peaks}. Medians of interleaved rounds "
             f"(preset {doc['preset']}, "
             + ("each contender in its own worker process" if doc["isolation"] == "processes"
                else "every contender in one process") + ").", "",
             "| target | fastnn | against | ratio | goal | reached |",
             "| --- | ---: | ---: | ---: | ---: | :---: |"]
    for r in doc["rows"]:
        value = "-" if r["value"] is None else (
            f"{r['value']:.0%}" if r["kind"] == "share" else f"{r['value']:.2f}x")
        goal = f"{r['goal']:.0%}" if r["kind"] == "share" else f"{r['goal']:.1f}x"
        against = (f"{_fmt(r['b'])} GFLOP/s peak" if r["kind"] == "share" else _fmt(r["b"]))
        lines.append(f"| {r['target']} | {_fmt(r['a'])} | {against} | {value} | {goal} | "
                     f"{'yes' if r['reached'] else '**no**'} |")
    reached = sum(r["reached"] for r in doc["rows"])
    lines += ["", f"{reached} of {len(doc['rows'])} targets reached. GEMM figures are "
              "GFLOP/s, the others samples/s."]
    if doc["preset"] == "smoke":
        lines += ["", SMOKE_NOTE]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    size.add_argument("--smoke", action="store_true",
                      help="one short round of everything, to check the script runs "
                           "(numbers meaningless)")
    parser.add_argument("--in-process", action="store_true",
                        help="time every contender in this process (default: each in its "
                             "own worker process)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    args = parser.parse_args(argv)
    from fastnn import threads as fastnn_threads

    started = time.perf_counter()
    doc = run(args.threads or fastnn_threads.get_num_threads(),
              "smoke" if args.smoke else ("quick" if args.quick else "full"),
              progress=lambda msg: print(msg, file=sys.stderr, flush=True),
              isolation="in-process" if args.in_process else "processes")
    doc["elapsed_s"] = time.perf_counter() - started
    text = markdown(doc)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
