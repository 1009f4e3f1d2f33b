"""``fastnn bench --only cnn`` and ``benchmarks/bench_cnn.py``: convolutional training.

Two models of issue 10, float32, Adam, synthetic data:

- ``lenet``: LeNet-5 on 28x28x1 (conv 6@5x5 same, max-pool, conv 16@5x5 valid, max-pool,
  dense 120, 84, 10), ReLU;
- ``vgg``: a CIFAR-sized VGG block on 32x32x3 (conv 32, 32, pool, conv 64, 64, pool, all
  3x3 same; dense 128, 10), ReLU.

Contenders: ``fastnn-native``, ``fastnn-numpy`` (the NumPy backend) and ``torch`` (PyTorch
eager in its own NCHW layout, ``Adam(fused=True)``, cross-entropy on logits) when
installed.  Each (model, contender) runs in a fresh Python process (``python -m
fastnn.bench.cnn --worker ...``), so no contender inherits another's thread pools, caches,
allocator state or peak RSS.  A worker reports:

- training samples/s: the median over timed epochs (``fit`` for fastnn, a plain loop for
  torch) after one untimed warm-up epoch, on wall-clock time, plus the process CPU time;
- forward-convolution GFLOP/s: every conv layer of the model alone (its forward
  primitive with ReLU, fastnn's ``conv2d_forward`` or ``torch.nn.functional.conv2d``) on
  one batch, ``2*OH*OW*KH*KW*C*F`` flops per sample, and its fraction of the measured
  float32 FMA peak at the same thread count;
- the peak RSS of the process (VmHWM, else ``resource.getrusage``) after training,
  and the RSS before the model was built, so the model's own share can be read.

The numbers are wall-clock: they mean something on a quiet machine only.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

#: The models: layers as ("conv", filters, kernel, padding), ("pool",), ("dense", units).
MODELS = {
    "lenet": {"label": "LeNet-5 28x28x1", "input": (28, 28, 1),
              "layers": [("conv", 6, 5, "same"), ("pool",), ("conv", 16, 5, "valid"),
                         ("pool",), ("dense", 120), ("dense", 84), ("dense", 10)]},
    "vgg": {"label": "VGG block 32x32x3", "input": (32, 32, 3),
            "layers": [("conv", 32, 3, "same"), ("conv", 32, 3, "same"), ("pool",),
                       ("conv", 64, 3, "same"), ("conv", 64, 3, "same"), ("pool",),
                       ("dense", 128), ("dense", 10)]},
}

CONTENDERS = ("fastnn-native", "fastnn-numpy", "torch")

#: Per preset: batch size, gradient steps per timed epoch, timed epochs.
PRESETS = {
    "full": {"batch": 64, "steps": 16, "repeats": 5},
    "quick": {"batch": 64, "steps": 8, "repeats": 3},
    "smoke": {"batch": 8, "steps": 2, "repeats": 1},
}


def conv_shapes(key):
    """Each conv layer of a model as ``(h, w, c, f, k, padding, oh, ow)``."""
    h, w, c = MODELS[key]["input"]
    out = []
    for layer in MODELS[key]["layers"]:
        if layer[0] == "conv":
            _, f, k, pad = layer
            oh, ow = (h, w) if pad == "same" else (h - k + 1, w - k + 1)
            out.append((h, w, c, f, k, pad, oh, ow))
            h, w, c = oh, ow, f
        elif layer[0] == "pool":
            h, w = h // 2, w // 2
    return out


def forward_conv_flops(key):
    """Forward-convolution flops of one sample (a multiply-add counts 2)."""
    return sum(2.0 * oh * ow * k * k * c * f for _, _, c, f, k, _, oh, ow in conv_shapes(key))


def _pads(k, padding):
    """(top, bottom, left, right) of a stride-1 k x k window; "same" puts the odd cell
    after, as Keras."""
    if padding != "same":
        return (0, 0, 0, 0)
    p = (k - 1) // 2
    return (p, k - 1 - p, p, k - 1 - p)


def _rss_mib():
    """Peak RSS of this process so far, MiB.

    VmHWM (Linux) first: it belongs to this process's address space, which exec made
    fresh.  ``getrusage``'s ``ru_maxrss`` survives exec, so a worker started by a parent
    that had imported torch would report the parent's peak (measured: 335 MiB for every
    contender); it is the fallback where /proc is missing.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# --------------------------------------------------------------------------- fastnn
