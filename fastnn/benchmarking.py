"""Measurement library behind ``fastnn bench`` and ``benchmarks/bench_training.py``.

It times the training of one multilayer perceptron by several *contenders*, side by side
in one process:

- ``fastnn-native`` and ``fastnn-numpy``: fastnn's two backends through the public
  Keras-style API (``Sequential``, ``compile``, ``fit(epochs=1, verbose=0, shuffle=True)``);
- ``torch``: PyTorch CPU eager with an idiomatic loop (skipped when not importable);
- ``numpy-handwritten``: a compact hand-written NumPy training loop with Adam, the
  baseline the project's performance targets quote;
- ``sklearn``: scikit-learn's ``MLPClassifier.partial_fit`` (skipped when not importable).

Every contender trains on the same synthetic data with the same batch size, Adam with the
same learning rate, and the same thread count.  Runs are *interleaved*: after a warm-up
round, each round runs every contender once, in an order that rotates from round to
round, so that drift on a shared machine (another process starting, the CPU clock
changing) hits all contenders alike instead of whichever happened to run last.  Each
contender's samples/s is reported as the median over rounds with its min and max.

Everything returned is plain dicts, lists, strings and numbers, so results can be written
with ``json.dump`` as they are.  Only NumPy is required; PyTorch, scikit-learn and
threadpoolctl are used when importable.

Example:
    >>> from fastnn import benchmarking as B
    >>> scenario = B.mlp_scenario([784, 500, 500, 10], batch_size=128)
    >>> result = B.benchmark_training(scenario, threads=2, repeats=5)
    >>> print(B.format_training_table([result]))
"""

import contextlib
import ctypes
import importlib
import importlib.metadata
import os
import platform
import sys
import time

import numpy as np

__all__ = [
    "CONTENDERS",
    "benchmark_training",
    "contender_status",
    "format_training_table",
    "interleaved_times",
    "machine_info",
    "measure_fma_peak",
    "mlp_scenario",
    "mlp_training_flops",
    "set_peak",
    "summarize",
    "thread_limits",
    "training_runner",
    "thread_scaling",
]

#: Every contender this module knows, in the order tables list them.
CONTENDERS = ("fastnn-native", "fastnn-numpy", "torch", "numpy-handwritten", "sklearn")

#: Contenders run when the caller names none (sklearn is slow and optional).
DEFAULT_CONTENDERS = ("fastnn-native", "fastnn-numpy", "torch", "numpy-handwritten")

_HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")


# --------------------------------------------------------------------------- scenarios
def mlp_scenario(layers, hidden_activation="relu", output="softmax", batch_size=128,
                 n_samples=8192, learning_rate=1e-3, name=None):
    """Describe one MLP training benchmark as a plain dict.

    Args:
        layers: Units per layer, input first, e.g. ``[784, 500, 500, 10]``.
        hidden_activation: One of ``relu``, ``tanh``, ``sigmoid``, ``linear``.
        output: ``"softmax"`` (sparse categorical cross-entropy, ``layers[-1]`` classes)
            or ``"sigmoid"`` (binary cross-entropy, ``layers[-1]`` must be 1).
        batch_size: Samples per gradient step.
        n_samples: Samples in one timed run (one epoch over the synthetic data).
        learning_rate: Adam's learning rate.
        name: A label for tables; defaults to ``"784-500-500-10 relu b128"`` style.

    Returns:
        A dict with the keys above plus ``name`` and ``flops_per_sample``.

    Raises:
        ValueError: For an unknown activation or output, or inconsistent sizes.
    """
    layers = [int(u) for u in layers]
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"Expected at least two positive layer sizes. Received: layers={layers}")
    if hidden_activation not in _HIDDEN_ACTIVATIONS:
        raise ValueError(f"hidden_activation must be one of {_HIDDEN_ACTIVATIONS}. "
                         f"Received: {hidden_activation!r}")
    if output not in ("softmax", "sigmoid"):
        raise ValueError(f"output must be 'softmax' or 'sigmoid'. Received: {output!r}")
    if output == "softmax" and layers[-1] < 2:
        raise ValueError("A softmax output needs at least 2 classes.")
    if output == "sigmoid" and layers[-1] != 1:
        raise ValueError("A sigmoid output (binary cross-entropy) needs exactly 1 unit.")
    if batch_size < 1 or n_samples < 1:
        raise ValueError("batch_size and n_samples must be >= 1.")
    if name is None:
        name = f"{'-'.join(map(str, layers))} {hidden_activation} b{batch_size}"
    return {
        "name": name,
        "layers": layers,
        "hidden_activation": hidden_activation,
        "output": output,
        "loss": "sparse_categorical_crossentropy" if output == "softmax" else "binary_crossentropy",
        "optimizer": "adam",
        "learning_rate": float(learning_rate),
        "batch_size": int(batch_size),
        "n_samples": int(n_samples),
        "dtype": "float32",
        "flops_per_sample": mlp_training_flops(layers),
    }


