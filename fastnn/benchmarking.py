"""Measurement library behind ``fastnn bench`` and the scripts in ``benchmarks/``.

It times, side by side in one process, the training and the inference of one model
(a multilayer perceptron, or the seeds' two-input Wide&Deep model) by several
*contenders*, and fastnn's native GEMM against NumPy's:

- ``fastnn-native`` and ``fastnn-numpy``: fastnn's two backends through the public
  Keras-style API (``Sequential``, ``compile``, ``fit(epochs=1, verbose=0, shuffle=True)``);
- ``torch``: PyTorch CPU eager with an idiomatic loop (skipped when not importable);
- ``numpy-handwritten``: a compact hand-written NumPy training loop with Adam, the
  baseline the project's performance targets quote;
- ``sklearn``: scikit-learn's ``MLPClassifier.partial_fit`` (skipped when not importable).

Every contender trains on the same synthetic data with the same batch size, the same
optimizer (Adam, or RMSprop for Wide&Deep as in the seed) with the same learning rate,
and the same thread count.  A contender that cannot express a model (the hand-written
loop and scikit-learn take one input, so not Wide&Deep) is skipped with the reason.

Runs are *interleaved*: after a warm-up round, each round runs every contender once, in
an order that rotates from round to round, so that drift on a shared machine (another
process starting, the CPU clock changing) hits all contenders alike instead of whichever
happened to run last.  Each contender's samples/s (GFLOP/s for the GEMM) is reported as
the median over rounds with its min and max.

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
    "GEMM_CONTENDERS",
    "benchmark_gemm",
    "benchmark_inference",
    "benchmark_training",
    "best_fma_peaks",
    "contender_status",
    "format_training_table",
    "forward_flops",
    "gemm_runner",
    "gemm_shapes",
    "inference_runner",
    "inference_scenario",
    "interleaved_times",
    "machine_info",
    "measure_fma_peak",
    "mlp_scenario",
    "mlp_training_flops",
    "progress_printer",
    "scaling_thread_counts",
    "set_peak",
    "summarize",
    "thread_limits",
    "training_runner",
    "thread_scaling",
    "wide_deep_scenario",
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
        "model": "mlp",
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
        "forward_flops_per_sample": forward_flops(layers),
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


def forward_flops(layers):
    """Floating-point operations of the forward matrix products for one sample.

    What one inference costs: ``2 * fan_in * units`` per Dense layer (multiply-add = 2).

    Args:
        layers: Units per layer, input first.

    Returns:
        The flop count as an int.
    """
    return int(sum(2 * a * b for a, b in zip(layers[:-1], layers[1:])))


def wide_deep_scenario(input_dim=100, deep_units=(100, 32, 8), batch_size=32, n_samples=8192,
                       learning_rate=1e-3, optimizer="rmsprop", name=None):
    """Describe a training benchmark of the seeds' Wide&Deep model as a plain dict.

    The model of seed 000, written with fastnn's functional API: two ``Input`` s of
    ``input_dim`` features fed the same data (the seed calls ``fit([X, X], y)``), a wide
    ``Dense(1)`` on one, a deep tower ``Dense(100, relu) -> Dense(32, relu) -> Dense(8)``
    on the other, ``Concatenate`` and a ``Dense(1, sigmoid)`` head trained with binary
    cross-entropy and RMSprop.  ``input_dim=100`` stands for the one-hot encoded census
    features the seed trains on (about a hundred columns).

    Args:
        input_dim: Features of each input.
        deep_units: Units of the deep tower; relu on all but the last, as in the seed.
        batch_size: Samples per gradient step.
        n_samples: Samples in one timed run.
        learning_rate: The optimizer's learning rate.
        optimizer: ``"rmsprop"`` (the seed's) or ``"adam"``.
        name: A label for tables; defaults to ``"wide&deep 100 b32"`` style.

    Returns:
        The same keys as ``mlp_scenario`` with ``model="wide_deep"``, ``layers`` the
        deep tower (input first) and ``wide_units``.

    Raises:
        ValueError: For non-positive sizes or an unknown optimizer.
    """
    tower = [int(input_dim)] + [int(u) for u in deep_units]
    if len(tower) < 2 or min(tower) < 1 or batch_size < 1 or n_samples < 1:
        raise ValueError("input_dim, deep_units, batch_size and n_samples must be positive. "
                         f"Received: input_dim={input_dim}, deep_units={deep_units}")
    if optimizer not in ("rmsprop", "adam"):
        raise ValueError(f"optimizer must be 'rmsprop' or 'adam'. Received: {optimizer!r}")
    wide_units = 1
    merged = wide_units + tower[-1]
    # Wide and first deep layer read the inputs (no input gradient); every later layer
    # needs all three products, including the head on the concatenation.
    training = (2 * 2 * input_dim * wide_units + mlp_training_flops(tower)
                + 3 * 2 * merged)
    return {
        "name": name or f"wide&deep {input_dim} b{batch_size}",
        "model": "wide_deep",
        "layers": tower,
        "wide_units": wide_units,
        "hidden_activation": "relu",
        "output": "sigmoid",
        "loss": "binary_crossentropy",
        "optimizer": optimizer,
        "learning_rate": float(learning_rate),
        "batch_size": int(batch_size),
        "n_samples": int(n_samples),
        "dtype": "float32",
        "flops_per_sample": int(training),
        "forward_flops_per_sample": int(2 * input_dim * wide_units + forward_flops(tower)
                                        + 2 * merged),
    }


def _model_inputs(scenario, x):
    """What the model is called on: the seed feeds Wide&Deep the same array twice."""
    return [x, x] if scenario.get("model") == "wide_deep" else x


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
    from . import threads as _threads

    n = int(n)
    info = {"threads": n, "fastnn": True, "torch": None, "blas": "uncontrolled", "note": ""}
    # num_threads restores the *unset* state too, so OMP_NUM_THREADS keeps working after.
    fastnn_limit = _threads.num_threads(n)
    fastnn_limit.__enter__()
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
        fastnn_limit.__exit__(None, None, None)


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


def _unsupported_reason(name, scenario):
    """Why a contender cannot express a scenario's model, or "" when it can."""
    if scenario.get("model") == "wide_deep":
        if name == "numpy-handwritten":
            return "the hand-written NumPy loop is a plain MLP; it has no two-input model"
        if name == "sklearn":
            return "MLPClassifier takes one input; a two-input Wide&Deep model cannot be expressed"
    return ""


@contextlib.contextmanager
def _using_backend(backend_name):
    """Select a fastnn backend for a block; the contenders share one process."""
    from . import backend

    before = backend.current().name
    backend.set_backend(backend_name)
    try:
        yield
    finally:
        backend.set_backend(before)


def _fastnn_model(scenario, backend_name, seed):
    """The scenario's model, built and compiled with fastnn's public API on a backend."""
    import fastnn
    from fastnn import layers

    with _using_backend(backend_name):
        fastnn.utils.set_random_seed(seed)
        units, act = scenario["layers"], scenario["hidden_activation"]
        if scenario.get("model") == "wide_deep":
            # Seed 000's model, with the functional API instead of the removed Merge layer.
            wide_in = fastnn.Input(shape=(units[0],), name="wide")
            deep_in = fastnn.Input(shape=(units[0],), name="deep")
            wide = layers.Dense(scenario["wide_units"])(wide_in)
            deep = deep_in
            for u in units[1:-1]:
                deep = layers.Dense(u, activation=act)(deep)
            deep = layers.Dense(units[-1])(deep)
            merged = layers.Concatenate(axis=1)([wide, deep])
            out = layers.Dense(1, activation="sigmoid")(merged)
            model = fastnn.Model(inputs=[wide_in, deep_in], outputs=out)
        else:
            stack = [layers.Input(shape=(units[0],))]
            stack += [layers.Dense(u, activation=act) for u in units[1:-1]]
            stack.append(layers.Dense(units[-1], activation=scenario["output"]))
            model = fastnn.Sequential(stack)
        opt = {"adam": fastnn.optimizers.Adam,
               "rmsprop": fastnn.optimizers.RMSprop}[scenario.get("optimizer", "adam")]
        model.compile(optimizer=opt(learning_rate=scenario["learning_rate"]),
                      loss=scenario["loss"])
    return model


def _fastnn_runner(scenario, x, y, backend_name, seed):
    """A callable training one epoch of the scenario's fastnn model on a backend."""
    model = _fastnn_model(scenario, backend_name, seed)
    inputs = _model_inputs(scenario, x)

    def run():
        with _using_backend(backend_name):
            model.fit(inputs, y, batch_size=scenario["batch_size"], epochs=1, verbose=0,
                      shuffle=True)

    return run


def _torch_model(scenario, seed):
    """The scenario's model as PyTorch users write it, returning logits.

    Returns:
        ``(module, loss_fn, output_fn)``: the output activation lives in the loss
        (``CrossEntropyLoss``, ``BCEWithLogitsLoss``) for training, and ``output_fn``
        applies it for inference.
    """
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
    tower = nn.Sequential(*mods)
    if scenario.get("model") == "wide_deep":
        class WideDeep(nn.Module):
            def __init__(self):
                super().__init__()
                self.wide = nn.Linear(units[0], scenario["wide_units"])
                self.deep = tower
                self.head = nn.Linear(scenario["wide_units"] + units[-1], 1)

            def forward(self, x_wide, x_deep):
                return self.head(torch.cat([self.wide(x_wide), self.deep(x_deep)], dim=1))

        model = WideDeep()
    else:
        model = tower
    if scenario["output"] == "softmax":
        return model, nn.CrossEntropyLoss(), lambda z: torch.softmax(z, dim=1)
    return model, nn.BCEWithLogitsLoss(), torch.sigmoid


def _torch_call(scenario, model, xb):
    return model(xb, xb) if scenario.get("model") == "wide_deep" else model(xb)


def _torch_runner(scenario, x, y, seed):
    """An idiomatic PyTorch eager loop: nn.Module, torch.optim, logits + fused loss."""
    torch = importlib.import_module("torch")
    model, loss_fn, _ = _torch_model(scenario, seed)
    # eps=1e-7 and RMSprop's alpha=0.9 match Keras' (and fastnn's) defaults.
    if scenario.get("optimizer", "adam") == "rmsprop":
        opt = torch.optim.RMSprop(model.parameters(), lr=scenario["learning_rate"], alpha=0.9,
                                  eps=1e-7)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=scenario["learning_rate"], eps=1e-7)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    n, bs = xt.shape[0], scenario["batch_size"]

    def run():
        perm = torch.randperm(n)
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(_torch_call(scenario, model, xt[idx]), yt[idx])
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

    def _forward(self, xb):
        """Every layer's output, input first; the last is the logits."""
        hs = [xb]
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            z = hs[-1] @ w
            z += b
            hs.append(self._act(z) if i < len(self.w) - 1 else z)
        return hs

    def predict(self, xb):
        """Probabilities: softmax or sigmoid of the logits."""
        z = self._forward(xb)[-1]
        if self.softmax:
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            return z
        return 1.0 / (1.0 + np.exp(-z))

    def step(self, xb, yb):
        hs = self._forward(xb)
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


