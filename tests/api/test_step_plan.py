"""The step plan (fastnn/models/step_plan.py) against the ordinary training step.

Every test trains two models built alike: one as fit runs it (the plan records the
first step at each batch size and replays the others) and one with plans and the
gathered shuffle buffers turned off (the path as it was before plans).  Weights,
optimizer state and logs must agree bit for bit, and the first model must actually
have replayed plans, so that a plan never built cannot pass.
"""

import numpy as np
import pytest

import fastnn
from fastnn import backend, callbacks, layers, optimizers
from fastnn.models import step_plan, trainer
from numthreads import num_threads

pytestmark = pytest.mark.skipif(not backend.native_available(),
                                reason="the step plan replays native kernels")

N, D = 203, 12  # 203 rows: a partial last batch at every batch size used here


def _model(seed, dtype, hidden="relu", out="sigmoid", units=1, loss="binary_crossentropy",
           opt="adam", metrics=None, weighted_metrics=None, extra=None, loss_weights=None):
    fastnn.config.set_floatx(dtype)
    fastnn.utils.set_random_seed(seed)
    stack = [layers.Input(shape=(D,)), layers.Dense(9, activation=hidden),
             layers.Dense(5, activation=hidden, use_bias=False)]
    stack += [make() for make in extra or ()]  # new layers for each model
    stack.append(layers.Dense(units, activation=out))
    model = fastnn.Sequential(stack)
    model.compile(optimizer=optimizers.get(opt) if isinstance(opt, str) else opt,
                  loss=loss, metrics=metrics, weighted_metrics=weighted_metrics,
                  loss_weights=loss_weights)
    return model


def _data(dtype, kind="binary", units=1):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, D)).astype(dtype)
    if kind == "binary":
        y = rng.integers(0, 2, (N, 1)).astype(dtype)
    elif kind == "sparse":
        y = rng.integers(0, units, N)
    elif kind == "onehot":
        y = np.eye(units, dtype=dtype)[rng.integers(0, units, N)]
    else:
        y = rng.standard_normal((N, units)).astype(dtype)
    return x, y


class _NoPlanBatches(trainer._Batches):
    def __init__(self, xs, ys, sw, batch_size, order, gather=None):
        super().__init__(xs, ys, sw, batch_size, order, None)


def _without_plans(monkeypatch):
    """Turn off plans and the gathered shuffle buffers (for the reference model)."""
    monkeypatch.setattr(step_plan, "build", lambda *args: None)
    monkeypatch.setattr(trainer, "_Batches", _NoPlanBatches)


def _same_state(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.dtype == wb.dtype
        np.testing.assert_array_equal(wa, wb)
    sa, sb = a.optimizer.get_state(), b.optimizer.get_state()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(np.asarray(sa[k]), np.asarray(sb[k]))


def _replayed(model):
    plans = [p for p in model._step_plans.values() if isinstance(p, step_plan.StepPlan)]
    return len(plans)


def _pair(monkeypatch, make, train):
    """Train ``make()`` with ``train(model)`` twice: without plans, then with them."""
    with monkeypatch.context() as m:
        _without_plans(m)
        ref = make()
        ref_out = train(ref)
        assert not _replayed(ref)
    model = make()
    out = train(model)
    return ref, ref_out, model, out


OPTIMIZERS = [
    "adam", "sgd", "rmsprop", "adagrad",
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.05, amsgrad=True),
    lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adam(0.01, clipnorm=0.5),
    lambda: optimizers.Adam(0.01, global_clipnorm=0.1),
    lambda: optimizers.SGD(0.1, clipvalue=0.01),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("opt", range(len(OPTIMIZERS)))
def test_every_optimizer_bit_identical(monkeypatch, dtype, threads, opt):
    spec = OPTIMIZERS[opt]
    x, y = _data(dtype)

    def make():
        return _model(1, dtype, opt=spec if isinstance(spec, str) else spec())

    def train(model):
        with num_threads(threads):
            return model.fit(x, y, batch_size=32, epochs=3, verbose=0).history

    ref, ref_hist, model, hist = _pair(monkeypatch, make, train)
    assert _replayed(model) == 2  # batch 32 and the last batch of 11
    assert hist == ref_hist
    _same_state(ref, model)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ["sparse_softmax", "onehot_softmax", "mse_linear",
                                  "mse_tanh_sigmoid", "metrics", "weighted",
                                  "sample_weight", "class_weight", "loss_weight",
                                  "no_shuffle"])