def mlp_training_flops(layers):
    """Floating-point operations of the matrix products for one training sample.

    Counts a multiply-add as 2 flops.  A Dense layer ``fan_in -> units`` costs
    ``2 * fan_in * units`` for each of its three products: the forward ``x @ w``, the
    weight gradient ``x.T @ dz`` and the input gradient ``dz @ w.T``.  The first layer's
    input gradient is never computed (nothing upstream needs it), so it is left out.
    Bias, activations, the loss and the optimizer are element-wise and left out too:
    they are memory-bound and small next to the products for the nets measured here.

    For 784-500-500-10: forward 1.294 MFLOP, weight gradients 1.294, input gradients of
    layers 2 and 3 0.510, total 3.098 MFLOP, i.e.
    ``2*(784*500 + 500*500 + 500*10)*3 - 2*784*500``.

    Args:
        layers: Units per layer, input first.

    Returns:
        The flop count as an int.
    """
    products = [2 * a * b for a, b in zip(layers[:-1], layers[1:])]
    forward = sum(products)
    weight_grads = sum(products)
    input_grads = sum(products[1:])  # layer 1's dx is skipped: the input needs no gradient
    return int(forward + weight_grads + input_grads)


def _synthetic_data(scenario, seed):
    """Random-normal inputs and random labels: enough to time training, cheap to make."""
    rng = np.random.default_rng(seed)
    n, d = scenario["n_samples"], scenario["layers"][0]
    x = rng.standard_normal((n, d), dtype=np.float32)
    if scenario["output"] == "softmax":
        y = rng.integers(0, scenario["layers"][-1], size=n).astype(np.int64)
    else:
        y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    return x, y


# --------------------------------------------------------------------------- threads
def _optional_import(module_name):
    """Import an optional dependency, or return None when it is missing or broken.

    Kept as one function so tests can make a contender look absent.
    """
    try:
        return importlib.import_module(module_name)
    except Exception:  # a broken install (ImportError, OSError from a .so) counts as absent
        return None


def _openblas_handles():
    """(get, set) C functions of every OpenBLAS loaded in this process (Linux only).

    Used when threadpoolctl is absent: NumPy's wheels bundle OpenBLAS, whose thread count
    can only be changed through its own C API once it is loaded.
    """
    found = []
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return found
    for path in sorted(paths):
        if not os.path.isabs(path):
            continue
        try:
            lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        # The symbols carry a prefix/suffix depending on how OpenBLAS was built
        # (scipy-openblas wheels, 64-bit integer builds, a system library).
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", "_64_", ""):
                try:
                    get = getattr(lib, f"{prefix}_get_num_threads{suffix}")
                    set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}")
                except AttributeError:
                    continue
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                found.append((get, set_))
                break
            else:
                continue
            break
    return found


