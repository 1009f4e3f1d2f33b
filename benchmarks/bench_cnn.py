"""CNN training benchmark of issue 10: LeNet-5 and a CIFAR VGG block, batch 64, Adam.

    python benchmarks/bench_cnn.py [--quick | --smoke] [--threads N] [--json out.json]

Prints one table: training samples/s of fastnn's native and NumPy backends and PyTorch
eager (NCHW, fused Adam) when installed, each in a fresh process, the native/other
ratios, the forward convolutions' GFLOP/s and % of the measured float32 FMA peak, and
each run's peak RSS; above it the CPU and the peak.  ``fastnn bench --only cnn`` runs
the same measurement (``fastnn.bench.cnn``).  Wall-clock: run it on a quiet machine.
"""

import argparse
import json
import os
import sys

if __package__ in (None, ""):  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastnn.bench import cnn  # noqa: E402
from fastnn.bench.machine import machine_info  # noqa: E402


def format_table(table):
    widths = [max(len(str(c)) for c in col) for col in zip(table["header"], *table["rows"])]

    def line(cells):
        return "  ".join(str(c).ljust(w) if a == "l" else str(c).rjust(w)
                         for c, w, a in zip(cells, widths, table["align"])).rstrip()

    out = [table["title"], line(table["header"]), line(["-" * w for w in widths])]
    out += [line(r) for r in table["rows"]] + [f"  note: {n}" for n in table["notes"]]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="fewer steps and epochs")
    group.add_argument("--smoke", action="store_true",
                       help="seconds; checks that everything runs, numbers meaningless")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every contender (default fastnn.get_num_threads())")
    ap.add_argument("--models", nargs="+", default=list(cnn.MODELS), choices=list(cnn.MODELS))
    ap.add_argument("--contenders", nargs="+", default=list(cnn.CONTENDERS),
                    choices=list(cnn.CONTENDERS))
    ap.add_argument("--json", default=None, help="also write the result dict here")
    args = ap.parse_args(argv)
    preset = "smoke" if args.smoke else "quick" if args.quick else "full"
    result = cnn.measure(preset, threads=args.threads, contenders=args.contenders,
                         models=args.models,
                         progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    m = machine_info()
    cpu = (m.get("fastnn_config") or {}).get("cpu") or m["cpu_model"]
    print(f"CPU: {cpu}, {m['usable_cores']} usable of {m['logical_cores']} logical cores; "
          f"SIMD kernel {m['simd_kernel']}")
    print(f"FMA peak (float32, {result['settings']['threads']} thread(s)): "
          f"{result['fma_peak_gflops']:.1f} GFLOP/s")
    if preset == "smoke":
        print("--smoke: these numbers mean nothing; they show that each contender runs.")
    print(format_table(cnn.cnn_table(result)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": m, "cnn": result}, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