def _sklearn_model(scenario, seed):
    nn = importlib.import_module("sklearn.neural_network")
    act = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "linear": "identity"}
    clf = nn.MLPClassifier(hidden_layer_sizes=tuple(scenario["layers"][1:-1]),
                           activation=act[scenario["hidden_activation"]], solver="adam",
                           learning_rate_init=scenario["learning_rate"],
                           batch_size=scenario["batch_size"], shuffle=True, random_state=seed)
    classes = np.arange(max(2, scenario["layers"][-1]))
    return clf, classes


def _sklearn_runner(scenario, x, y, seed):
    clf, classes = _sklearn_model(scenario, seed)
    labels = y.ravel().astype(np.int64)

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
    reason = _unsupported_reason(name, scenario)
    if reason:
        raise RuntimeError(reason)
    if name == "fastnn-native":
        return _fastnn_runner(scenario, x, y, "native", seed)
    if name == "fastnn-numpy":
        return _fastnn_runner(scenario, x, y, "numpy", seed)
    if name == "torch":
        return _torch_runner(scenario, x, y, seed)
    if name == "numpy-handwritten":
        return _numpy_runner(scenario, x, y, seed)
    return _sklearn_runner(scenario, x, y, seed)


def inference_scenario(scenario, batch_size, n_samples=None):
    """The inference counterpart of a training scenario: same model, new batch size.

    Args:
        scenario: A dict from ``mlp_scenario`` or ``wide_deep_scenario``.
        batch_size: Samples per call (a request of that many samples).
        n_samples: Samples in one timed run; defaults to the scenario's.

    Returns:
        A copy with ``task="inference"``, the new ``batch_size`` and ``n_samples``, and a
        name such as ``"784-500-500-10 relu infer b1"``.
    """
    base = scenario["name"].rsplit(" b", 1)[0]
    return dict(scenario, task="inference", batch_size=int(batch_size),
                n_samples=int(n_samples or scenario["n_samples"]),
                name=f"{base} infer b{int(batch_size)}")