@contextlib.contextmanager
def thread_limits(n):
    """Run a block with fastnn, PyTorch and NumPy's BLAS all limited to ``n`` threads.

    fastnn's count is set with ``fastnn.set_num_threads``; PyTorch's with
    ``torch.set_num_threads`` but only when torch is already imported (importing it just
    for this would cost seconds and start its thread pool); NumPy's BLAS through
    threadpoolctl when importable, else through OpenBLAS's own C API when an OpenBLAS is
    loaded, else it is left alone.  Everything is restored on exit.

    Args:
        n: Threads, an int >= 1.

    Yields:
        A dict saying what was controlled: ``threads``, ``fastnn``, ``torch`` (bool or
        None when torch is not imported), ``blas`` (``"threadpoolctl"``,
        ``"openblas-ctypes"`` or ``"uncontrolled"``) and ``note``.
    """
    from . import parallel

    n = int(n)
    info = {"threads": n, "fastnn": True, "torch": None, "blas": "uncontrolled", "note": ""}
    # Restore the *unset* state too, so OMP_NUM_THREADS keeps working after the block.
    saved_fastnn = parallel._num_threads
    parallel.set_num_threads(n)
    torch = sys.modules.get("torch")
    saved_torch = None
    if torch is not None:
        saved_torch = torch.get_num_threads()
        torch.set_num_threads(n)
        info["torch"] = True
    blas_restore = None
    threadpoolctl = _optional_import("threadpoolctl")
    if threadpoolctl is not None:
        # user_api="blas" only: fastnn's and torch's OpenMP pools are set above, and
        # limiting every OpenMP runtime here would fight with that.
        limiter = threadpoolctl.threadpool_limits(limits=n, user_api="blas")
        blas_restore = limiter.restore_original_limits
        info["blas"] = "threadpoolctl"
    else:
        handles = _openblas_handles()
        if handles:
            saved = [get() for get, _ in handles]
            for _, set_ in handles:
                set_(n)
            blas_restore = lambda: [s(v) for (_, s), v in zip(handles, saved)]  # noqa: E731
            info["blas"] = "openblas-ctypes"
            info["note"] = "threadpoolctl not installed: NumPy's OpenBLAS set through its C API"
        else:
            info["note"] = ("threadpoolctl not installed and no OpenBLAS found: NumPy's BLAS "
                            "threads were left at their default")
    try:
        yield info
    finally:
        if blas_restore is not None:
            blas_restore()
        if torch is not None:
            torch.set_num_threads(saved_torch)
        parallel._num_threads = saved_fastnn


# --------------------------------------------------------------------------- contenders
def contender_status(name):
    """Whether a contender can run here.

    Args:
        name: One of ``CONTENDERS``.

    Returns:
        ``(True, "")`` or ``(False, reason)``.

    Raises:
        ValueError: For an unknown contender name.
    """
    if name not in CONTENDERS:
        raise ValueError(f"Unknown contender {name!r}; expected one of {CONTENDERS}")
    if name == "fastnn-native":
        from . import backend

        if not backend.native_available():
            return False, "fastnn's native extension is not built or not importable"
    elif name == "torch":
        if _optional_import("torch") is None:
            return False, "PyTorch is not installed (pip install torch)"
    elif name == "sklearn":
        if _optional_import("sklearn.neural_network") is None:
            return False, "scikit-learn is not installed (pip install scikit-learn)"
    return True, ""


def _fastnn_runner(scenario, x, y, backend_name, seed):
    """A callable training one epoch of a fastnn Sequential on the given backend."""
    import fastnn
    from fastnn import backend, layers

    previous = backend.current().name
    fastnn.set_backend(backend_name)
    try:
        fastnn.utils.set_random_seed(seed)
        units = scenario["layers"]
        stack = [layers.Input(shape=(units[0],))]
        for u in units[1:-1]:
            stack.append(layers.Dense(u, activation=scenario["hidden_activation"]))
        stack.append(layers.Dense(units[-1], activation=scenario["output"]))
        model = fastnn.Sequential(stack)
        model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=scenario["learning_rate"]),
                      loss=scenario["loss"])
    finally:
        fastnn.set_backend(previous)

    def run():
        # The backend is chosen per call because the contenders share one process.
        before = backend.current().name
        fastnn.set_backend(backend_name)
        try:
            model.fit(x, y, batch_size=scenario["batch_size"], epochs=1, verbose=0,
                      shuffle=True)
        finally:
            fastnn.set_backend(before)

    return run