def test_losses_metrics_and_weights_bit_identical(monkeypatch, dtype, case):
    kind, units, out, loss, hidden = "binary", 1, "sigmoid", "binary_crossentropy", "relu"
    if case == "sparse_softmax":
        kind, units, out, loss = "sparse", 4, "softmax", "sparse_categorical_crossentropy"
    elif case == "onehot_softmax":
        kind, units, out, loss = "onehot", 4, "softmax", "categorical_crossentropy"
    elif case == "mse_linear":
        kind, units, out, loss = "real", 3, None, "mse"
    elif case == "mse_tanh_sigmoid":
        kind, units, out, loss, hidden = "real", 2, "sigmoid", "mse", "tanh"
    x, y = _data(dtype, kind, units)
    w = np.random.default_rng(5).uniform(0.1, 2.0, N).astype(dtype)
    kwargs = {}
    if case == "sample_weight":
        kwargs["sample_weight"] = w
    if case == "class_weight":
        kwargs["class_weight"] = {0: 0.3, 1: 2.0}
    metrics = ["accuracy", "mse"] if case in ("metrics", "weighted") else None
    weighted = ["accuracy"] if case == "weighted" else None

    def make():
        return _model(2, dtype, hidden=hidden, out=out, units=units, loss=loss,
                      metrics=metrics, weighted_metrics=weighted,
                      loss_weights=[0.7] if case == "loss_weight" else None)

    def train(model):
        sw = w if case == "weighted" else kwargs.get("sample_weight")
        rest = {k: v for k, v in kwargs.items() if k != "sample_weight"}
        return model.fit(x, y, batch_size=16, epochs=2, verbose=0, sample_weight=sw,
                         shuffle=case != "no_shuffle", **rest).history

    ref, ref_hist, model, hist = _pair(monkeypatch, make, train)
    assert _replayed(model) == 2
    assert hist == ref_hist
    _same_state(ref, model)


class _BatchLogs(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(dict(logs))


def test_batch_logs_and_epoch_logs_unchanged(monkeypatch):
    """With a callback reading batch logs they are made and passed as before; without
    one the epoch logs (made once) equal those of the run that made them per batch."""
    x, y = _data("float32")

    def train(model):
        cb = _BatchLogs()
        hist = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cb],
                         validation_split=0.2).history
        return hist, cb.seen

    ref, (ref_hist, ref_seen), model, (hist, seen) = _pair(
        monkeypatch, lambda: _model(4, "float32", metrics=["accuracy"]), train)
    assert seen == ref_seen and len(seen) == 12
    assert hist == ref_hist
    quiet = _model(4, "float32", metrics=["accuracy"])
    assert not trainer._needs_batch_hooks(callbacks.CallbackList([], add_history=True))
    assert quiet.fit(x, y, batch_size=32, epochs=2, verbose=0,
                     validation_split=0.2).history == hist


def test_lambda_callback_batch_hook_is_dispatched():
    x, y = _data("float32")
    calls = []
    cb = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: calls.append(batch))
    assert trainer._needs_batch_hooks(callbacks.CallbackList([cb]))
    _model(0, "float32").fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[cb])
    assert calls == [0, 1, 2, 3]


class _Meddler(callbacks.Callback):
    """Changes the model between epochs in one of the ways a plan must notice."""

    def __init__(self, what):
        super().__init__()
        self.what = what

    def on_epoch_end(self, epoch, logs=None):
        m = self.model
        if self.what == "learning_rate":
            m.optimizer.learning_rate = m.optimizer.learning_rate * 0.5
        elif self.what == "set_weights":
            m.set_weights([w * 0.9 for w in m.get_weights()])
        elif self.what == "optimizer_state":
            m.optimizer.set_state(m.optimizer.get_state())
        elif self.what == "weight_decay":
            m.optimizer.weight_decay = 0.01 * (epoch + 1)
        elif self.what == "threads":
            fastnn.set_num_threads(1 + epoch % 2)


@pytest.mark.parametrize("what", ["learning_rate", "set_weights", "optimizer_state",
                                  "weight_decay", "threads"])
def test_changes_between_epochs(monkeypatch, what):
    x, y = _data("float32")

    def train(model):
        with num_threads(2):
            cbs = [_Meddler(what)]
            if what == "learning_rate":
                cbs.append(callbacks.LearningRateScheduler(lambda e, lr: lr * 0.9))
            return model.fit(x, y, batch_size=32, epochs=4, verbose=0,
                             callbacks=cbs).history

    ref, ref_hist, model, hist = _pair(
        monkeypatch, lambda: _model(5, "float32", opt=optimizers.AdamW(0.01)), train)
    assert _replayed(model)
    assert hist == ref_hist
    _same_state(ref, model)