def _chunks(a, size):
    # Sliced once, outside the timer: a served request arrives as its own array.
    return [a[i:i + size] for i in range(0, a.shape[0], size)]


def _make_inference_runner(name, scenario, x, y, seed):
    """One contender's inference over ``x``, one call per ``batch_size`` samples."""
    reason = _unsupported_reason(name, scenario)
    if reason:
        raise RuntimeError(reason)
    chunks = _chunks(x, scenario["batch_size"])
    if name in ("fastnn-native", "fastnn-numpy"):
        backend_name = "native" if name == "fastnn-native" else "numpy"
        model = _fastnn_model(scenario, backend_name, seed)
        inputs = [_model_inputs(scenario, c) for c in chunks]

        def run():
            # predict_on_batch: Keras' call for one batch, without predict()'s batching
            # loop and callbacks, which is what serving code uses.
            with _using_backend(backend_name):
                for xb in inputs:
                    model.predict_on_batch(xb)

        return run
    if name == "torch":
        torch = importlib.import_module("torch")
        model, _, output_fn = _torch_model(scenario, seed)
        model.eval()
        tensors = [torch.from_numpy(c) for c in chunks]

        def run():
            with torch.inference_mode():
                for xb in tensors:
                    output_fn(_torch_call(scenario, model, xb)).numpy()

        return run
    if name == "numpy-handwritten":
        net = _HandwrittenMLP(scenario, seed)

        def run():
            for xb in chunks:
                net.predict(xb)

        return run
    clf, classes = _sklearn_model(scenario, seed)
    # predict_proba needs a fitted model: one pass of training, outside the timer.
    clf.partial_fit(x, y.ravel().astype(np.int64), classes=classes)

    def run():
        for xb in chunks:
            clf.predict_proba(xb)

    return run


