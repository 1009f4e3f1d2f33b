"""The ``fastnn`` command (also ``python -m fastnn``).

    fastnn demo   train the seeds' MLP (or, with --model lenet, LeNet-5) on the bundled
                  digits data, on each backend
    fastnn info   print the build and runtime configuration (show_config)
    fastnn bench  compare fastnn's backends with PyTorch and NumPy on this machine
"""

import argparse
import sys
import time

from .utils.plotting import plot_history
from .utils.validation import check_int


def _one_hot(y, classes):
    import numpy as np

    out = np.zeros((y.shape[0], classes), dtype="float32")
    out[np.arange(y.shape[0]), y] = 1.0
    return out


class _EpochTimer:
    """Records the wall time of each epoch (a small callback)."""

    def __init__(self):
        from .callbacks import Callback

        class _Timer(Callback):
            def __init__(self, sink):
                super().__init__()
                self.sink = sink

            def on_epoch_begin(self, epoch, logs=None):
                self.sink.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.sink.times.append(time.perf_counter() - self.sink.start)

        self.times, self.start = [], 0.0
        self.callback = _Timer(self)


# What each demo model trains with by default: the MLP as seed 001 prints it; LeNet-5
# with the small batches that suit 1,438 training images (docs/convolutions.md).
DEMO_DEFAULTS = {"mlp": {"epochs": 20, "batch_size": 100},
                 "lenet": {"epochs": 15, "batch_size": 16}}


def digits_as_images(x):
    """Flattened 8x8 digits (values 0..16) as ``(n, 16, 16, 1)`` float32 images in [0, 1].

    Each pixel is repeated 2x2 (nearest-neighbour upscaling): LeNet-5's second 5x5
    convolution needs at least 6x6 inputs after the first 2x2 pooling, which 8x8 images
    do not leave.
    """
    images = x.reshape(-1, 8, 8).astype("float32") / 16.0
    return images.repeat(2, axis=1).repeat(2, axis=2)[..., None]


def lenet5(input_shape=(16, 16, 1), classes=10, activation="tanh"):
    """LeNet-5 as a Sequential model: conv 6@5x5 same, max pool, conv 16@5x5 valid, max
    pool, flatten, dense 120, 84, softmax ``classes``.

    tanh is LeNet's own activation: after 15 epochs of Adam in batches of 16 it scores
    97.2% to 98.3% on the 359 test digits over ten seeds, where relu scatters between
    about 94% and 98% (docs/convolutions.md).
    """
    from fastnn import layers
    from fastnn.models import Sequential

    return Sequential([
        layers.Input(input_shape),
        layers.Conv2D(6, 5, padding="same", activation=activation),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 5, activation=activation),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(120, activation=activation),
        layers.Dense(84, activation=activation),
        layers.Dense(classes, activation="softmax"),
    ], name="lenet5")


def _demo_model(model, input_dim):
    import fastnn
    from fastnn import layers

    if model == "lenet":
        return lenet5()
    mlp = fastnn.Sequential()
    mlp.add(layers.Dense(input_dim=input_dim, units=500, activation="sigmoid"))
    mlp.add(layers.Dense(units=500, activation="sigmoid"))
    mlp.add(layers.Dense(units=10, activation="softmax"))
    return mlp


