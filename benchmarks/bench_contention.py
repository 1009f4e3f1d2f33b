"""Training speed under the OpenMP wait policies, on an idle machine and beside a busy one.

Run it as a plain script from the repository root:

    python benchmarks/bench_contention.py [--rounds 3] [--batch 256] [--threads 2]
        [--settings default spin10k passive ...] [--no-torch] [--json out.json]

What it answers: how long should an idle OpenMP worker spin before it sleeps?  A
spinning worker answers the next parallel region at once (a sleeping one must be woken
by a futex, 10-20 us in a VM), but while it spins it holds a core; and when another
process holds the *other* core, a thread that spins waiting for a partner that is not
running burns its whole time slice (several ms) at every barrier.  PyTorch's 2-thread
epochs were measured 6-14x slower beside a competing process.

For each wait setting (environment variables, so each runs in a fresh subprocess:
libgomp reads them once, when it loads) the 784-500-500-10 relu MLP with Adam and
softmax cross-entropy trains on synthetic data, and samples/s are measured

- (idle) with nothing else started by this script, and
- (busy) while a competing process busy-loops (a pure-Python loop, one core).

Settings (``--settings``):

- ``default``: libgomp's own default, GOMP_SPINCOUNT=300000 (its documented value when
  OMP_WAIT_POLICY is unset; set explicitly, because fastnn sets its own default);
- ``spin10k`` / ``spin1k`` / ``spin100k``: GOMP_SPINCOUNT=10000 / 1000 / 100000;
- ``passive``: OMP_WAIT_POLICY=PASSIVE (sleep at once);
- ``active``: OMP_WAIT_POLICY=ACTIVE (spin for ever);
- ``fastnn``: the environment untouched, so fastnn's own default applies;
- ``1thread``: fastnn's default policy on one thread (what adapting the thread count
  to a busy machine would give).

PyTorch (when importable) runs with its libgomp's default and with PASSIVE, as the
reference.  Each (setting, scenario) runs ``--rounds`` times, interleaved with the
others so drifting machine load hits all alike; the table shows the median samples/s,
the busy/idle ratio, and each setting's idle speed relative to fastnn's default.
"""

import argparse
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, ROOT)

_WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

#: name -> (contender, threads override or None, environment to set)
SETTINGS = {
    "default": ("fastnn-native", None, {"GOMP_SPINCOUNT": "300000"}),
    "spin100k": ("fastnn-native", None, {"GOMP_SPINCOUNT": "100000"}),
    "spin10k": ("fastnn-native", None, {"GOMP_SPINCOUNT": "10000"}),
    "spin1k": ("fastnn-native", None, {"GOMP_SPINCOUNT": "1000"}),
    "passive": ("fastnn-native", None, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "active": ("fastnn-native", None, {"OMP_WAIT_POLICY": "ACTIVE"}),
    "fastnn": ("fastnn-native", None, {}),
    "1thread": ("fastnn-native", 1, {}),
    "torch-default": ("torch", None, {"GOMP_SPINCOUNT": "300000"}),
    "torch-passive": ("torch", None, {"OMP_WAIT_POLICY": "PASSIVE"}),
}
DEFAULT_SETTINGS = ["fastnn", "default", "spin100k", "spin10k", "spin1k", "passive",
                    "1thread", "torch-default", "torch-passive"]


# The competing process: a pure-Python busy loop that also ends by itself when this
# script dies (it checks its parent every ~10 ms), so no hog outlives a killed run.
_HOG = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(100000):
        pass
"""


def _worker(args):
    """Runs in the subprocess: train, print one JSON line of per-epoch samples/s."""
    from fastnn import bench

    threads = args.threads
    scenario = bench.mlp_scenario([784, 500, 500, 10], batch_size=args.batch,
                                  n_samples=args.samples)
    run = bench.training_runner(args.contender, scenario, seed=0)
    rates = []
    with bench.thread_limits(threads):
        run()  # warm-up: buffers, thread pool
        start = time.perf_counter()
        while len(rates) < args.epochs and (
                len(rates) < 2 or time.perf_counter() - start < args.max_seconds):
            t0 = time.perf_counter()
            run()
            rates.append(args.samples / (time.perf_counter() - t0))
    print(json.dumps({"samples_per_s": rates,
                      "env": {k: os.environ.get(k) for k in _WAIT_VARS}}), flush=True)


def _run_setting(name, args, busy):
    contender, threads, env_set = SETTINGS[name]
    env = {k: v for k, v in os.environ.items() if k not in _WAIT_VARS}
    env.update(env_set)
    threads = threads or args.threads
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", contender,
           "--threads", str(threads), "--batch", str(args.batch),
           "--samples", str(args.samples), "--epochs", str(args.epochs),
           "--max-seconds", str(args.max_seconds)]
    hog = None
    if busy:
        hog = subprocess.Popen([sys.executable, "-c", _HOG])
        time.sleep(0.2)
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                             timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if out.returncode != 0:
        sys.stderr.write(f"{name}: worker failed\n{out.stderr[-2000:]}\n")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS,
                        choices=sorted(SETTINGS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--samples", type=int, default=2048, help="samples per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per run")
    parser.add_argument("--max-seconds", type=float, default=4.0,
                        help="stop timing a run after this long (2 epochs at least)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--scenarios", nargs="+", choices=("idle", "busy"),
                        default=["idle", "busy"])
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", help="also write the measurements to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.contender = args.worker
        _worker(args)
        return

    # SIGTERM runs the finally blocks too (the hog is killed there).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = list(args.settings)
    if args.no_torch or importlib.util.find_spec("torch") is None:
        settings = [s for s in settings if SETTINGS[s][0] != "torch"]
    load0 = os.getloadavg()
    results = {(s, busy): [] for s in settings for busy in (False, True)}
    for rnd in range(args.rounds):
        for busy in [sc == "busy" for sc in args.scenarios]:
            for s in settings:
                rates = _run_setting(s, args, busy)
                if rates:
                    results[(s, busy)].append(statistics.median(rates))
                print(f"round {rnd + 1}/{args.rounds} {'busy' if busy else 'idle'} "
                      f"{s:<14} {statistics.median(rates) if rates else float('nan'):9.0f} "
                      f"samples/s", file=sys.stderr, flush=True)
    load1 = os.getloadavg()

    def med(s, busy):
        v = results[(s, busy)]
        return statistics.median(v) if v else float("nan")

    ref = med("fastnn", False) if "fastnn" in settings else float("nan")
    print(f"784-500-500-10 relu MLP, Adam, batch {args.batch}, {args.threads} threads; "
          f"median samples/s of {args.rounds} interleaved rounds")
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} (2 cores; 'idle' "
          f"means nothing started by this script)")
    hdr = f"{'setting':<14} {'environment':<26} {'idle':>8} {'busy':>8} {'busy/idle':>9} " \
          f"{'idle vs fastnn':>14}"
    print(hdr)
    print("-" * len(hdr))
    for s in settings:
        contender, threads, env_set = SETTINGS[s]
        envs = " ".join(f"{k}={v}" for k, v in env_set.items()) or "(fastnn default)"
        if threads:
            envs += f" {threads} thr"
        idle, busy = med(s, False), med(s, True)
        print(f"{s:<14} {envs:<26} {idle:8.0f} {busy:8.0f} {busy / idle:9.2f} "
              f"{idle / ref:14.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "load_before": load0, "load_after": load1,
                       "runs": [{"setting": s, "busy": b, "samples_per_s": v}
                                for (s, b), v in results.items()]}, f, indent=1)


if __name__ == "__main__":
    main()