def _fastnn_training(key, backend_name, x, y, batch):
    import fastnn
    from fastnn import backend, layers

    spec = MODELS[key]
    with backend.using(backend_name):
        fastnn.utils.set_random_seed(0)
        stack = [layers.Input(shape=spec["input"])]
        flat = False
        for layer in spec["layers"]:
            if layer[0] == "conv":
                stack.append(layers.Conv2D(layer[1], layer[2], padding=layer[3],
                                           activation="relu"))
            elif layer[0] == "pool":
                stack.append(layers.MaxPooling2D())
            else:
                if not flat:
                    stack.append(layers.Flatten())
                    flat = True
                last = layer is spec["layers"][-1]
                stack.append(layers.Dense(layer[1], activation="softmax" if last else "relu"))
        model = fastnn.Sequential(stack)
        model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=1e-3),
                      loss="sparse_categorical_crossentropy")

    def run():
        with backend.using(backend_name):
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)

    return run


def _fastnn_conv_forward(key, backend_name, batch):
    """A callable running every conv layer's forward primitive once, on one batch."""
    from fastnn import backend

    ops = backend.get(backend_name)
    rng = np.random.default_rng(1)
    calls = []
    for h, w, c, f, k, pad, _, _ in conv_shapes(key):
        xs = rng.standard_normal((batch, h, w, c), dtype=np.float32)
        ws = rng.standard_normal((k, k, c, f), dtype=np.float32) * 0.1
        bs = np.zeros(f, np.float32)
        calls.append((xs, ws, bs, _pads(k, pad)))

    def run():
        for xs, ws, bs, pads in calls:
            ops.conv2d_forward(xs, ws, bs, (1, 1), pads, activation="relu")

    return run


