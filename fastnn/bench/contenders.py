"""The contenders: how each one builds the benchmarked model and runs it.

- ``fastnn-native`` and ``fastnn-numpy``: fastnn's two backends through the public
  Keras-style API (``Sequential``, ``compile``, ``fit(epochs=1, verbose=0, shuffle=True)``,
  ``predict_on_batch``);
- ``torch``: PyTorch CPU eager with an idiomatic loop (skipped when not importable);
- ``numpy-handwritten``: a compact hand-written NumPy training loop with Adam, the
  baseline the project's performance targets quote;
- ``sklearn``: scikit-learn's ``MLPClassifier.partial_fit`` (skipped when not importable).

Every contender trains on the same synthetic data with the same batch size, the same
optimizer (Adam, or RMSprop for Wide&Deep as in the seed) with the same learning rate.
A contender that cannot express a model (the hand-written loop and scikit-learn take one
input, so not Wide&Deep) says why in ``unsupported_reason``.  A *runner* is a
zero-argument callable doing one timed unit of work; everything it needs (model,
optimizer, data) is built before, outside what a timer around it measures.  Threads are
whatever is in force when it runs (see ``fastnn.bench.threads.thread_limits``).
"""

import importlib

import numpy as np

import fastnn

from .. import __version__, backend, layers
from . import optional
from .scenarios import model_inputs, synthetic_data

#: Every contender this package knows, in the order tables list them.
CONTENDERS = ("fastnn-native", "fastnn-numpy", "torch", "numpy-handwritten", "sklearn")

#: Contenders run when the caller names none (sklearn is slow and optional).
DEFAULT_CONTENDERS = ("fastnn-native", "fastnn-numpy", "torch", "numpy-handwritten")

#: The GEMM contenders: fastnn's backends' ``matmul`` (the NumPy backend's is
#: ``numpy.matmul``, i.e. NumPy's BLAS).
GEMM_CONTENDERS = ("fastnn-native", "fastnn-numpy")

#: The fastnn backend each fastnn contender runs on.
_FASTNN_BACKENDS = {"fastnn-native": "native", "fastnn-numpy": "numpy"}


# --------------------------------------------------------------------------- availability
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
        if not backend.native_available():
            return False, "fastnn's native extension is not built or not importable"
    elif name == "torch":
        if optional.load("torch") is None:
            return False, "PyTorch is not installed (pip install torch)"
    elif name == "sklearn":
        if optional.load("sklearn.neural_network") is None:
            return False, "scikit-learn is not installed (pip install scikit-learn)"
    return True, ""


def unsupported_reason(name, scenario):
    """Why a contender cannot express a scenario's model, or "" when it can."""
    if scenario.get("model") == "wide_deep":
        if name == "numpy-handwritten":
            return "the hand-written NumPy loop is a plain MLP; it has no two-input model"
        if name == "sklearn":
            return "MLPClassifier takes one input; a two-input Wide&Deep model cannot be expressed"
    return ""


def contender_table(names):
    """Which contenders run here, with the reason for each one that does not.

    Args:
        names: Contender names.

    Returns:
        Dict name -> ``{"status": "ok" | "skipped", "reason", "version"}``.
    """
    dists = {"torch": "torch", "sklearn": "scikit-learn", "numpy-handwritten": "numpy"}
    out = {}
    for name in names:
        ok, reason = contender_status(name)
        version = __version__ if name.startswith("fastnn") else optional.version(dists[name])
        out[name] = {"status": "ok" if ok else "skipped", "reason": reason,
                     "version": version if ok else None}
    return out


# --------------------------------------------------------------------------- fastnn
def _fastnn_model(scenario, backend_name, seed):
    """The scenario's model, built and compiled with fastnn's public API on a backend."""
    with backend.using(backend_name):
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


