"""Training samples/s: fastnn (native and NumPy backends) against PyTorch and NumPy.

Run it as a plain script from the repository root:

    python benchmarks/bench_training.py [--quick] [--threads 2 1] [--json out.json]
        [--repeats N] [--contenders fastnn-native fastnn-numpy torch ...]

It measures the scenarios of the native-backend issue, side by side in one process
(see ``fastnn.bench`` for how the contenders are run and interleaved):

- the seeds' 784-500-500-10 relu MLP, Adam (lr 1e-3), softmax cross-entropy, at batch
  128 and 256 on the largest ``--threads`` count, and at batch 256 on every other count
  for the thread scaling;
- a small tabular net 100-32-8-1 (relu hidden, sigmoid output, binary cross-entropy) at
  batch 32, where per-step overhead dominates.

The data is synthetic (random normal inputs, random labels): the speed of training does
not depend on what is learned.  The table shows median samples/s over the rounds, the
min..max spread, the ratios against fastnn's NumPy backend and against PyTorch, the
fraction of the CPU's FMA peak reached (for the MLP), then the thread scaling and the
issue's targets with whether each was reached.  ``--json`` writes every measurement and
the machine description.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastnn import bench  # noqa: E402

MLP = [784, 500, 500, 10]
TABULAR = [100, 32, 8, 1]


def _targets(results_by_key, scaling):
    """The issue's speed targets, each with the value reached (None when not measured)."""

    def ratio(key, contender, field):
        res = results_by_key.get(key)
        entry = res["results"].get(contender, {}) if res else {}
        return entry.get(field) if entry.get("status") == "ok" else None

    native = "fastnn-native"
    rows = [
        ("MLP b128: native vs NumPy backend", ratio("mlp128", native, "vs_fastnn_numpy"), 1.3),
        ("MLP b128: native vs torch", ratio("mlp128", native, "vs_torch"), 1.3),
        ("MLP b256: native fraction of FMA peak",
         ratio("mlp256", native, "fraction_of_peak"), 0.6),
        ("tabular b32: native vs NumPy backend",
         ratio("tabular", native, "vs_fastnn_numpy"), 3.0),
        ("tabular b32: native vs torch", ratio("tabular", native, "vs_torch"), 3.0),
    ]
    if scaling:
        rows.append((f"MLP b256: native {scaling[0]['threads'][0]} vs "
                     f"{scaling[0]['threads'][1]} threads", scaling[0].get("fastnn-native"), 1.7))
    return [{"target": name, "reached": value, "goal": goal,
             "met": None if value is None else value >= goal} for name, value, goal in rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples and rounds (about a minute)")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts; the largest runs every scenario, the others "
                             "the MLP at batch 256 for scaling (default: 2 1)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed rounds per scenario (default 7, --quick 3)")
    parser.add_argument("--contenders", nargs="+", default=list(bench.DEFAULT_CONTENDERS),
                        choices=bench.CONTENDERS)
    parser.add_argument("--json", metavar="PATH", help="write every measurement here")
    args = parser.parse_args(argv)

    threads = sorted(set(args.threads or [2, 1]), reverse=True)
    if min(threads) < 1:
        parser.error("--threads must be >= 1")
    main_threads = threads[0]
    repeats = args.repeats or (3 if args.quick else 7)
    # Enough samples that one run lasts ~0.2-1 s, long beside fit()'s fixed costs.
    mlp_n = 4096 if args.quick else 16384
    tab_n = 8192 if args.quick else 32768
    show, done = bench.progress_printer()
    started = time.perf_counter()

    machine = bench.machine_info()
    show(f"FMA peak estimate, {', '.join(map(str, threads))} thread(s)")
    peak_size = 1024 if args.quick else 2048
    peaks = bench.best_fma_peaks(threads, size=peak_size)

    plan = [
        ("mlp128", bench.mlp_scenario(MLP, batch_size=128, n_samples=mlp_n), main_threads),
        ("mlp256", bench.mlp_scenario(MLP, batch_size=256, n_samples=mlp_n), main_threads),
    ]
    plan += [(f"mlp256-t{t}", bench.mlp_scenario(MLP, batch_size=256, n_samples=mlp_n), t)
             for t in threads[1:]]
    plan.append(("tabular", bench.mlp_scenario(TABULAR, output="sigmoid", batch_size=32,
                                               n_samples=tab_n), main_threads))
    results = {}
    for i, (key, scenario, t) in enumerate(plan, 1):
        prefix = f"[{i}/{len(plan)}] {scenario['name']} {t}t"
        results[key] = bench.benchmark_training(
            scenario, contenders=args.contenders, threads=t, repeats=repeats, warmup=1,
            progress=lambda msg, p=prefix: show(f"{p} {msg}"))
    # Measure the peak again after the runs and keep the best of the two: other work on
    # the machine only ever lowers it, and a low denominator would inflate "% peak".
    show("FMA peak estimate again")
    peaks = bench.best_fma_peaks(threads, size=peak_size, previous=peaks)
    for key, scenario, t in plan:
        if scenario["output"] == "softmax":  # the FLOP count is what matters for the MLP
            bench.set_peak(results[key], peaks[t]["gflops"])
    done()

    scaling = []
    for t in threads[1:]:
        sc = bench.thread_scaling(results["mlp256"], results[f"mlp256-t{t}"])
        sc["scenario"] = results["mlp256"]["scenario"]["name"]
        scaling.append(sc)
    targets = _targets(results, scaling)

    print(f"CPU: {machine['cpu_model']}, {machine['usable_cores']} usable cores, "
          f"SIMD kernel {machine['fastnn_config'].get('simd_kernel')}, "
          f"BLAS threads: {machine['blas_thread_control']}")
    for t, peak in peaks.items():
        print(f"FMA peak estimate, {t} thread(s): {peak['gflops']:.1f} GFLOP/s ({peak['method']})")
    print(f"MLP training FLOP per sample: {bench.mlp_training_flops(MLP) / 1e6:.3f} M; "
          f"{repeats} rounds after 1 warm-up, medians\n")
    print(bench.format_training_table(list(results.values()), scaling))
    over = [r["scenario"]["name"] for r in results.values()
            if any((e.get("fraction_of_peak") or 0) > 1 for e in r["results"].values())]
    if over:
        print("note: a fraction of peak above 100% means the peak estimate was taken while "
              "the machine was busy; treat '% peak' as unreliable in this run.\n")
    print("targets of the native backend (ratios measured in this run):")
    for row in targets:
        reached = "-" if row["reached"] is None else f"{row['reached']:.2f}"
        verdict = {None: "not measured", True: "met", False: "MISSED"}[row["met"]]
        print(f"  {row['target']:<42} {reached:>6} (goal {row['goal']:g})  {verdict}")
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.0f} s in all")

    if args.json:
        doc = {"benchmark": "training", "command": " ".join(sys.argv), "quick": args.quick,
               "machine": machine, "fma_peak": {str(t): p for t, p in peaks.items()},
               "results": results, "scaling": scaling, "targets": targets,
               "elapsed_s": elapsed}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