def inference_runner(name, scenario, seed=0):
    """One contender's inference of a scenario as a zero-argument callable.

    Each call predicts ``scenario["n_samples"]`` synthetic samples, one call of the
    contender per ``scenario["batch_size"]`` samples (``predict_on_batch`` for fastnn,
    the module under ``torch.inference_mode`` for PyTorch, ``predict_proba`` for
    scikit-learn).  The model is built (and for scikit-learn fitted) here, outside what
    a timer around the call measures.

    Args:
        name: One of ``CONTENDERS``.
        scenario: A dict from ``inference_scenario`` (or any scenario: its batch size
            is used as the inference batch).
        seed: Seeds the data and the initialisation.

    Returns:
        The callable.

    Raises:
        ValueError: For an unknown contender.
        RuntimeError: When the contender cannot run here or cannot express the model.
    """
    ok, reason = contender_status(name)
    if not ok:
        raise RuntimeError(f"{name} skipped: {reason}")
    x, y = _synthetic_data(scenario, seed)
    return _make_inference_runner(name, scenario, x, y, seed)


# --------------------------------------------------------------------------- timing
# OpenBLAS's idle threads keep spinning for about 0.12-0.15 s after a call (measured here:
# a native 2-thread GEMM started right after NumPy ran at 37 GFLOP/s, 0.15 s later at 68),
# so each timed run starts after the previous contender's threads have gone to sleep.
SETTLE_SECONDS = 0.2