def _fastnn_train(scenario, x, y, backend_name, seed):
    """A callable training one epoch of the scenario's fastnn model on a backend."""
    model = _fastnn_model(scenario, backend_name, seed)
    inputs = model_inputs(scenario, x)

    def run():
        with backend.using(backend_name):
            model.fit(inputs, y, batch_size=scenario["batch_size"], epochs=1, verbose=0,
                      shuffle=True)

    return run


# --------------------------------------------------------------------------- torch
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


def _torch_train(scenario, x, y, seed):
    """An idiomatic PyTorch eager loop: nn.Module, torch.optim, logits + fused loss."""
    torch = importlib.import_module("torch")
    model, loss_fn, _ = _torch_model(scenario, seed)
    # eps=1e-7 and RMSprop's alpha=0.9 match Keras' (and fastnn's) defaults.
    if scenario.get("optimizer", "adam") == "rmsprop":
        opt = torch.optim.RMSprop(model.parameters(), lr=scenario["learning_rate"], alpha=0.9,
                                  eps=1e-7)
    else:
        # fused=True: PyTorch's fastest CPU Adam (one kernel over every parameter), the
        # strongest contender, as fastnn's own update is fused.
        opt = _torch_adam(torch, model.parameters(), scenario["learning_rate"])
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


def _torch_adam(torch, parameters, lr):
    """``torch.optim.Adam(fused=True)``, or the default implementation on a PyTorch too
    old to fuse on the CPU."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, eps=1e-7, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(parameters, lr=lr, eps=1e-7)


# --------------------------------------------------------------------------- numpy-handwritten
class _HandwrittenMLP:
    """A careful NumPy MLP with Adam: what a user who knows NumPy would write.

    Activation derivatives come from the layer outputs, the loss gradient from the
    fused softmax/sigmoid + cross-entropy, and the Adam moments are updated in place.
    Every array a step writes (layer outputs, gradients, Adam's scratch) is allocated
    once per batch size and reused through ``out=``: each step allocating ~1.5 MB
    temporaries instead made glibc hand them back to the kernel and page-fault them in
    again, which cost this loop 1.5x in a fresh process on a 2-core Zen 5 VM (505,000
    minor faults for one epoch of 8,192 samples at batch 128), and made its speed depend
    on what else the process had allocated before.
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
        self.grads = [np.empty_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]
        self.t = 0
        self.lr, self.b1, self.b2, self.eps = scenario["learning_rate"], 0.9, 0.999, 1e-7
        self.hidden = scenario["hidden_activation"]
        self.softmax = scenario["output"] == "softmax"
        self._batch_buffers = {}

    def _buffers(self, rows):
        """Per batch size: each layer's output and each hidden layer's input gradient."""
        buf = self._batch_buffers.get(rows)
        if buf is None:
            outs = [np.empty((rows, w.shape[1]), np.float32) for w in self.w]
            dhs = [np.empty((rows, w.shape[0]), np.float32) for w in self.w[1:]]
            mask = [np.empty((rows, w.shape[0]), bool) for w in self.w[1:]]
            buf = self._batch_buffers[rows] = (outs, dhs, mask)
        return buf

    def _act(self, z):
        if self.hidden == "relu":
            return np.maximum(z, 0, out=z)
        if self.hidden == "tanh":
            return np.tanh(z, out=z)
        if self.hidden == "sigmoid":
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1.0
            return np.reciprocal(z, out=z)
        return z

    def _act_grad(self, h, dh, mask):
        if self.hidden == "relu":
            np.greater(h, 0, out=mask)
            dh *= mask
        elif self.hidden == "tanh":
            dh *= 1.0 - h * h
        elif self.hidden == "sigmoid":
            dh *= h * (1.0 - h)
        return dh

    def _forward(self, xb):
        """Every layer's output, input first; the last is the logits."""
        outs = self._buffers(xb.shape[0])[0]
        hs = [xb]
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            z = np.matmul(hs[-1], w, out=outs[i])
            z += b
            hs.append(self._act(z) if i < len(self.w) - 1 else z)
        return hs

    def _probabilities(self, z):
        """Softmax or sigmoid of the logits ``z``, in place."""
        if self.softmax:
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            return z
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1.0
        return np.reciprocal(z, out=z)

    def predict(self, xb):
        """Probabilities: softmax or sigmoid of the logits (a fresh array)."""
        return self._probabilities(self._forward(xb)[-1]).copy()

    def step(self, xb, yb):
        hs = self._forward(xb)
        _, dhs, masks = self._buffers(xb.shape[0])
        m = xb.shape[0]
        dz = self._probabilities(hs[-1])
        if self.softmax:
            dz[np.arange(m), yb] -= 1.0  # d(CE)/d(logits) = p - onehot
        else:
            dz -= yb
        dz *= np.float32(1.0 / m)
        grads = self.grads
        for i in range(len(self.w) - 1, -1, -1):
            np.matmul(hs[i].T, dz, out=grads[2 * i])
            np.sum(dz, axis=0, out=grads[2 * i + 1])
            if i:
                dh = np.matmul(dz, self.w[i].T, out=dhs[i - 1])
                dz = self._act_grad(hs[i], dh, masks[i - 1])
        self.t += 1
        lr_t = np.float32(self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t))
        b1, b2 = np.float32(self.b1), np.float32(self.b2)
        for p, g, mm, vv, s in zip(self.params, grads, self.m, self.v, self.scratch):
            mm *= b1
            np.multiply(g, 1 - b1, out=s)
            mm += s
            vv *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            vv += s
            np.sqrt(vv, out=s)
            s += np.float32(self.eps)
            np.divide(mm, s, out=s)
            s *= lr_t
            p -= s