def _torch_runner(scenario, x, y, seed):
    """An idiomatic PyTorch eager loop: nn.Sequential, Adam, logits + fused loss."""
    torch = importlib.import_module("torch")
    nn = torch.nn
    torch.manual_seed(seed)
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}
    units = scenario["layers"]
    mods = []
    for i, (a, b) in enumerate(zip(units[:-1], units[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(units) - 2:
            mods.append(act[scenario["hidden_activation"]]())
    # The output activation lives in the loss, as PyTorch users write it.
    model = nn.Sequential(*mods)
    loss_fn = nn.CrossEntropyLoss() if scenario["output"] == "softmax" else nn.BCEWithLogitsLoss()
    # eps=1e-7 matches Keras' (and fastnn's) Adam default; everything else is torch's.
    opt = torch.optim.Adam(model.parameters(), lr=scenario["learning_rate"], eps=1e-7)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    n, bs = xt.shape[0], scenario["batch_size"]

    def run():
        perm = torch.randperm(n)
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    return run


class _HandwrittenMLP:
    """A compact NumPy MLP with Adam: what a user would write without a framework.

    Activation derivatives come from the layer outputs, the loss gradient from the
    fused softmax/sigmoid + cross-entropy, and the Adam moments are updated in place.
    """

    def __init__(self, scenario, seed):
        rng = np.random.default_rng(seed)
        units = scenario["layers"]
        self.w, self.b = [], []
        for a, b in zip(units[:-1], units[1:]):
            limit = np.sqrt(6.0 / (a + b))  # Glorot uniform, as Keras' Dense default
            self.w.append(rng.uniform(-limit, limit, (a, b)).astype(np.float32))
            self.b.append(np.zeros(b, np.float32))
        self.params = [p for pair in zip(self.w, self.b) for p in pair]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.lr, self.b1, self.b2, self.eps = scenario["learning_rate"], 0.9, 0.999, 1e-7
        self.hidden = scenario["hidden_activation"]
        self.softmax = scenario["output"] == "softmax"

    def _act(self, z):
        if self.hidden == "relu":
            return np.maximum(z, 0, out=z)
        if self.hidden == "tanh":
            return np.tanh(z, out=z)
        if self.hidden == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        return z

    def _act_grad(self, h, dh):
        if self.hidden == "relu":
            dh *= h > 0
        elif self.hidden == "tanh":
            dh *= 1.0 - h * h
        elif self.hidden == "sigmoid":
            dh *= h * (1.0 - h)
        return dh

    def step(self, xb, yb):
        hs = [xb]
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            z = hs[-1] @ w
            z += b
            hs.append(self._act(z) if i < len(self.w) - 1 else z)
        z, m = hs[-1], xb.shape[0]
        if self.softmax:
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            z[np.arange(m), yb] -= 1.0  # d(CE)/d(logits) = p - onehot
        else:
            z = 1.0 / (1.0 + np.exp(-z))
            z -= yb
        dz = z / np.float32(m)
        grads = [None] * len(self.params)
        for i in range(len(self.w) - 1, -1, -1):
            grads[2 * i] = hs[i].T @ dz
            grads[2 * i + 1] = dz.sum(axis=0)
            if i:
                dz = self._act_grad(hs[i], dz @ self.w[i].T)
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, g, mm, vv in zip(self.params, grads, self.m, self.v):
            mm *= self.b1
            mm += (1 - self.b1) * g
            vv *= self.b2
            vv += (1 - self.b2) * (g * g)
            p -= np.float32(lr_t) * mm / (np.sqrt(vv) + self.eps)


def _numpy_runner(scenario, x, y, seed):
    net = _HandwrittenMLP(scenario, seed)
    rng = np.random.default_rng(seed)
    bs = scenario["batch_size"]

    def run():
        order = rng.permutation(x.shape[0])
        for start in range(0, x.shape[0], bs):
            idx = order[start:start + bs]
            net.step(x.take(idx, axis=0), y.take(idx, axis=0))

    return run


def _sklearn_runner(scenario, x, y, seed):
    nn = importlib.import_module("sklearn.neural_network")
    act = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "linear": "identity"}
    clf = nn.MLPClassifier(hidden_layer_sizes=tuple(scenario["layers"][1:-1]),
                           activation=act[scenario["hidden_activation"]], solver="adam",
                           learning_rate_init=scenario["learning_rate"],
                           batch_size=scenario["batch_size"], shuffle=True, random_state=seed)
    labels = y.ravel().astype(np.int64)
    classes = np.arange(max(2, scenario["layers"][-1]))

    def run():
        # partial_fit makes one pass over the data in shuffled mini-batches.
        clf.partial_fit(x, labels, classes=classes)

    return run


def training_runner(name, scenario, seed=0):
    """One contender's training of a scenario as a zero-argument callable.

    Each call trains one epoch over ``scenario["n_samples"]`` synthetic samples.  Model,
    optimizer and data are built here, outside what a timer around the call measures.
    Threads are whatever is in force when the callable runs (see ``thread_limits``).

    Args:
        name: One of ``CONTENDERS``.
        scenario: A dict from ``mlp_scenario``.
        seed: Seeds the data, the initialisation and the shuffling.

    Returns:
        The callable.

    Raises:
        ValueError: For an unknown contender.
        RuntimeError: When the contender cannot run here (the message says why).
    """
    ok, reason = contender_status(name)
    if not ok:
        raise RuntimeError(f"{name} skipped: {reason}")
    x, y = _synthetic_data(scenario, seed)
    return _make_runner(name, scenario, x, y, seed)


def _make_runner(name, scenario, x, y, seed):
    if name == "fastnn-native":
        return _fastnn_runner(scenario, x, y, "native", seed)
    if name == "fastnn-numpy":
        return _fastnn_runner(scenario, x, y, "numpy", seed)
    if name == "torch":
        return _torch_runner(scenario, x, y, seed)
    if name == "numpy-handwritten":
        return _numpy_runner(scenario, x, y, seed)
    return _sklearn_runner(scenario, x, y, seed)


# --------------------------------------------------------------------------- timing
def interleaved_times(runners, repeats=5, warmup=1, progress=None):
    """Time callables in interleaved rounds with a rotating order.

    Args:
        runners: Dict name -> zero-argument callable (one timed unit of work each).
        repeats: Timed rounds; every runner runs once per round.
        warmup: Untimed rounds first (buffer allocation, caches, thread pools start).
        progress: Optional callable taking one status string.

    Returns:
        Dict name -> list of seconds, one per timed round.
    """
    names = list(runners)
    times = {name: [] for name in names}
    for r in range(warmup + repeats):
        # Rotating the start means no contender always runs right after the same other
        # one (whose spinning threads or dirty caches it would always inherit).
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            if progress is not None:
                phase = "warm-up" if r < warmup else f"round {r - warmup + 1}/{repeats}"
                progress(f"{phase}: {name}")
            t0 = time.perf_counter()
            runners[name]()
            elapsed = time.perf_counter() - t0
            if r >= warmup:
                times[name].append(elapsed)
    return times


def summarize(values):
    """Median, min, max and relative spread of a list of numbers.

    Args:
        values: A non-empty list of floats.

    Returns:
        Dict with ``median``, ``min``, ``max`` and ``spread`` ((max - min) / median).
    """
    arr = np.asarray(values, dtype=float)
    med = float(np.median(arr))
    return {"median": med, "min": float(arr.min()), "max": float(arr.max()),
            "spread": float((arr.max() - arr.min()) / med) if med else 0.0}


def _error_entry(exc):
    return {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}


def _guarded(name, run, results):
    """Wrap a runner so that an exception records an error entry and later rounds skip it.

    A contender failing mid-benchmark (a library bug, running out of memory) then costs
    its own result only, not the whole comparison.
    """

    def guarded():
        if name in results:
            return
        try:
            run()
        except Exception as exc:
            results[name] = _error_entry(exc)

    return guarded


def benchmark_training(scenario, contenders=None, threads=None, repeats=5, warmup=1,
                       seed=0, peak_gflops=None, progress=None):
    """Train one MLP scenario with every contender, interleaved, and summarize.

    Args:
        scenario: A dict from ``mlp_scenario``.
        contenders: Names from ``CONTENDERS``; defaults to ``DEFAULT_CONTENDERS``.
        threads: Threads for every contender; defaults to ``fastnn.get_num_threads()``.
        repeats: Timed rounds.
        warmup: Untimed rounds first.
        seed: Seeds the data and every contender's initialisation and shuffling.
        peak_gflops: The CPU's FMA peak at ``threads`` (see ``measure_fma_peak``); when
            given, each contender gets ``fraction_of_peak``.
        progress: Optional callable taking one status string.

    Returns:
        A dict: ``scenario``, ``threads``, ``repeats``, ``warmup``, ``thread_control``
        (from ``thread_limits``), ``peak_gflops`` and ``results``, a dict by contender
        name.  A result is ``{"status": "skipped", "reason": ...}`` or ``{"status": "ok",
        "seconds": [...], "samples_per_s": {median, min, max, spread}, "gflops",
        "fraction_of_peak", "vs_fastnn_numpy", "vs_torch"}``; the ratios compare
        median samples/s and are None when the reference did not run.  A contender that
        raised is ``{"status": "error", "reason": ...}``.
    """
    from . import parallel

    names = list(DEFAULT_CONTENDERS if contenders is None else contenders)
    for name in names:
        contender_status(name)  # raises on an unknown name before any work
    threads = parallel.get_num_threads() if threads is None else int(threads)
    results = {}
    ready = []
    for name in names:
        ok, reason = contender_status(name)
        if ok:
            ready.append(name)
        else:
            results[name] = {"status": "skipped", "reason": reason}
    x, y = _synthetic_data(scenario, seed)
    with thread_limits(threads) as control:
        runners = {}
        for name in ready:
            try:
                runners[name] = _guarded(name, _make_runner(name, scenario, x, y, seed),
                                         results)
            except Exception as exc:  # one broken contender must not sink the others
                results[name] = _error_entry(exc)
        times = interleaved_times(runners, repeats=repeats, warmup=warmup, progress=progress)
    n = scenario["n_samples"]
    for name, secs in times.items():
        if name in results:  # it raised during a round: already an error entry
            continue
        sps = summarize([n / s for s in secs])
        entry = {"status": "ok", "seconds": secs, "samples_per_s": sps}
        flops = scenario.get("flops_per_sample")
        entry["gflops"] = sps["median"] * flops / 1e9 if flops else None
        entry["fraction_of_peak"] = None
        results[name] = entry
    for entry in results.values():
        if entry["status"] != "ok":
            continue
        for ref, key in (("fastnn-numpy", "vs_fastnn_numpy"), ("torch", "vs_torch")):
            other = results.get(ref, {})
            entry[key] = (entry["samples_per_s"]["median"] / other["samples_per_s"]["median"]
                          if other.get("status") == "ok" else None)
    ordered = {name: results[name] for name in names}
    result = {"scenario": dict(scenario), "threads": threads, "repeats": repeats,
              "warmup": warmup, "thread_control": control, "peak_gflops": None,
              "results": ordered}
    return set_peak(result, peak_gflops)


def set_peak(result, peak_gflops):
    """Set (or replace) the FMA peak of a ``benchmark_training`` result.

    Recomputes every contender's ``fraction_of_peak``.  Useful because on a busy machine
    a peak measured once can be low; measuring it again after the runs and keeping the
    best gives a steadier denominator.

    Args:
        result: A dict from ``benchmark_training``; changed in place.
        peak_gflops: GFLOP/s, or None to clear.

    Returns:
        The same dict.
    """
    result["peak_gflops"] = peak_gflops
    for entry in result["results"].values():
        if entry.get("status") == "ok":
            gflops = entry.get("gflops")
            entry["fraction_of_peak"] = gflops / peak_gflops if peak_gflops and gflops else None
    return result


def thread_scaling(result_many, result_few):
    """Median samples/s ratio of two ``benchmark_training`` results, by contender.

    Args:
        result_many: The run with more threads.
        result_few: The same scenario with fewer threads.

    Returns:
        Dict contender -> ratio (None when either run skipped it), plus the thread counts
        under ``"threads"``.
    """
    out = {"threads": [result_many["threads"], result_few["threads"]]}
    for name, hi in result_many["results"].items():
        lo = result_few["results"].get(name, {})
        ok = hi.get("status") == "ok" and lo.get("status") == "ok"
        out[name] = (hi["samples_per_s"]["median"] / lo["samples_per_s"]["median"]
                     if ok else None)
    return out


# --------------------------------------------------------------------------- peak
def _native_fma_hook():
    """The native FMA-loop peak function, if the compiled extension provides one.

    The expected signature is ``fma_peak_gflops(num_threads) -> float`` (float32
    GFLOP/s); any of fastnn's extension modules may define it.
    """
    from . import backend

    if not backend.native_available():
        return None
    for module in ("_threads", "_gemm", "_elementwise"):
        mod = _optional_import(f"fastnn._native.{module}")
        fn = getattr(mod, "fma_peak_gflops", None) if mod is not None else None
        if callable(fn):
            return fn
    return None


def measure_fma_peak(threads=None, size=2048, repeats=5):
    """Estimate the CPU's float32 FMA peak in GFLOP/s on ``threads`` threads.

    When fastnn's native extension exposes ``fma_peak_gflops(num_threads)`` (a loop of
    independent FMAs, the honest measure), that is used.  Otherwise this is a *proxy*:
    the best GFLOP/s of a large float32 ``numpy.matmul`` with NumPy's BLAS limited to
    ``threads``.  A tuned BLAS reaches roughly 85-95% of the FMA peak at this size, so the
    proxy is a slight underestimate, and a "fraction of peak" computed against it a
    slight overestimate.  On a virtual machine the nominal clock says little, which is
    why the peak is measured rather than computed.

    Args:
        threads: Threads; defaults to ``fastnn.get_num_threads()``.
        size: Side of the square matmul for the proxy.
        repeats: Timed products for the proxy; the best is kept (noise only slows).

    Returns:
        Dict with ``gflops``, ``threads``, ``method`` (``"native-fma-loop"`` or
        ``"numpy-matmul-proxy"``), ``size`` (None for the native loop),
        ``blas_control`` and ``note``.
    """
    from . import parallel

    threads = parallel.get_num_threads() if threads is None else int(threads)
    hook = _native_fma_hook()
    if hook is not None:
        return {"gflops": float(hook(threads)), "threads": threads,
                "method": "native-fma-loop", "size": None, "blas_control": None,
                "note": "independent float32 FMA chains in fastnn's native extension"}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), np.float32)
    with thread_limits(threads) as control:
        np.matmul(a, b, out=out)  # warm-up: threads start, pages fault in
        best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return {"gflops": 2.0 * size ** 3 / best / 1e9, "threads": threads,
            "method": "numpy-matmul-proxy", "size": size, "blas_control": control["blas"],
            "note": "proxy: best float32 numpy.matmul GFLOP/s, a slight underestimate of "
                    "the FMA peak" + ("; " + control["note"] if control["note"] else "")}


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- machine
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return sorted(flags & {"avx", "avx2", "fma", "avx512f", "sse4_2"})
    except OSError:
        pass
    return None