def interleaved_times(runners, repeats=5, warmup=1, progress=None, settle_seconds=None):
    """Time callables in interleaved rounds with a rotating order.

    Args:
        runners: Dict name -> zero-argument callable (one timed unit of work each).
        repeats: Timed rounds; every runner runs once per round.
        warmup: Untimed rounds first (buffer allocation, caches, thread pools start).
        progress: Optional callable taking one status string.
        settle_seconds: Pause before each run, so that threads still spinning from the
            previous contender do not steal cores from this one; None reads the module's
            ``SETTLE_SECONDS`` (which ``fastnn bench`` sets per preset).

    Returns:
        Dict name -> list of seconds, one per timed round.
    """
    names = list(runners)
    times = {name: [] for name in names}
    if settle_seconds is None:
        settle_seconds = SETTLE_SECONDS
    for r in range(warmup + repeats):
        # Rotating the start means no contender always runs right after the same other
        # one (whose spinning threads or dirty caches it would always inherit).
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            if progress is not None:
                phase = "warm-up" if r < warmup else f"round {r - warmup + 1}/{repeats}"
                progress(f"{phase}: {name}")
            if settle_seconds:
                time.sleep(settle_seconds)
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
                       seed=0, peak_gflops=None, progress=None, min_seconds=None):
    """Train one scenario's model with every contender, interleaved, and summarize.

    Args:
        scenario: A dict from ``mlp_scenario`` or ``wide_deep_scenario``.
        contenders: Names from ``CONTENDERS``; defaults to ``DEFAULT_CONTENDERS``.
        threads: Threads for every contender; defaults to ``fastnn.get_num_threads()``.
        repeats: Timed rounds.
        warmup: Untimed rounds first.
        seed: Seeds the data and every contender's initialisation and shuffling.
        peak_gflops: The CPU's FMA peak at ``threads`` (see ``measure_fma_peak``); when
            given, each contender gets ``fraction_of_peak``.
        progress: Optional callable taking one status string.
        min_seconds: When given, each timed sample repeats a contender's run (one epoch
            over ``n_samples``) until it lasts at least this long, counted once on a
            first, untimed run.  Keeps ``n_samples`` small for slow contenders while
            fast ones are not timed over a few milliseconds.

    Returns:
        A dict: ``scenario``, ``threads``, ``repeats``, ``warmup``, ``thread_control``
        (from ``thread_limits``), ``peak_gflops`` and ``results``, a dict by contender
        name.  A result is ``{"status": "skipped", "reason": ...}`` or ``{"status": "ok",
        "seconds": [...], "runs_per_sample", "samples_per_s": {median, min, max,
        spread}, "gflops", "fraction_of_peak", "vs_fastnn_numpy", "vs_torch"}``;
        ``seconds`` are per run, one per round; the ratios compare median samples/s and
        are None when the reference did not run.  A contender that raised is
        ``{"status": "error", "reason": ...}``.
    """
    return _compare(scenario, _make_runner, scenario.get("flops_per_sample"), contenders,
                    threads, repeats, warmup, seed, peak_gflops, progress, min_seconds)


def benchmark_inference(scenario, contenders=None, threads=None, repeats=5, warmup=1,
                        seed=0, peak_gflops=None, progress=None, min_seconds=None):
    """Predict with one scenario's model by every contender, interleaved, and summarize.

    Args:
        scenario: A dict from ``inference_scenario``: its ``batch_size`` is the number
            of samples per call, its ``n_samples`` the samples per timed run.
        contenders, threads, repeats, warmup, seed, peak_gflops, progress,
            min_seconds: As for ``benchmark_training``.

    Returns:
        The same structure as ``benchmark_training``; ``gflops`` counts the forward
        products only (``forward_flops_per_sample``).
    """
    return _compare(scenario, _make_inference_runner,
                    scenario.get("forward_flops_per_sample"), contenders, threads, repeats,
                    warmup, seed, peak_gflops, progress, min_seconds)