def run_demo(backends, epochs=None, batch_size=None, verbose=1, seed=0, print_fn=print,
             plot_path=None, model="mlp"):
    """Train seed 001's MLP (sigmoid 500-500, softmax 10, Adam) or LeNet-5 on the digits.

    Args:
        epochs, batch_size: None takes the model's defaults (``DEMO_DEFAULTS``).
        plot_path: where to save the training curves of the first backend
            (``fastnn.utils.plot_history``), or None.  Without matplotlib a note is
            printed instead.
        model: "mlp" (the 64 pixels as features) or "lenet" (``lenet5`` on the images
            upscaled to 16x16 by ``digits_as_images``).

    Returns a dict backend -> {"accuracy", "loss", "epoch_seconds", "samples_per_second",
    "history"} (history: the per-epoch logs of fit).
    """
    import numpy as np

    import fastnn
    from fastnn.datasets import digits
    from fastnn.utils.validation import check_choice

    model = check_choice("model", model, tuple(DEMO_DEFAULTS))
    epochs = DEMO_DEFAULTS[model]["epochs"] if epochs is None else epochs
    batch_size = DEMO_DEFAULTS[model]["batch_size"] if batch_size is None else batch_size
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    if model == "lenet":
        x_train, x_test = digits_as_images(x_train), digits_as_images(x_test)
        shape_note = "of 8x8 pixels, upscaled to 16x16 for LeNet-5"
    else:
        x_train = x_train.astype("float32") / 16.0
        x_test = x_test.astype("float32") / 16.0
        shape_note = "of 8x8 pixels"
    y_train_1h, y_test_1h = _one_hot(y_train, 10), _one_hot(y_test, 10)
    print_fn(f"Digits (UCI, CC BY 4.0): {len(x_train)} training and {len(x_test)} test images "
             f"{shape_note}")
    results = {}
    for name in backends:
        fastnn.set_backend(name)
        fastnn.utils.set_random_seed(seed)
        net = _demo_model(model, x_train.shape[1])
        net.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        print_fn(f"\n== backend: {name} ({fastnn.get_num_threads()} threads)")
        timer = _EpochTimer()
        history = net.fit(x_train, y_train_1h, batch_size=batch_size, epochs=epochs,
                          verbose=verbose, callbacks=[timer.callback])
        loss, acc = net.evaluate(x_test, y_test_1h, verbose=0)
        per_epoch = float(np.median(timer.times)) if timer.times else float("nan")
        results[name] = {
            "accuracy": float(acc),
            "loss": float(loss),
            "epoch_seconds": per_epoch,
            "samples_per_second": len(x_train) / per_epoch if per_epoch else float("nan"),
            "history": history.history,
        }
        print_fn(f"test accuracy {acc:.4f}, test loss {loss:.4f}, {per_epoch * 1e3:.1f} ms per "
                 f"epoch ({results[name]['samples_per_second']:,.0f} samples/s)")
    if len(results) > 1 and "numpy" in results:
        base = results["numpy"]["epoch_seconds"]
        print_fn("")
        for name, r in results.items():
            print_fn(f"{name:>7}: {base / r['epoch_seconds']:.2f}x the NumPy backend's speed")
    if plot_path is not None and results:
        _save_demo_plot(results, plot_path, print_fn, model)
    return results


def _save_demo_plot(results, path, print_fn, model="mlp"):
    """The first backend's training curves as a picture (the runs are alike)."""
    name = next(iter(results))
    title = "digits LeNet-5" if model == "lenet" else "digits MLP"
    try:
        plot_history(results[name]["history"], path,
                     title=f"fastnn demo: {title}, backend {name}")
    except ImportError as exc:
        print_fn(f"note: no picture of the training curves ({exc})")
        return
    print_fn(f"wrote {path} (training curves, backend {name})")


def _cmd_demo(args):
    from fastnn import backend

    if args.backend == "all":
        backends = (["native"] if backend.native_available() else []) + ["numpy"]
    else:
        backends = [args.backend]
    run_demo(backends, args.epochs, args.batch_size, args.verbose, args.seed,
             plot_path=None if args.no_plot else args.plot, model=args.model)
    return 0


def _cmd_info(args):
    from fastnn import show_config

    show_config()
    return 0


def _positive_int(name):
    """An argparse ``type`` accepting an integer >= 1 for the option ``--name``.

    The check is ``check_int``'s, and its message is handed to argparse as an
    ``argparse.ArgumentTypeError``, so a bad value is a usage error (exit status 2,
    ``argument --name: ...`` on stderr) like every other.
    """

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = text  # not a number: check_int refuses it with the same message
        try:
            return check_int(name, value, low=1)
        except ValueError as exc:  # validation's ArgumentTypeError is a ValueError too
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _bench_command(args, preset):
    """The ``fastnn bench`` command line as parsed, so the report says how to repeat it.

    Built from ``args`` rather than taken from ``sys.argv``, which is pytest's or
    python's when the command runs in-process.
    """
    command = ["fastnn", "bench"] + ([f"--{preset}"] if preset != "full" else [])
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.contenders:
        command += ["--contenders", *args.contenders]
    if args.only:
        command += ["--only", *args.only]
    if args.repeats:
        command += ["--repeats", str(args.repeats)]
    if args.in_process:
        command += ["--in-process"]
    if args.isolated:
        command += ["--isolated"]
    return " ".join(command + ["--out", args.out])


def _isolation(args):
    """The isolation mode the flags ask for, None for the preset's default."""
    if args.in_process:
        return "in-process"
    return "processes" if args.isolated else None