def _numpy_train(scenario, x, y, seed):
    net = _HandwrittenMLP(scenario, seed)
    rng = np.random.default_rng(seed)
    bs = scenario["batch_size"]
    batches = {}  # the gathered batch, one buffer per batch size

    def run():
        order = rng.permutation(x.shape[0])
        for start in range(0, x.shape[0], bs):
            idx = order[start:start + bs]
            xb = batches.get(len(idx))
            if xb is None:
                xb = batches[len(idx)] = np.empty((len(idx),) + x.shape[1:], x.dtype)
            net.step(x.take(idx, axis=0, out=xb), y.take(idx, axis=0))

    return run


# --------------------------------------------------------------------------- sklearn
def _sklearn_model(scenario, seed):
    nn = importlib.import_module("sklearn.neural_network")
    act = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "linear": "identity"}
    clf = nn.MLPClassifier(hidden_layer_sizes=tuple(scenario["layers"][1:-1]),
                           activation=act[scenario["hidden_activation"]], solver="adam",
                           learning_rate_init=scenario["learning_rate"],
                           batch_size=scenario["batch_size"], shuffle=True, random_state=seed)
    classes = np.arange(max(2, scenario["layers"][-1]))
    return clf, classes


def _sklearn_train(scenario, x, y, seed):
    clf, classes = _sklearn_model(scenario, seed)
    labels = y.ravel().astype(np.int64)

    def run():
        # partial_fit makes one pass over the data in shuffled mini-batches.
        clf.partial_fit(x, labels, classes=classes)

    return run


# --------------------------------------------------------------------------- inference
def _chunks(a, size):
    # Sliced once, outside the timer: a served request arrives as its own array.
    return [a[i:i + size] for i in range(0, a.shape[0], size)]


def _fastnn_predict(scenario, chunks, backend_name, seed):
    model = _fastnn_model(scenario, backend_name, seed)
    inputs = [model_inputs(scenario, c) for c in chunks]

    def run():
        # predict_on_batch: Keras' call for one batch, without predict()'s batching
        # loop and callbacks, which is what serving code uses.
        with backend.using(backend_name):
            for xb in inputs:
                model.predict_on_batch(xb)

    return run