def test_learning_rate_is_read_at_each_step():
    x, y = _data("float32")
    model = _model(6, "float32", opt=optimizers.SGD(0.1))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = model.get_weights()
    model.optimizer.learning_rate = 1e-30  # too small to move any weight
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert _replayed(model) == 2
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_freezing_a_layer_invalidates_the_plan():
    """layer.trainable = False without recompiling: the plan must not keep updating
    the frozen weights; the ordinary step runs (and refuses the changed variable
    list, as it always did)."""
    x, y = _data("float32")
    model = _model(7, "float32")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    plan = model._step_plans[32]
    assert isinstance(plan, step_plan.StepPlan) and plan.valid(model)
    model.layers[0].trainable = False
    assert not plan.valid(model)
    with pytest.raises(ValueError, match="built for 5 variables"):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)


def test_recompile_and_new_variables_drop_plans(monkeypatch):
    x, y = _data("float32")

    def train(model):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        model.layers[0].trainable = False
        model.compile(optimizer="rmsprop", loss="binary_crossentropy")
        assert not model._step_plans
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        model.layers[0].trainable = True
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        return model.fit(x, y, batch_size=32, epochs=2, verbose=0).history

    ref, ref_hist, model, hist = _pair(monkeypatch, lambda: _model(8, "float32"), train)
    assert _replayed(model) == 2
    assert hist == ref_hist
    _same_state(ref, model)


def test_replaced_variable_array_invalidates_the_plan():
    x, y = _data("float32")
    model = _model(9, "float32")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    plan = model._step_plans[32]
    kernel = model.layers[1].kernel
    kernel.value = kernel.value.copy()
    assert not plan.valid(model)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert model._step_plans[32] is not plan and model._step_plans[32].valid(model)


def test_backend_switch(monkeypatch):
    x, y = _data("float64")

    def train(model):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        with backend.using("numpy"):
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        return model.fit(x, y, batch_size=32, epochs=1, verbose=0).history

    ref, ref_hist, model, hist = _pair(monkeypatch, lambda: _model(10, "float64"), train)
    assert _replayed(model) == 2
    assert hist == ref_hist
    _same_state(ref, model)


@pytest.mark.parametrize("case", ["dropout", "regularizer", "gelu", "softmax_mse",
                                  "numpy_backend", "batchnorm"])
def test_unsupported_steps_fall_back(monkeypatch, case):
    x, y = _data("float32")
    extra, hidden, out, loss = None, "relu", "sigmoid", "binary_crossentropy"
    if case == "dropout":
        extra = [lambda: layers.Dropout(0.3, seed=4)]
    elif case == "batchnorm":
        extra = [layers.BatchNormalization]
    elif case == "gelu":
        hidden = "gelu"
    elif case == "softmax_mse":
        x, y = _data("float32", "onehot", 3)
        out, loss = "softmax", "mse"

    def make():
        model = _model(11, "float32", hidden=hidden, out=out, loss=loss, extra=extra,
                       units=3 if case == "softmax_mse" else 1)
        if case == "regularizer":
            model.layers[0].kernel.regularizer = fastnn.regularizers.get("l2")
        return model

    def train(model):
        if case == "numpy_backend":
            with backend.using("numpy"):
                return model.fit(x, y, batch_size=32, epochs=2, verbose=0).history
        return model.fit(x, y, batch_size=32, epochs=2, verbose=0).history

    ref, ref_hist, model, hist = _pair(monkeypatch, make, train)
    assert not _replayed(model)
    assert all(type(p) is trainer._NoPlan for p in model._step_plans.values())
    assert hist == ref_hist
    _same_state(ref, model)


def test_regularizer_added_later_invalidates():
    x, y = _data("float32")
    model = _model(12, "float32")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    plan = model._step_plans[32]
    model.layers[0].kernel.regularizer = fastnn.regularizers.get("l2")
    assert not plan.valid(model)


def test_train_on_batch_uses_the_plan(monkeypatch):
    x, y = _data("float64")

    def train(model):
        return [model.train_on_batch(x[:32], y[:32]) for _ in range(4)]

    ref, ref_losses, model, losses = _pair(monkeypatch, lambda: _model(13, "float64"),
                                           train)
    assert _replayed(model) == 1
    assert losses == ref_losses
    _same_state(ref, model)


def test_shuffled_batches_are_the_rows_of_the_permutation():
    """The gathered buffers hold exactly the rows ``take`` would give."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    y = np.arange(10)
    w = rng.uniform(size=10)
    order = rng.permutation(10)
    gather = {}
    got = [(bx[0].copy(), by[0].copy(), bw.copy())
           for bx, by, bw, _ in trainer._Batches([x], [y], w, 4, order, gather)]
    assert sorted(gather) == [2, 4]
    for k, (bx, by, bw) in enumerate(got):
        idx = order[4 * k:4 * k + 4]
        np.testing.assert_array_equal(bx, x[idx])
        np.testing.assert_array_equal(by, y[idx])
        np.testing.assert_array_equal(bw, w[idx])