def _compare(scenario, make_runner, flops, contenders, threads, repeats, warmup, seed,
             peak_gflops, progress, min_seconds=None):
    """Build every contender's runner, time them interleaved, and summarize."""
    from . import threads as _threads

    names = list(DEFAULT_CONTENDERS if contenders is None else contenders)
    for name in names:
        contender_status(name)  # raises on an unknown name before any work
    threads = _threads.get_num_threads() if threads is None else int(threads)
    results = {}
    ready = []
    for name in names:
        ok, reason = contender_status(name)
        reason = reason or _unsupported_reason(name, scenario)
        if ok and not reason:
            ready.append(name)
        else:
            results[name] = {"status": "skipped", "reason": reason}
    x, y = _synthetic_data(scenario, seed)
    if "torch" in ready:
        _optional_import("torch")  # imported before thread_limits, so that it is limited too
    runs = {}
    with thread_limits(threads) as control:
        runners = {}
        for name in ready:
            try:
                run = make_runner(name, scenario, x, y, seed)
                runs[name] = _calls_for(run, min_seconds) if min_seconds else 1
                runners[name] = _guarded(
                    name, run if runs[name] == 1 else
                    (lambda run=run, k=runs[name]: [run() for _ in range(k)]), results)
            except Exception as exc:  # one broken contender must not sink the others
                results[name] = _error_entry(exc)
        times = interleaved_times(runners, repeats=repeats, warmup=warmup, progress=progress)
    n = scenario["n_samples"]
    for name, secs in times.items():
        if name in results:  # it raised during a round: already an error entry
            continue
        secs = [s / runs[name] for s in secs]
        sps = summarize([n / s for s in secs])
        entry = {"status": "ok", "seconds": secs, "runs_per_sample": runs[name],
                 "samples_per_s": sps}
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
    from . import threads as _threads

    threads = _threads.get_num_threads() if threads is None else int(threads)
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


def best_fma_peaks(thread_counts, size=2048, previous=None):
    """The FMA peak at each thread count, keeping the best of this and an earlier measure.

    Other work on a shared machine only ever lowers a measured peak, and a low
    denominator inflates "fraction of peak"; so a run measures before and after its
    benchmarks and keeps the higher value.

    Args:
        thread_counts: Thread counts to measure at.
        size: Passed to ``measure_fma_peak`` (used by the matmul proxy only).
        previous: An earlier result of this function, or None.

    Returns:
        Dict thread count -> the ``measure_fma_peak`` dict, plus ``samples``: every
        GFLOP/s measured so far at that count (``gflops`` is their maximum).
    """
    peaks = {}
    for t in thread_counts:
        peak = measure_fma_peak(t, size=size)
        samples = list((previous or {}).get(t, {}).get("samples", [])) + [peak["gflops"]]
        peak["samples"] = samples
        peak["gflops"] = max(samples)
        peaks[t] = peak
    return peaks


def scaling_thread_counts(max_threads):
    """1, 2, 4, ... up to and including ``max_threads``: the thread-scaling points."""
    counts, t = [], 1
    while t < max_threads:
        counts.append(t)
        t *= 2
    return counts + [int(max_threads)]


# --------------------------------------------------------------------------- gemm
#: The GEMM contenders: fastnn's backends' ``matmul`` (the NumPy backend's is
#: ``numpy.matmul``, i.e. NumPy's BLAS).
GEMM_CONTENDERS = ("fastnn-native", "fastnn-numpy")

#: The seeds' MLP, whose Dense layers give the "MLP shapes" of the GEMM benchmark.
SEED_MLP = (784, 500, 500, 10)