def _torch_predict(scenario, chunks, seed):
    torch = importlib.import_module("torch")
    model, _, output_fn = _torch_model(scenario, seed)
    model.eval()
    tensors = [torch.from_numpy(c) for c in chunks]

    def run():
        with torch.inference_mode():
            for xb in tensors:
                output_fn(_torch_call(scenario, model, xb)).numpy()

    return run


def _numpy_predict(scenario, chunks, seed):
    net = _HandwrittenMLP(scenario, seed)

    def run():
        for xb in chunks:
            net.predict(xb)

    return run


def _sklearn_predict(scenario, chunks, x, y, seed):
    clf, classes = _sklearn_model(scenario, seed)
    # predict_proba needs a fitted model: one pass of training, outside the timer.
    clf.partial_fit(x, y.ravel().astype(np.int64), classes=classes)

    def run():
        for xb in chunks:
            clf.predict_proba(xb)

    return run


# --------------------------------------------------------------------------- runners
def _check_runs_here(name):
    ok, reason = contender_status(name)
    if not ok:
        raise RuntimeError(f"{name} skipped: {reason}")


def _check_expressible(name, scenario):
    reason = unsupported_reason(name, scenario)
    if reason:
        raise RuntimeError(reason)


def make_training_runner(name, scenario, x, y, seed):
    """One contender's training of a scenario on given data, one epoch per call.

    Args:
        name: One of ``CONTENDERS``, one that can run here.
        scenario: A dict from ``mlp_scenario`` or ``wide_deep_scenario``.
        x, y: The data, from ``fastnn.bench.scenarios.synthetic_data``.
        seed: Seeds the initialisation and the shuffling.

    Returns:
        The callable.

    Raises:
        RuntimeError: When the contender cannot express the model.
    """
    _check_expressible(name, scenario)
    if name in _FASTNN_BACKENDS:
        return _fastnn_train(scenario, x, y, _FASTNN_BACKENDS[name], seed)
    train = {"torch": _torch_train, "numpy-handwritten": _numpy_train,
             "sklearn": _sklearn_train}[name]
    return train(scenario, x, y, seed)


def make_inference_runner(name, scenario, x, y, seed):
    """One contender's inference over ``x``, one call per ``scenario["batch_size"]`` samples.

    Args:
        name: One of ``CONTENDERS``, one that can run here.
        scenario: Any scenario; its batch size is the samples per call.
        x, y: The data (``y`` fits scikit-learn's model before it can predict).
        seed: Seeds the initialisation.

    Returns:
        The callable.

    Raises:
        RuntimeError: When the contender cannot express the model.
    """
    _check_expressible(name, scenario)
    chunks = _chunks(x, scenario["batch_size"])
    if name in _FASTNN_BACKENDS:
        return _fastnn_predict(scenario, chunks, _FASTNN_BACKENDS[name], seed)
    if name == "sklearn":
        return _sklearn_predict(scenario, chunks, x, y, seed)
    predict = {"torch": _torch_predict, "numpy-handwritten": _numpy_predict}[name]
    return predict(scenario, chunks, seed)


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
    _check_runs_here(name)
    x, y = synthetic_data(scenario, seed)
    return make_training_runner(name, scenario, x, y, seed)


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
    _check_runs_here(name)
    x, y = synthetic_data(scenario, seed)
    return make_inference_runner(name, scenario, x, y, seed)


# --------------------------------------------------------------------------- gemm
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
    if name not in GEMM_CONTENDERS:
        raise ValueError(f"Unknown GEMM contender {name!r}; expected one of {GEMM_CONTENDERS}")
    _check_runs_here(name)
    ops = backend.get(_FASTNN_BACKENDS[name])
    m, n, k = shape["m"], shape["n"], shape["k"]
    ta, tb = shape["transpose_a"], shape["transpose_b"]
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    out = np.empty((m, n), dtype=dtype)
    return lambda: ops.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out)
