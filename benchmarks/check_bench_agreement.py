"""Does ``fastnn bench`` agree with a stopwatch?  Each figure in one run, against alone.

Run it as a plain script from the repository root, on a quiet machine:

    python benchmarks/check_bench_agreement.py [--threads 2] [--repeats 5]
        [--tolerance 0.10] [--json out.json]

``fastnn bench`` times every contender in one process, interleaved, so that drift on the
machine hits all alike.  Its figures are worth quoting only if they are what the same work
gives timed alone, with no other library's thread pool in the process.  For a set of the
bench's measurements (the 512 GEMM, two products of the 784-500-500-10 MLP at batch 32 and
256, that MLP's training at batch 32 and 256, the 100-32-8-1 net's training at batch 32,
and the MLP's inference at batch 32) this script

1. runs each measurement once with every contender interleaved, as ``fastnn bench`` does
   (``fastnn.bench.benchmark_gemm`` / ``benchmark_training`` / ``benchmark_inference``);
2. runs it again for each contender alone, in a fresh Python process
   (``--alone CONTENDER INDEX``, which this script passes to itself);

and prints both medians and their ratio.  It exits with status 1 when any pair differs by
more than ``--tolerance`` (10% by default, the issue's bound), naming each.  On a busy
machine it fails for that reason alone: check ``uptime`` first.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastnn import bench  # noqa: E402
from fastnn.bench import optional  # noqa: E402
from fastnn.bench.scenarios import sized_scenario  # noqa: E402

#: Training and inference contenders compared (those that are installed).
MODEL_CONTENDERS = ("fastnn-native", "fastnn-numpy", "torch", "numpy-handwritten")


def measurements():
    """The checked measurements, as ``(label, kind, job)``; ``kind`` is gemm, training
    or inference, ``job`` the shape or the scenario."""
    shapes = {s["name"]: s for s in bench.gemm_shapes((512,), batch_sizes=(32, 256))}
    out = [(f"GEMM {name}", "gemm", shapes[name])
           for name in ("square 512", "b32 784x500 x.T@dz", "b256 500x500 x@w")]
    models = {key: (label, template) for key, label, template in bench.seed_models()}
    for key, batch in (("mlp784", 32), ("mlp784", 256), ("tabular", 32)):
        label, template = models[key]
        sc = sized_scenario(template, label, key, batch, max(4 * batch, 1024))
        out.append((f"train {sc['name']}", "training", sc))
    label, template = models["mlp784"]
    sc = bench.inference_scenario(sized_scenario(template, label, "mlp784", 32, 1024), 32)
    out.append((f"infer {sc['name']}", "inference", sc))
    return out


def measure(kind, job, contenders, threads, repeats):
    """Median rate (GFLOP/s or samples/s) per contender, timed as ``fastnn bench`` does."""
    common = dict(contenders=list(contenders), threads=threads, repeats=repeats, warmup=1)
    if kind == "gemm":
        res = bench.benchmark_gemm(job, min_seconds=0.05, **common)
        metric = "gflops"
    else:
        fn = bench.benchmark_training if kind == "training" else bench.benchmark_inference
        res = fn(job, min_seconds=0.25, **common)
        metric = "samples_per_s"
    return {name: entry[metric]["median"] for name, entry in res["results"].items()
            if entry.get("status") == "ok"}


def contenders_for(kind):
    names = bench.GEMM_CONTENDERS if kind == "gemm" else MODEL_CONTENDERS
    return [n for n in names if bench.contender_status(n)[0]]


def alone(name, index, threads, repeats):
    """The rate of contender ``name`` on measurement ``index``, in a fresh process."""
    command = [sys.executable, os.path.abspath(__file__), "--alone", name, str(index),
               "--threads", str(threads), "--repeats", str(repeats)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} alone on #{index} failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])[name]


def check(threads, repeats, tolerance):
    """Every measurement in one run and alone; returns the rows and the failures."""
    rows, failures = [], []
    for index, (label, kind, job) in enumerate(measurements()):
        names = contenders_for(kind)
        if "torch" in names:
            optional.load("torch")  # as fastnn bench does: before the thread limits
        together = measure(kind, job, names, threads, repeats)
        for name in names:
            if name not in together:
                continue
            by_itself = alone(name, index, threads, repeats)
            ratio = together[name] / by_itself
            rows.append({"measurement": label, "contender": name, "in_run": together[name],
                         "alone": by_itself, "ratio": ratio})
            if abs(ratio - 1) > tolerance:
                failures.append(rows[-1])
    return rows, failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--json", default=None)
    parser.add_argument("--alone", nargs=2, metavar=("CONTENDER", "INDEX"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from fastnn import threads as fastnn_threads

    threads = args.threads or fastnn_threads.get_num_threads()
    if args.alone:
        name, index = args.alone[0], int(args.alone[1])
        _, kind, job = measurements()[index]
        if name == "torch":
            optional.load("torch")
        print(json.dumps(measure(kind, job, [name], threads, args.repeats)))
        return 0
    machine = bench.machine_info()
    print(f"CPU: {machine['cpu_model']}; {threads} thread(s); medians of {args.repeats} "
          "rounds; 'in run' = interleaved with the other contenders in one process, "
          "'alone' = this contender only, in a fresh process")
    rows, failures = check(threads, args.repeats, args.tolerance)
    print(f"{'measurement':<36} {'contender':<18} {'in run':>10} {'alone':>10} {'ratio':>6}")
    for r in rows:
        flag = "" if r not in failures else "  <-- differs"
        print(f"{r['measurement']:<36} {r['contender']:<18} {r['in_run']:>10.1f} "
              f"{r['alone']:>10.1f} {r['ratio']:>6.2f}{flag}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "threads": threads, "rows": rows,
                       "tolerance": args.tolerance}, f, indent=1)
    if failures:
        print(f"{len(failures)} of {len(rows)} figures differ by more than "
              f"{args.tolerance:.0%} from the same work timed alone")
        return 1
    print(f"all {len(rows)} figures within {args.tolerance:.0%} of the same work timed alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
