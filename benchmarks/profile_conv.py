"""Per-primitive profile of LeNet-5 and VGG-block training steps on the native backend.

    python benchmarks/profile_conv.py [--model lenet|vgg] [--batch 64] [--callgrind]
                                      [--torch]

Every primitive one training step of the model calls on its conv and pool layers
(``conv2d_forward`` with ReLU, ``conv2d_backward`` with dx except for the first layer,
``pool2d_forward``/``backward``, 2x2 max), float32, one thread, on the shapes of
``fastnn.bench.cnn.MODELS``:

- default: thread CPU time (``time.thread_time``) per call, the best of 5 samples;
- ``--callgrind``: instruction counts, each primitive counted alone: the script runs
  itself under ``valgrind --tool=callgrind --toggle-collect=<entry>`` once per
  primitive, counting only inside the C entry (``fnn_conv2d_forward_f32`` ...), calls
  of that primitive 2 and 1 times, the difference being one call;
- ``--torch``: PyTorch's own per-op CPU time for the same step of its NCHW model
  (``torch.profiler``, self CPU time summed per op name, one thread) when installed.

Figures are for comparing kernels, not machines: the callgrind counts do not depend on
machine load, the thread CPU times barely do.
"""

import argparse
import os
import re
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from fastnn.bench import cnn  # noqa: E402

ENTRIES = {"fwd": "fnn_conv2d_forward_f32", "bwd": "fnn_conv2d_backward_f32",
           "pool": "fnn_pool2d_forward_f32", "poolbwd": "fnn_pool2d_backward_f32"}


def primitives(model, batch):
    """``[(label, kind, callable)]`` for one training step's conv and pool primitives."""
    from fastnn import backend

    ops = backend.get("native")
    rng = np.random.default_rng(0)
    out = []
    convs = cnn.conv_shapes(model)
    ci = 0
    h, w, c = cnn.MODELS[model]["input"]
    for layer in cnn.MODELS[model]["layers"]:
        if layer[0] == "conv":
            h, w, c, f, k, pad, oh, ow = convs[ci]
            pads = cnn._pads(k, pad)
            x = rng.standard_normal((batch, h, w, c), dtype=np.float32)
            wt = (rng.standard_normal((k, k, c, f)) * 0.1).astype(np.float32)
            b = np.zeros(f, np.float32)
            y = ops.conv2d_forward(x, wt, b, (1, 1), pads, activation="relu")
            dy = rng.standard_normal(y.shape, dtype=np.float32)
            name = f"conv{ci + 1} {h}x{w}x{c}->{f} {k}x{k}"
            out.append((name + " fwd", "fwd", lambda x=x, wt=wt, b=b, pads=pads:
                        ops.conv2d_forward(x, wt, b, (1, 1), pads, activation="relu")))
            need_dx = ci > 0
            out.append((name + (" bwd" if need_dx else " bwd (no dx)"), "bwd",
                        lambda x=x, wt=wt, y=y, dy=dy, pads=pads, need_dx=need_dx:
                        ops.conv2d_backward(x, wt, y, dy, (1, 1), pads, activation="relu",
                                            need_dx=need_dx)))
            h, w, c = oh, ow, f
            ci += 1
        elif layer[0] == "pool":
            x = rng.standard_normal((batch, h, w, c), dtype=np.float32)
            y, idx = ops.pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), "max")
            dy = rng.standard_normal(y.shape, dtype=np.float32)
            name = f"pool {h}x{w}x{c}"
            out.append((name + " fwd", "pool", lambda x=x: ops.pool2d_forward(
                x, (2, 2), (2, 2), (0, 0, 0, 0), "max")))
            out.append((name + " bwd", "poolbwd", lambda dy=dy, idx=idx, shape=x.shape:
                        ops.pool2d_backward(dy, idx, shape, (2, 2), (2, 2), (0, 0, 0, 0),
                                            "max")))
            h, w = h // 2, w // 2
    return out


def _inside(model, batch, which, calls):
    from fastnn import threads

    threads.set_num_threads(1)
    label, _, fn = primitives(model, batch)[which]
    for _ in range(calls):
        fn()


def _callgrind(model, batch, which, kind):
    counts = []
    for calls in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               f"--toggle-collect={ENTRIES[kind]}", sys.executable, os.path.abspath(__file__),
               "--inside", model, str(batch), str(which), str(calls)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        found = re.findall(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or not found:
            raise RuntimeError(f"callgrind failed:\n{done.stderr[-2000:]}")
        counts.append(int(found[-1]))
    return counts[1] - counts[0]


def _thread_time(fn, repeats=5):
    from fastnn import threads

    with threads.num_threads(1):
        fn()
        best = None
        for _ in range(repeats):
            calls, t0 = 0, time.thread_time()
            while True:
                fn()
                calls += 1
                dt = time.thread_time() - t0
                if dt >= 0.05:
                    break
            best = dt / calls if best is None else min(best, dt / calls)
    return best


def _torch_profile(model, batch):
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = batch * 2
    x = rng.standard_normal((n, *cnn.MODELS[model]["input"]), dtype=np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int32)
    run = cnn._torch_training(model, x, y, batch)
    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    rows = sorted(((e.key, e.self_cpu_time_total / 2, e.count // 2)
                   for e in prof.key_averages()), key=lambda r: -r[1])
    print(f"torch.profiler, {model} batch {batch}, 1 thread: self CPU time per step")
    for key, us, count in rows[:12]:
        print(f"  {key:45s} {us / 1000:8.3f} ms  ({count} calls)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet", choices=list(cnn.MODELS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--torch", action="store_true")
    ap.add_argument("--inside", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.inside:
        model, batch, which, calls = args.inside
        _inside(model, int(batch), int(which), int(calls))
        return 0
    if args.torch:
        _torch_profile(args.model, args.batch)
        return 0
    prims = primitives(args.model, args.batch)
    unit = "instructions (callgrind)" if args.callgrind else "ms thread CPU time"
    print(f"{args.model}, batch {args.batch}, float32, 1 thread: {unit} per call")
    for i, (label, kind, fn) in enumerate(prims):
        if args.callgrind:
            print(f"  {label:34s} {_callgrind(args.model, args.batch, i, kind) / 1e6:9.2f} M",
                  flush=True)
        else:
            print(f"  {label:34s} {_thread_time(fn) * 1e3:9.3f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
