"""Instructions per unit of work, counted with callgrind: figures that ignore machine load.

Run it from the repository root (valgrind must be installed):

    python benchmarks/count_instructions.py CASE [--contender NAME] [--calls 3 13]

It runs itself twice under ``valgrind --tool=callgrind``, doing the case's unit of work
``calls[0]`` and then ``calls[1]`` times after the same set-up and one untimed warm-up
call, and prints ``(I1 - I0) / (calls[1] - calls[0])``: the instructions of one unit,
set-up and start-up cancelled.  One thread everywhere (``OMP_NUM_THREADS=1``, fastnn and
NumPy's BLAS), so the count is the work, not the scheduling.

Cases (the 784-500-500-10 relu/softmax MLP of ``fastnn.bench.seed_models``, float32):

- ``adam_step``: ``Adam().apply(grads, params)`` on that net's six variables (648,010
  parameters); ``--contender`` picks the backend (``fastnn-native``, ``fastnn-numpy``)
  or ``numpy-handwritten`` (the hand loop's own in-place Adam on the same arrays);
- ``train_step``: one epoch of TRAIN_STEPS training steps at batch 128 of a contender
  of ``fastnn.bench.contenders`` (one ``fit(epochs=1)`` for fastnn, as the benchmark
  runs it, so its per-epoch set-up is shared out as there; the hand-written loop's
  ``step`` TRAIN_STEPS times), reported per step;
- ``train_step_tabular``: as ``train_step``, for the 100-32-8-1 relu/sigmoid tabular
  net (binary cross-entropy, Adam) at batch 32, where the per-step Python around the
  kernels is most of the step;
- ``predict_b1``: one row through the net: ``model.predict_on_batch(x)`` for fastnn,
  ``model(x)`` with ``--call``, the hand-written ``predict`` otherwise.

``--inside`` is how the script runs itself under valgrind; do not pass it.
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = ("adam_step", "train_step", "train_step_tabular", "predict_b1")
CONTENDERS = ("fastnn-native", "fastnn-numpy", "numpy-handwritten")
LAYERS = [784, 500, 500, 10]
TRAIN_BATCH = 128
TRAIN_STEPS = 8
TABULAR_LAYERS = [100, 32, 8, 1]
TABULAR_BATCH = 32


def _adam_unit(contender):
    """One Adam step on the net's variable shapes, as a zero-argument callable."""
    import numpy as np

    import fastnn
    from fastnn.bench import contenders

    scenario = fastnn.bench.scenarios.mlp_scenario(LAYERS)
    net = contenders._HandwrittenMLP(scenario, seed=0)
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(p.shape).astype(np.float32) * 1e-2 for p in net.params]
    if contender == "numpy-handwritten":
        def unit():
            # The Adam loop of _HandwrittenMLP.step, on the same arrays.
            net.t += 1
            lr_t = net.lr * np.sqrt(1 - net.b2 ** net.t) / (1 - net.b1 ** net.t)
            for p, g, mm, vv in zip(net.params, grads, net.m, net.v):
                mm *= net.b1
                mm += (1 - net.b1) * g
                vv *= net.b2
                vv += (1 - net.b2) * (g * g)
                p -= np.float32(lr_t) * mm / (np.sqrt(vv) + net.eps)
        return unit
    ops = fastnn.backend.get("native" if contender == "fastnn-native" else "numpy")
    adam = fastnn.optimizers.Adam(learning_rate=1e-3)

    def unit():
        with fastnn.backend.using(ops.name):
            adam.apply(grads, net.params)
    return unit


def _train_unit(contender, tabular=False):
    """One epoch of TRAIN_STEPS training steps, as a zero-argument callable."""
    import fastnn
    from fastnn.bench import contenders, scenarios

    batch = TABULAR_BATCH if tabular else TRAIN_BATCH
    if tabular:
        scenario = scenarios.mlp_scenario(TABULAR_LAYERS, "relu", "sigmoid",
                                          batch_size=batch, n_samples=batch * TRAIN_STEPS)
    else:
        scenario = scenarios.mlp_scenario(LAYERS, batch_size=batch,
                                          n_samples=batch * TRAIN_STEPS)
    x, y = scenarios.synthetic_data(scenario, 0)
    if contender == "numpy-handwritten":
        net = contenders._HandwrittenMLP(scenario, seed=0)
        batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, x.shape[0], batch)]

        def unit():
            for xb, yb in batches:
                net.step(xb, yb)
        return unit
    model = contenders._fastnn_model(scenario, contender.split("-")[1], seed=0)
    name = contender.split("-")[1]

    def unit():
        with fastnn.backend.using(name):
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return unit


def _predict_unit(contender, call):
    """One row through the net, as a zero-argument callable."""
    import fastnn
    from fastnn.bench import contenders, scenarios

    scenario = scenarios.mlp_scenario(LAYERS, batch_size=1, n_samples=1)
    x, _ = scenarios.synthetic_data(scenario, 0)
    if contender == "numpy-handwritten":
        net = contenders._HandwrittenMLP(scenario, seed=0)
        return lambda: net.predict(x)
    name = contender.split("-")[1]
    model = contenders._fastnn_model(scenario, name, seed=0)
    fastnn.backend.set_backend(name)  # outside the unit: a server sets it once
    return (lambda: model(x)) if call else (lambda: model.predict_on_batch(x))


def _inside(args):
    """The unit of work, args.inside times, after set-up and one warm-up call."""
    import fastnn

    fastnn.set_num_threads(1)
    if args.case == "adam_step":
        unit = _adam_unit(args.contender)
    elif args.case in ("train_step", "train_step_tabular"):
        unit = _train_unit(args.contender, tabular=args.case == "train_step_tabular")
    else:
        unit = _predict_unit(args.contender, args.call)
    unit()
    for _ in range(args.inside):
        unit()


def _count(args, calls):
    """Instructions callgrind counts for a run doing ``calls`` units."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", FASTNN_NUM_THREADS="1")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, os.path.abspath(__file__), args.case, "--contender",
           args.contender, "--inside", str(calls)] + (["--call"] if args.call else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    found = re.findall(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"callgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--contender", choices=CONTENDERS, default="fastnn-native")
    parser.add_argument("--call", action="store_true",
                        help="predict_b1: time model(x) instead of predict_on_batch(x)")
    parser.add_argument("--calls", type=int, nargs=2, default=(3, 13), metavar=("FEW", "MANY"))
    parser.add_argument("--inside", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside is not None:
        _inside(args)
        return 0
    few, many = args.calls
    if many <= few:
        parser.error(f"--calls needs FEW < MANY. Received: {few} {many}")
    per_unit = (_count(args, many) - _count(args, few)) / (many - few)
    if args.case.startswith("train_step"):
        per_unit /= TRAIN_STEPS
    what = args.case + (" (model(x))" if args.call else "")
    print(f"{what} {args.contender}: {per_unit:,.0f} instructions per "
          f"{'step' if args.case.startswith('train_step') else 'unit'} "
          f"(callgrind, 1 thread, {many} - {few} units)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