def gemm_shapes(squares=(512, 1024, 2048), layers=SEED_MLP, batch_sizes=(32, 128, 256)):
    """The products benchmarked: squares, and the three products of each Dense layer.

    A Dense layer ``fan_in -> units`` at batch ``b`` runs the forward ``x @ w``
    (b x units x fan_in), the weight gradient ``x.T @ dz`` (fan_in x units x b) and the
    input gradient ``dz @ w.T`` (b x fan_in x units); the transposes are taken by
    strides, as the layers do.

    Args:
        squares: Sides of square products.
        layers: Units per layer of the MLP, input first.
        batch_sizes: Batch sizes of the MLP products.

    Returns:
        A list of dicts with ``name``, ``m``, ``n``, ``k``, ``transpose_a``,
        ``transpose_b``.
    """
    def shape(name, m, n, k, ta=False, tb=False):
        return {"name": name, "m": m, "n": n, "k": k, "transpose_a": ta, "transpose_b": tb}

    shapes = [shape(f"square {s}", s, s, s) for s in squares]
    for b in batch_sizes:
        for fan_in, units in zip(layers[:-1], layers[1:]):
            tag = f"b{b} {fan_in}x{units}"
            shapes.append(shape(f"{tag} x@w", b, units, fan_in))
            shapes.append(shape(f"{tag} x.T@dz", fan_in, units, b, ta=True))
            shapes.append(shape(f"{tag} dz@w.T", b, fan_in, units, tb=True))
    return shapes


def gemm_runner(name, shape, dtype="float32", seed=0):
    """One product of ``shape`` through a backend's ``matmul``, as a callable.

    Operands and the output are allocated here; each call writes into the same ``out``,
    as the layers' preallocated buffers are.

    Args:
        name: One of ``GEMM_CONTENDERS``.
        shape: A dict from ``gemm_shapes``.
        dtype: ``"float32"`` or ``"float64"``.
        seed: Seeds the operands.

    Returns:
        The callable.

    Raises:
        ValueError: For an unknown contender.
        RuntimeError: When the native extension is missing.
    """
    from . import backend

    if name not in GEMM_CONTENDERS:
        raise ValueError(f"Unknown GEMM contender {name!r}; expected one of {GEMM_CONTENDERS}")
    ok, reason = contender_status(name)
    if not ok:
        raise RuntimeError(f"{name} skipped: {reason}")
    ops = backend.get("native" if name == "fastnn-native" else "numpy")
    m, n, k = shape["m"], shape["n"], shape["k"]
    ta, tb = shape["transpose_a"], shape["transpose_b"]
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    out = np.empty((m, n), dtype=dtype)
    return lambda: ops.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out)


def _calls_for(fn, min_seconds):
    """How many calls of ``fn`` make one timed sample of at least ``min_seconds``.

    Small products take microseconds: timing one call would measure the timer.
    """
    t = _timed(fn)
    return max(1, int(min_seconds / max(t, 1e-7)) + 1)


def benchmark_gemm(shape, contenders=None, threads=None, dtype="float32", repeats=5,
                   warmup=1, min_seconds=0.02, peak_gflops=None, progress=None):
    """GFLOP/s of one product by each GEMM contender, interleaved, and summarize.

    Each timed sample is a batch of calls lasting at least ``min_seconds``; samples of
    the contenders alternate in rotating order (see ``interleaved_times``).

    Args:
        shape: A dict from ``gemm_shapes``.
        contenders: Names from ``GEMM_CONTENDERS``; defaults to all of them.
        threads: Threads; defaults to ``fastnn.get_num_threads()``.
        dtype: ``"float32"`` or ``"float64"``.
        repeats: Timed samples per contender.
        warmup: Untimed rounds first.
        min_seconds: Least duration of one sample.
        peak_gflops: The FMA peak at ``threads``; gives ``fraction_of_peak``.
        progress: Optional callable taking one status string.

    Returns:
        A dict: ``shape``, ``dtype``, ``flops`` (2mnk), ``threads``, ``repeats``,
        ``warmup``, ``thread_control``, ``peak_gflops`` and ``results`` by contender:
        ``{"status": "ok", "calls_per_sample", "seconds" (per call, one per sample),
        "gflops": {median, min, max, spread}, "fraction_of_peak", "vs_fastnn_numpy"}``
        or ``{"status": "skipped" | "error", "reason"}``.
    """
    from . import threads as _threads

    names = list(GEMM_CONTENDERS if contenders is None else contenders)
    for name in names:
        if name not in GEMM_CONTENDERS:
            raise ValueError(f"Unknown GEMM contender {name!r}; expected one of "
                             f"{GEMM_CONTENDERS}")
    threads = _threads.get_num_threads() if threads is None else int(threads)
    flops = 2.0 * shape["m"] * shape["n"] * shape["k"]
    results, runners, calls = {}, {}, {}
    with thread_limits(threads) as control:
        for name in names:
            ok, reason = contender_status(name)
            if not ok:
                results[name] = {"status": "skipped", "reason": reason}
                continue
            try:
                fn = gemm_runner(name, shape, dtype)
                fn()  # packing buffers are allocated and BLAS threads start on first use
                calls[name] = _calls_for(fn, min_seconds)
            except Exception as exc:
                results[name] = _error_entry(exc)
                continue
            runners[name] = _guarded(
                name, lambda fn=fn, c=calls[name]: [fn() for _ in range(c)], results)
        times = interleaved_times(runners, repeats=repeats, warmup=warmup, progress=progress)
    for name, secs in times.items():
        if name in results:
            continue
        per_call = [t / calls[name] for t in secs]
        gflops = summarize([flops / t / 1e9 for t in per_call])
        results[name] = {"status": "ok", "calls_per_sample": calls[name], "seconds": per_call,
                         "gflops": gflops,
                         "fraction_of_peak": (gflops["median"] / peak_gflops
                                              if peak_gflops else None)}
    ref = results.get("fastnn-numpy", {})
    for entry in results.values():
        if entry["status"] == "ok":
            entry["vs_fastnn_numpy"] = (entry["gflops"]["median"] / ref["gflops"]["median"]
                                        if ref.get("status") == "ok" else None)
    return {"shape": dict(shape), "dtype": dtype, "flops": flops, "threads": threads,
            "repeats": repeats, "warmup": warmup, "thread_control": control,
            "peak_gflops": peak_gflops, "results": {name: results[name] for name in names}}