def _version(dist):
    # Read the installed metadata rather than importing: importing torch costs seconds.
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info():
    """What the results were measured on.

    Returns:
        Dict with ``cpu_model``, ``cpu_flags``, ``logical_cores``, ``usable_cores``,
        ``fastnn_config`` (``fastnn.info.config_dict()``), ``versions`` (python, numpy,
        torch, scikit-learn, threadpoolctl; None when absent) and ``blas_thread_control``.
    """
    from .info import config_dict
    from .parallel import usable_cores

    threadpoolctl = _optional_import("threadpoolctl")
    blas = "threadpoolctl" if threadpoolctl is not None else (
        "openblas-ctypes" if _openblas_handles() else "uncontrolled")
    return {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "fastnn_config": config_dict(),
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "torch": _version("torch"),
            "scikit-learn": _version("scikit-learn"),
            "threadpoolctl": _version("threadpoolctl"),
        },
        "blas_thread_control": blas,
    }


# --------------------------------------------------------------------------- table
def _fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def format_training_table(results, scaling=None):
    """A plain-text table of ``benchmark_training`` results.

    Args:
        results: A list of results from ``benchmark_training``.
        scaling: Optional list of ``thread_scaling`` dicts, printed after the table.

    Returns:
        The table as one string.
    """
    head = (f"{'scenario':<30} {'thr':>3} {'contender':<18} {'samples/s':>10} "
            f"{'min..max':>17} {'vs numpy-be':>11} {'vs torch':>8} {'% peak':>6}")
    lines = [head, "-" * len(head)]
    for res in results:
        label = res["scenario"]["name"]
        for name, entry in res["results"].items():
            if entry["status"] != "ok":
                lines.append(f"{label:<30} {res['threads']:>3} {name:<18} "
                             f"{entry['status']}: {entry['reason']}")
                continue
            s = entry["samples_per_s"]
            frac = entry.get("fraction_of_peak")
            lines.append(
                f"{label:<30} {res['threads']:>3} {name:<18} {s['median']:>10,.0f} "
                f"{s['min']:>8,.0f}..{s['max']:<7,.0f} {_fmt_ratio(entry['vs_fastnn_numpy']):>11} "
                f"{_fmt_ratio(entry['vs_torch']):>8} "
                f"{'-' if frac is None else f'{100 * frac:.0f}%':>6}")
        lines.append("")
    for sc in scaling or []:
        t_hi, t_lo = sc["threads"]
        parts = [f"{k} {_fmt_ratio(v)}" for k, v in sc.items()
                 if k not in ("threads", "scenario") and v is not None]
        lines.append(f"scaling {t_hi} vs {t_lo} threads"
                     f"{' (' + sc['scenario'] + ')' if sc.get('scenario') else ''}: "
                     + ", ".join(parts))
    return "\n".join(lines).rstrip() + "\n"