# --------------------------------------------------------------------------- torch
def _torch_training(key, x, y, batch):
    import torch

    spec = MODELS[key]
    torch.manual_seed(0)
    mods, (h, w, c) = [], spec["input"]
    feats = None
    for layer in spec["layers"]:
        if layer[0] == "conv":
            _, f, k, pad = layer
            mods += [torch.nn.Conv2d(c, f, k, padding="same" if pad == "same" else 0),
                     torch.nn.ReLU()]
            if pad != "same":
                h, w = h - k + 1, w - k + 1
            c = f
        elif layer[0] == "pool":
            mods.append(torch.nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        else:
            if feats is None:
                mods.append(torch.nn.Flatten())
                feats = h * w * c
            mods.append(torch.nn.Linear(feats, layer[1]))
            feats = layer[1]
            if layer is not spec["layers"][-1]:
                mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=True)
    except (RuntimeError, TypeError):  # an older torch without fused CPU Adam
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # its own NCHW
    yt = torch.from_numpy(y.astype(np.int64))
    n = xt.shape[0]

    def run():
        perm = torch.randperm(n)
        for start in range(0, n, batch):
            idx = perm[start:start + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    return run


def _torch_conv_forward(key, batch):
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(1)
    calls = []
    for h, w, c, f, k, pad, _, _ in conv_shapes(key):
        xs = torch.from_numpy(rng.standard_normal((batch, c, h, w), dtype=np.float32))
        ws = torch.from_numpy(rng.standard_normal((f, c, k, k), dtype=np.float32) * 0.1)
        calls.append((xs, ws, torch.zeros(f), "same" if pad == "same" else 0))

    def run():
        with torch.no_grad():
            for xs, ws, bs, pad in calls:
                F.relu(F.conv2d(xs, ws, bs, padding=pad))

    return run


# --------------------------------------------------------------------------- worker
def _best_time(fn, min_seconds, repeats):
    """Best seconds per call of ``fn`` over ``repeats`` samples of >= min_seconds each."""
    fn()  # warm-up
    best = None
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                break
        best = dt / calls if best is None else min(best, dt / calls)
    return best


def worker(key, contender, threads, batch, steps, repeats):
    """One contender on one model, in this process; returns the measurement dict."""
    from fastnn.bench.threads import thread_limits

    if contender == "torch":
        import torch  # noqa: F401  (thread_limits sets torch's threads once it is loaded)
    rss_start = _rss_mib()
    rng = np.random.default_rng(0)
    n = batch * steps
    x = rng.standard_normal((n, *MODELS[key]["input"]), dtype=np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int32)
    with thread_limits(threads):
        if contender == "torch":
            train = _torch_training(key, x, y, batch)
            conv = _torch_conv_forward(key, batch)
        else:
            be = "native" if contender == "fastnn-native" else "numpy"
            train = _fastnn_training(key, be, x, y, batch)
            conv = _fastnn_conv_forward(key, be, batch)
        train()  # warm-up epoch: buffers, optimizer state, thread pools
        walls, cpus = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            train()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        rss_peak = _rss_mib()
        conv_s = _best_time(conv, 0.05 if repeats > 1 else 0.0, max(repeats, 1))
    wall = float(np.median(walls))
    return {"model": key, "contender": contender, "threads": threads, "batch": batch,
            "steps": steps, "repeats": repeats, "samples_per_s": n / wall,
            "epoch_wall_s": walls, "epoch_cpu_s": cpus,
            "spread": (max(walls) - min(walls)) / wall,
            "conv_forward_gflops": forward_conv_flops(key) * batch / conv_s / 1e9,
            "rss_start_mib": rss_start, "rss_peak_mib": rss_peak, "status": "ok"}


def _available(contender):
    if contender == "fastnn-native":
        from fastnn import backend

        return None if backend.native_available() else "the native extension is not built"
    if contender == "torch":
        import importlib.util

        return None if importlib.util.find_spec("torch") else "PyTorch is not installed"
    return None


def measure(preset="full", threads=None, contenders=CONTENDERS, models=("lenet", "vgg"),
            progress=None, peak_gflops=None):
    """Every (model, contender) in its own process; returns the ``cnn`` result dict.

    Args:
        preset: ``"full"``, ``"quick"`` or ``"smoke"`` (seconds; numbers meaningless).
        threads: Threads for every contender; defaults to ``fastnn.get_num_threads()``.
        contenders: Names from ``CONTENDERS``.
        models: Keys of ``MODELS``.
        progress: Optional callable taking one status string.
        peak_gflops: The float32 FMA peak at ``threads``; measured here when None.

    Returns:
        Dict with ``settings``, ``fma_peak_gflops`` and ``runs`` (one dict per model and
        contender: ``worker``'s keys, or ``status`` with the reason it did not run), and
        ``ratios`` (native over each other contender, per model).

    Raises:
        ValueError: For an unknown preset, model or contender.
    """
    from fastnn import threads as fastnn_threads

    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}. Received: {preset!r}")
    for name, given, known in (("models", models, MODELS), ("contenders", contenders,
                                                             CONTENDERS)):
        bad = [m for m in given if m not in known]
        if bad:
            raise ValueError(f"{name} must be among {list(known)}. Received: {bad}")
    threads = fastnn_threads.get_num_threads() if threads is None else int(threads)
    p = PRESETS[preset]
    progress = progress or (lambda msg: None)
    if peak_gflops is None:
        from .machine import best_fma_peaks

        progress(f"FMA peak at {threads} thread(s)")
        peak_gflops = best_fma_peaks([threads], size=256 if preset == "smoke" else 2048)[
            threads]["gflops"]
    runs = []
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    for key in models:
        for name in contenders:
            reason = _available(name)
            if reason:
                runs.append({"model": key, "contender": name, "status": f"skipped: {reason}"})
                continue
            progress(f"cnn {key}: {name} (fresh process)")
            args = [sys.executable, "-m", "fastnn.bench.cnn", "--worker", key, name,
                    str(threads), str(p["batch"]), str(p["steps"]), str(p["repeats"])]
            proc = subprocess.run(args, capture_output=True, text=True, env=env)
            lines = proc.stdout.strip().splitlines()
            if proc.returncode != 0 or not lines:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                runs.append({"model": key, "contender": name,
                             "status": f"failed (exit {proc.returncode}): {tail[0]}"})
                continue
            run = json.loads(lines[-1])
            run["fraction_of_peak"] = run["conv_forward_gflops"] / peak_gflops
            runs.append(run)
    ratios = {}
    for key in models:
        got = {r["contender"]: r for r in runs if r["model"] == key and r["status"] == "ok"}
        nat = got.get("fastnn-native")
        ratios[key] = {other: nat["samples_per_s"] / r["samples_per_s"]
                       for other, r in got.items() if nat and other != "fastnn-native"}
    return {"settings": {"preset": preset, "threads": threads, **p, "dtype": "float32"},
            "fma_peak_gflops": peak_gflops, "runs": runs, "ratios": ratios}


