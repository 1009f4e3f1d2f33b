"""Does ``fastnn bench`` agree with a stopwatch?  Each figure in one run, isolated, alone.

Run it as a plain script from the repository root, on a quiet machine:

    python benchmarks/check_bench_agreement.py [--threads 2] [--repeats 5] [--blocks 3]
        [--tolerance 0.10] [--json out.json] [--smoke]

``fastnn bench`` times the contenders interleaved, so that drift on the machine hits all
alike.  Its figures are worth quoting only if they are what the same work gives timed
alone, with no other library's thread pool around.  For a set of the bench's
measurements (the 512 GEMM, two products of the 784-500-500-10 MLP at batch 32 and 256,
that MLP's training at batch 32 and 256, the 100-32-8-1 net's training at batch 32, and
the MLP's inference at batch 32) this script times each figure three ways:

- ``in-run``: every contender interleaved in this one process (``fastnn bench
  --in-process``);
- ``isolated``: every contender interleaved, each in its own persistent worker process
  (``fastnn.bench.isolate``, the bench's default), one pool for the whole check;
- ``alone``: this contender only, in a fresh Python process (``--alone CONTENDER
  INDEX``, which this script passes to itself).

Each measurement runs in ``--blocks`` blocks (3), each block timing the three ways one
after another in an order that rotates from block to block, so drift hits them alike;
the best median of the blocks is kept for each way (other work on the machine only ever
slows a figure down).  It prints the three figures and the two ratios to ``alone``,
counts for ``in-run`` and for ``isolated`` how many figures differ by more than
``--tolerance`` (10%, the issue's bound), and exits with status 1 when an ``isolated``
one does (never with ``--smoke``).  On a busy machine it fails for that reason alone:
check ``uptime`` first (the script prints the load average at its start and end).
``--only`` checks some of the measurements.  ``--smoke`` checks that the script runs (one block, one round, two measurements): its
numbers mean nothing.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastnn  # noqa: E402
from fastnn import bench  # noqa: E402
from fastnn.bench import isolate, optional, timing  # noqa: E402
from fastnn.bench.scenarios import sized_scenario  # noqa: E402

#: Training and inference contenders compared (those that are installed).
MODEL_CONTENDERS = ("fastnn-native", "fastnn-numpy", "torch", "numpy-handwritten")

#: The three ways of timing a figure, in block 0's order.
WAYS = ("in-run", "isolated", "alone")

#: Least seconds of one timed sample: GEMM, training and inference; ``--smoke``'s.
MIN_SECONDS = {"gemm": 0.05, "model": 0.25}
SMOKE_MIN_SECONDS = {"gemm": 0.0, "model": None}

#: The measurements ``--smoke`` checks (indices into ``measurements()``).
SMOKE_MEASUREMENTS = (0, 5)

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))


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


def measure(kind, job, contenders, threads, repeats, pool=None, smoke=False):
    """Median rate (GFLOP/s or samples/s) per contender, timed as ``fastnn bench`` does
    (in this process, or with ``pool`` each contender in its worker)."""
    warmup = 0 if smoke else 1
    seconds = SMOKE_MIN_SECONDS if smoke else MIN_SECONDS
    common = dict(contenders=list(contenders), threads=threads, repeats=repeats,
                  warmup=warmup, pool=pool)
    if kind == "gemm":
        res = bench.benchmark_gemm(job, min_seconds=seconds["gemm"], **common)
        metric = "gflops"
    else:
        fn = bench.benchmark_training if kind == "training" else bench.benchmark_inference
        res = fn(job, min_seconds=seconds["model"], **common)
        metric = "samples_per_s"
    return {name: entry[metric]["median"] for name, entry in res["results"].items()
            if entry.get("status") == "ok"}


def contenders_for(kind):
    names = bench.GEMM_CONTENDERS if kind == "gemm" else MODEL_CONTENDERS
    return [n for n in names if bench.contender_status(n)[0]]


def alone(name, index, threads, repeats, smoke=False):
    """The rate of contender ``name`` on measurement ``index``, in a fresh process."""
    command = [sys.executable, os.path.abspath(__file__), "--alone", name, str(index),
               "--threads", str(threads), "--repeats", str(repeats)]
    command += ["--smoke"] if smoke else []
    env = dict(os.environ)  # the fastnn this process imported, not another one
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH"))
                                        if p)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} alone on #{index} failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]).get(name)


def _one_block(way, index, kind, job, names, threads, repeats, pool, smoke):
    """Rates by contender of one measurement timed one way."""
    if way == "in-run":
        if "torch" in names:
            optional.load("torch")  # as fastnn bench does: before the thread limits
        return measure(kind, job, names, threads, repeats, smoke=smoke)
    if way == "isolated":
        return measure(kind, job, names, threads, repeats, pool=pool, smoke=smoke)
    rates = {name: alone(name, index, threads, repeats, smoke) for name in names}
    return {name: rate for name, rate in rates.items() if rate is not None}


def check(threads, repeats, tolerance, blocks=3, smoke=False, progress=None, only=None):
    """Every measurement in one run, isolated and alone, in alternating blocks.

    Returns:
        ``(rows, failures)``: one row per measurement and contender (``in_run``,
        ``isolated``, ``alone``: the best median over the blocks; ``in_run_ratio``,
        ``isolated_ratio``: over ``alone``), and ``{"in-run": [...], "isolated": [...]}``,
        the rows where that way differs from ``alone`` by more than ``tolerance``.
        ``only``: indices into ``measurements()`` to check (default: all, or
        ``SMOKE_MEASUREMENTS`` with ``smoke``).
    """
    rows, failures = [], {"in-run": [], "isolated": []}
    if only is None:
        only = SMOKE_MEASUREMENTS if smoke else range(len(measurements()))
    chosen = [(i, m) for i, m in enumerate(measurements()) if i in set(only)]
    with isolate.WorkerPool() as pool:
        for index, (label, kind, job) in chosen:
            names = contenders_for(kind)
            best = {way: {} for way in WAYS}
            for b in range(blocks):
                for way in timing.round_order(WAYS, b):
                    if progress is not None:
                        progress(f"{label}: block {b + 1}/{blocks}, {way}")
                    rates = _one_block(way, index, kind, job, names, threads, repeats,
                                       pool, smoke)
                    for name, rate in rates.items():
                        best[way][name] = max(rate, best[way].get(name, 0.0))
            for name in names:
                if not all(name in best[way] for way in WAYS):
                    continue
                row = {"measurement": label, "contender": name,
                       "in_run": best["in-run"][name], "isolated": best["isolated"][name],
                       "alone": best["alone"][name]}
                row["in_run_ratio"] = row["in_run"] / row["alone"]
                row["isolated_ratio"] = row["isolated"] / row["alone"]
                rows.append(row)
                for way, key in (("in-run", "in_run_ratio"), ("isolated", "isolated_ratio")):
                    if abs(row[key] - 1) > tolerance:
                        failures[way].append(row)
    return rows, failures


def _load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=3,
                        help="blocks per measurement, each timing the three ways "
                             "(default 3; the best of them is kept)")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--json", default=None)
    parser.add_argument("--smoke", action="store_true",
                        help="one block, one round, two measurements: checks the script "
                             "runs (numbers meaningless)")
    parser.add_argument("--only", type=int, nargs="+", default=None, metavar="INDEX",
                        help="check only these measurements (0-based, in the order of "
                             "the table: " + "; ".join(
                                 f"{i} {m[0]}" for i, m in enumerate(measurements())) + ")")
    parser.add_argument("--alone", nargs=2, metavar=("CONTENDER", "INDEX"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from fastnn import threads as fastnn_threads

    threads = args.threads or fastnn_threads.get_num_threads()
    repeats, blocks = (1, 1) if args.smoke else (args.repeats, args.blocks)
    if args.alone:
        name, index = args.alone[0], int(args.alone[1])
        _, kind, job = measurements()[index]
        if name == "torch":
            optional.load("torch")
        print(json.dumps(measure(kind, job, [name], threads, repeats, smoke=args.smoke)))
        return 0
    machine = bench.machine_info()
    print(f"CPU: {machine['cpu_model']}; {threads} thread(s); best of {blocks} block(s) "
          f"of medians of {repeats} round(s); 'in run' = interleaved with the other "
          "contenders in one process, 'isolated' = interleaved, each contender in its own "
          "worker process (fastnn bench's default), 'alone' = this contender only, in a "
          "fresh process")
    if args.smoke:
        print("--smoke run: these numbers mean nothing; they only show that the check runs.")
    load_before = _load_average()
    rows, failures = check(threads, repeats, args.tolerance, blocks=blocks, smoke=args.smoke,
                           progress=lambda msg: print(msg, file=sys.stderr, flush=True),
                           only=args.only)
    load = {"start": load_before, "end": _load_average()}
    print(f"{'measurement':<36} {'contender':<18} {'in run':>10} {'isolated':>10} "
          f"{'alone':>10} {'run/al':>6} {'iso/al':>6}")
    for r in rows:
        flags = [way for way in ("in-run", "isolated") if r in failures[way]]
        flag = f"  <-- {', '.join(flags)} differ" if flags else ""
        print(f"{r['measurement']:<36} {r['contender']:<18} {r['in_run']:>10.1f} "
              f"{r['isolated']:>10.1f} {r['alone']:>10.1f} {r['in_run_ratio']:>6.2f} "
              f"{r['isolated_ratio']:>6.2f}{flag}")
    counts = {way: len(failures[way]) for way in failures}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "threads": threads, "repeats": repeats,
                       "blocks": blocks, "smoke": args.smoke, "rows": rows,
                       "tolerance": args.tolerance, "differing": counts,
                       "load_average": load}, f, indent=1)
    for way in ("in-run", "isolated"):
        print(f"{way}: {counts[way]} of {len(rows)} figures differ by more than "
              f"{args.tolerance:.0%} from the same work timed alone")
    # Other work on the machine moves every figure: a check on a busy machine says little.
    print(f"1-minute load average: {load['start']} at the start, {load['end']} at the end "
          f"({os.cpu_count()} logical CPUs)")
    return 1 if counts["isolated"] and not args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