def _cmd_bench(args):
    from .bench import report, run

    preset = "smoke" if args.smoke else ("quick" if args.quick else "full")
    show, done = report.progress_printer()
    try:
        doc = run.run_bench(preset, contenders=args.contenders, threads=args.threads,
                            sections=args.only or run.DEFAULT_SECTIONS, repeats=args.repeats,
                            progress=show, command=_bench_command(args, preset),
                            isolation=_isolation(args))
    finally:
        done()
    outputs = report.write_outputs(doc, args.out)
    print(report.format_text(doc), end="")
    print(f"wrote {outputs['json']} and {outputs['markdown']}")
    print(f"wrote {outputs['chart']}" if outputs["chart"] else f"note: {outputs['chart_note']}")
    return 0


def _add_bench_parser(sub):
    from .bench import CONTENDERS, SECTIONS

    bench = sub.add_parser(
        "bench", help="compare fastnn's backends with PyTorch and NumPy on this machine",
        description="GEMM GFLOP/s, training and inference samples/s of the seeds' models, "
                    "and thread scaling, for fastnn native, fastnn's NumPy backend, PyTorch "
                    "and scikit-learn (when installed), interleaved, each contender in its "
                    "own worker process (--in-process: all in one). Writes "
                    "results.json, report.md and chart.png (with matplotlib) to --out; "
                    "see docs/benchmarks.md.")
    size = bench.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="fewer shapes, samples and rounds (under a minute on 2 cores)")
    size.add_argument("--smoke", action="store_true",
                      help="a few seconds, to check that everything runs (numbers meaningless)")
    bench.add_argument("--out", default="fastnn-bench-results", metavar="DIR",
                       help="folder for results.json, report.md, chart.png "
                            "(default: ./fastnn-bench-results)")
    bench.add_argument("--threads", type=_positive_int("threads"), default=None,
                       help="threads for every contender (default: fastnn.get_num_threads()); "
                            "thread scaling always goes from 1 to all cores")
    bench.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=None,
                       metavar="NAME",
                       help=f"some of {', '.join(CONTENDERS)} (default: all; a missing one "
                            "is listed as skipped)")
    bench.add_argument("--only", nargs="+", choices=SECTIONS, default=None, metavar="SECTION",
                       help=f"run only these sections: {', '.join(SECTIONS)}")
    bench.add_argument("--repeats", type=_positive_int("repeats"), default=None,
                       help="timed rounds per measurement (default 5, --quick 3)")
    mode = bench.add_mutually_exclusive_group()
    mode.add_argument("--in-process", action="store_true",
                      help="time every contender in this one process, as before isolation "
                           "(their idle thread pools then compete for the cores)")
    mode.add_argument("--isolated", action="store_true",
                      help="one worker process per contender (the default, but for "
                           "--smoke, which runs in-process unless given this)")
    bench.set_defaults(func=_cmd_bench)


def build_parser():
    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the seeds' MLP (or LeNet-5) on the bundled "
                                       "digits data")
    demo.add_argument("--backend", choices=["all", "native", "numpy"], default="all")
    demo.add_argument("--model", choices=sorted(DEMO_DEFAULTS), default="mlp",
                      help="mlp: seed 001's 500-500 sigmoid MLP (default); lenet: LeNet-5 "
                           "on the digits upscaled to 16x16 (docs/convolutions.md)")
    demo.add_argument("--epochs", type=int, default=None,
                      help="default: 20 for mlp, 15 for lenet")
    demo.add_argument("--batch-size", type=int, default=None,
                      help="default: 100 for mlp, 16 for lenet")
    demo.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--plot", default="fastnn-demo.png", metavar="FILE",
                      help="picture of the training loss and accuracy per epoch, with "
                           "matplotlib (default: ./fastnn-demo.png)")
    demo.add_argument("--no-plot", action="store_true", help="do not save the picture")
    demo.set_defaults(func=_cmd_demo)
    info = sub.add_parser("info", help="print build and runtime configuration")
    info.set_defaults(func=_cmd_info)
    _add_bench_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # None: the demo model's default (DEMO_DEFAULTS)
    given = [getattr(args, key, None) for key in ("epochs", "batch_size")]
    if any(value is not None and value < 1 for value in given):
        print("fastnn: --epochs and --batch-size must be >= 1", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