def cnn_table(result):
    """The result as one report table (``fastnn.bench.report``'s table dict)."""
    s = result["settings"]
    header = ["model", "contender", "samples/s", "±", "native/this", "fwd conv GFLOP/s",
              "% FMA peak", "peak RSS MiB"]
    rows = []
    for r in result["runs"]:
        label = MODELS[r["model"]]["label"]
        if r["status"] != "ok":
            rows.append([label, r["contender"], r["status"]] + [""] * 5)
            continue
        ratio = result["ratios"].get(r["model"], {}).get(r["contender"])
        rows.append([label, r["contender"], f"{r['samples_per_s']:.0f}",
                     f"{100 * r['spread']:.0f}%",
                     f"{ratio:.2f}x" if ratio is not None else "-",
                     f"{r['conv_forward_gflops']:.1f}",
                     f"{100 * r['fraction_of_peak']:.0f}%",
                     f"{r['rss_peak_mib']:.0f} (start {r['rss_start_mib']:.0f})"])
    notes = [f"float32, batch {s['batch']}, Adam, {s['steps']} steps per epoch, median of "
             f"{s['repeats']} epochs after one warm-up epoch; each contender in a fresh "
             "process. Wall-clock: meaningful on a quiet machine only.",
             f"FMA peak ({s['threads']} thread(s)): {result['fma_peak_gflops']:.1f} GFLOP/s; "
             "fwd conv: every conv layer's forward + ReLU alone on one batch, best of the "
             "samples.",
             "Targets (issue 10): LeNet native/torch >= 1.5x; VGG native/torch >= 1.0x and "
             "fwd conv >= 60% of peak; native/fastnn-numpy at most 10x."]
    return {"title": f"CNN training, {s['threads']} thread(s)", "header": header,
            "rows": rows, "align": ["l", "l"] + ["r"] * 6, "notes": notes}


def _main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fastnn.bench.cnn")
    ap.add_argument("--worker", nargs=6, metavar=("MODEL", "CONTENDER", "THREADS", "BATCH",
                                                  "STEPS", "REPEATS"))
    args = ap.parse_args(argv)
    if not args.worker:
        ap.error("this module's command line is the worker; run benchmarks/bench_cnn.py "
                 "or `fastnn bench --only cnn`")
    key, name, threads, batch, steps, repeats = args.worker
    res = worker(key, name, int(threads), int(batch), int(steps), int(repeats))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