# --------------------------------------------------------------------------- progress
def progress_printer(stream=None):
    """A one-line status printer for long runs.

    On a terminal it rewrites one line; otherwise (a log file, a pipe) it prints a line
    per status, so logs stay readable.

    Args:
        stream: A text stream; defaults to ``sys.stderr``, keeping stdout for results.

    Returns:
        ``(show, done)``: ``show(msg)`` displays a status, ``done()`` clears the line.
    """
    stream = sys.stderr if stream is None else stream
    tty = hasattr(stream, "isatty") and stream.isatty()

    def show(msg):
        stream.write(("\r\033[K" + msg) if tty else (msg + "\n"))
        stream.flush()

    def done():
        if tty:
            stream.write("\r\033[K")
            stream.flush()

    return show, done


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
        ``simd_kernel`` (the GEMM micro-kernel fastnn dispatched to, None without the
        native extension), ``fastnn_config`` (``fastnn.info.config_dict()``),
        ``versions`` (python, fastnn, numpy, torch, scikit-learn, threadpoolctl,
        matplotlib; None when absent), ``blas_thread_control`` and ``thread_settings``
        (fastnn's thread count, torch's when it is imported, and the environment
        variables that change threading: ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``...).
    """
    from . import __version__
    from .info import config_dict
    from .threads import get_num_threads, usable_cores

    threadpoolctl = _optional_import("threadpoolctl")
    blas = "threadpoolctl" if threadpoolctl is not None else (
        "openblas-ctypes" if _openblas_handles() else "uncontrolled")
    config = config_dict()
    torch = sys.modules.get("torch")
    env_names = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OMP_PROC_BIND", "GOMP_SPINCOUNT",
                 "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "FASTNN_BACKEND",
                 "FASTNN_DISABLE_SIMD")
    return {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "simd_kernel": config.get("simd_kernel"),
        "fastnn_config": config,
        "versions": {
            "python": sys.version.split()[0],
            "fastnn": __version__,
            "numpy": np.__version__,
            "torch": _version("torch"),
            "scikit-learn": _version("scikit-learn"),
            "threadpoolctl": _version("threadpoolctl"),
            "matplotlib": _version("matplotlib"),
        },
        "blas_thread_control": blas,
        "thread_settings": {
            "fastnn_num_threads": get_num_threads(),
            "fastnn_openmp": config.get("openmp"),
            "torch_num_threads": torch.get_num_threads() if torch is not None else None,
            "environment": {name: os.environ.get(name) for name in env_names},
        },
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
