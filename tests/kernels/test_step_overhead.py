"""The lean training step: what it skips must not change what it computes.

A training step checks arrays once and then reuses what it checked (the optimizer's
gradient list, the graph's per-node plan, the loss scale per batch size, the list of
regularized layers), runs each Dense layer and the loss in one native call, and updates
every variable with one ``ops.multi_update``.  These tests pin down the behaviour those
shortcuts must keep.
"""

import warnings

import numpy as np
import pytest

import fastnn
from fastnn import backend, layers, optimizers, regularizers, threads
from fastnn.backend.numpy_ops import NumpyOps


@pytest.fixture(autouse=True)
def _seed():
    fastnn.utils.set_random_seed(7)


def _tabular(n=96, seed=0, out_units=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 10)).astype("float32")
    if out_units == 1:
        y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    else:
        y = rng.integers(0, out_units, n)
    return x, y


def _mlp(out_units=1, optimizer=None, metrics=None, reg=None):
    model = fastnn.Sequential([
        layers.Input(shape=(10,)),
        layers.Dense(16, activation="relu", kernel_regularizer=reg),
        layers.Dense(8, activation="tanh"),
        layers.Dense(out_units, activation="sigmoid" if out_units == 1 else "softmax"),
    ])
    loss = "binary_crossentropy" if out_units == 1 else "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer or optimizers.Adam(0.01), loss=loss, metrics=metrics)
    return model


# ---------------------------------------------------------------------- optimizer


def test_apply_checks_again_when_the_gradients_change():
    opt = optimizers.SGD(0.1)
    w = np.ones((3, 2), dtype="float32")
    g = np.full((3, 2), 0.5, dtype="float32")
    opt.apply([g], [w])
    opt.apply([g], [w])  # the same arrays: taken without checks
    np.testing.assert_allclose(w, 0.9)
    with pytest.raises(ValueError, match="shape"):
        opt.apply([np.ones((2, 3), dtype="float32")], [w])
    # a gradient of another dtype or layout is converted, not rejected
    opt.apply([np.asfortranarray(np.full((3, 2), 0.5))], [w])
    np.testing.assert_allclose(w, 0.85)
    # a new variable list of other shapes is refused
    with pytest.raises(ValueError, match="built"):
        opt.apply([g.ravel()], [w.ravel().copy()])


def test_apply_with_a_missing_gradient_warns_and_updates_the_rest(ops_backend):
    opt = optimizers.Adam(0.1)
    a = np.ones(4, dtype="float32")
    b = np.ones(3, dtype="float32")
    g = np.ones(4, dtype="float32")
    opt.apply([g, np.ones(3, dtype="float32")], [a, b])
    before_b = b.copy()
    with pytest.warns(UserWarning, match=r"\[1\]"):
        opt.apply([g, None], [a, b])
    np.testing.assert_array_equal(b, before_b)
    state = opt.get_state()
    assert int(state["iterations"]) == 2
    # then both again: the slot lists must still line up with the variables
    opt.apply([g, np.ones(3, dtype="float32")], [a, b])
    ref = optimizers.Adam(0.1)
    a2, b2 = np.ones(4, dtype="float32"), np.ones(3, dtype="float32")
    ref.apply([g, np.ones(3, dtype="float32")], [a2, b2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.apply([g, None], [a2, b2])
    ref.apply([g, np.ones(3, dtype="float32")], [a2, b2])
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)


@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(0.05),
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: optimizers.Adagrad(0.05),
    lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adam(0.01, amsgrad=True),
    lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    lambda: optimizers.Adam(0.01, clipnorm=0.1),
    lambda: optimizers.Adam(0.01, global_clipnorm=0.1),
    lambda: optimizers.SGD(0.05, clipvalue=0.01),
], ids=["sgd", "nesterov", "adagrad", "rmsprop", "amsgrad", "adamw", "clipnorm",
        "global_clipnorm", "clipvalue"])
def test_one_call_update_matches_the_per_variable_rule(make):
    """Optimizer.apply (one multi_update over all variables) against the rule applied
    variable by variable (one NumpyOps.multi_update each, its slots looked up by name),
    with weight decay excluded for one."""
    rng = np.random.default_rng(1)
    shapes = [(5, 3), (3,), (3, 2), (2,)]
    params = [rng.standard_normal(s).astype("float32") for s in shapes]
    ref_params = [p.copy() for p in params]
    opt, ref = make(), make()
    opt.exclude_from_weight_decay(var_list=[params[1]])
    ref.exclude_from_weight_decay(var_list=[ref_params[1]])
    ref._update_all = lambda ops, indices, params, grads, lr, step, **common: (
        _per_variable_update(ref, ops, indices, params, grads, lr, step, **common))
    previous = backend.current()
    for step in range(3):
        grads = [rng.standard_normal(s).astype("float32") for s in shapes]
        opt.apply(grads, params)
        fastnn.set_backend("numpy")
        try:
            ref.apply([g.copy() for g in grads], ref_params)
        finally:
            fastnn.set_backend(previous.name)
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(p, r, rtol=1e-5, atol=1e-6)
    for key, value in ref.get_state().items():
        np.testing.assert_allclose(opt.get_state()[key], value, rtol=1e-5, atol=1e-6)


def _per_variable_update(opt, ops, indices, params, grads, lr, step, weight_decays,
                         grad_scales, clipvalue):
    """Each variable on its own, its slots taken from its state by name."""
    for i, p, g, wd, scale in zip(indices, params, grads, weight_decays, grad_scales):
        state = opt._state[i]
        slots = tuple([state[name]] if name in state else None for name in opt.rule.SLOTS)
        ops.multi_update(opt.rule, [p], [g], slots, [wd], [scale], lr=lr, step=step,
                         clipvalue=clipvalue)


def test_state_round_trip_keeps_the_one_call_update_in_step(tmp_path):
    x, y = _tabular()
    model = _mlp()
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    path = tmp_path / "m.fastnn"
    model.save(path)
    again = fastnn.models.load_model(path)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    again.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------- native fast paths


@pytest.mark.skipif(not backend.native_available(), reason="needs the native backend")
@pytest.mark.parametrize("out_units", [1, 4])
def test_native_training_step_takes_the_one_call_paths(out_units, monkeypatch):
    """Dense forward/backward, the fused loss and the optimizer each run as one native
    call: with every NumpyOps fallback (and the copying repair path) disabled, training
    still works."""
    from fastnn.backend import native_ops

    previous = backend.current()
    fastnn.set_backend("native")
    try:
        x, y = _tabular(out_units=out_units)
        model = _mlp(out_units)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # builds every buffer

        def boom(*args, **kwargs):
            raise AssertionError("a training step left the one-call path")

        for name in ("dense_forward", "dense_backward", "multi_update",
                     "sigmoid_binary_crossentropy", "softmax_crossentropy",
                     "activation_backward", "matmul", "bias_grad"):
            monkeypatch.setattr(NumpyOps, name, boom)
        monkeypatch.setattr(native_ops, "_through_copies", boom)
        monkeypatch.setattr(native_ops.NativeOps, "activation_backward", boom)
        history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))
    finally:
        fastnn.set_backend(previous.name)


@pytest.mark.skipif(not backend.native_available(), reason="needs the native backend")
def test_native_training_is_the_same_on_1_and_2_threads():
    x, y = _tabular(n=256, out_units=4)
    weights = []
    with backend.using("native"):
        for nt in (1, 2):
            with threads.num_threads(nt):
                fastnn.utils.set_random_seed(3)
                model = _mlp(4, optimizer=optimizers.Adam(0.01))
                model.fit(x, y, batch_size=32, epochs=2, verbose=0)
                weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_backends_agree_after_training():
    x, y = _tabular(n=128, out_units=4)
    weights = []
    previous = backend.current()
    try:
        for name in ["numpy"] + (["native"] if backend.native_available() else []):
            fastnn.set_backend(name)
            fastnn.utils.set_random_seed(5)
            model = _mlp(4, optimizer=optimizers.Adam(0.01), reg=regularizers.l2(1e-3))
            model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
            weights.append(model.get_weights())
    finally:
        fastnn.set_backend(previous.name)
    for w in weights[1:]:
        for a, b in zip(weights[0], w):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


# ---------------------------------------------------------------------- trainer and graph


def test_metrics_still_see_the_activated_predictions(ops_backend):
    """Without metrics a fused output skips its activation; with them, the training
    accuracy is taken from sigmoid(logits), as predict gives it."""
    x, y = _tabular()
    model = _mlp(optimizer=optimizers.SGD(1e-30), metrics=["accuracy"])  # ~no step
    model.layers[-1].bias.assign(np.array([0.3], dtype="float32"))  # logits != probs
    pred = model.predict(x[:32], verbose=0)[:, 0]
    acc = model.train_on_batch(x[:32], y[:32], return_dict=True)["accuracy"]
    assert acc == pytest.approx(np.mean((pred > 0.5) == (y[:32] > 0.5)))


def test_loss_with_varying_batch_sizes_and_sample_weights(ops_backend):
    """The per-batch-size loss scale is cached; batches of other sizes and weighted
    batches must still get their own."""
    x, y = _tabular(n=70)
    model = _mlp(optimizer=optimizers.SGD(1e-30))
    full = model.evaluate(x, y, batch_size=70, verbose=0)
    for bs in (32, 70, 7):
        losses = [model.train_on_batch(x[i:i + bs], y[i:i + bs]) for i in range(0, 70, bs)]
        sizes = [len(x[i:i + bs]) for i in range(0, 70, bs)]
        assert np.average(losses, weights=sizes) == pytest.approx(full, rel=1e-5)
    w = np.linspace(0.5, 2.0, 70).astype("float32")
    weighted = model.train_on_batch(x, y, sample_weight=w)
    per_sample = model.evaluate(x, y, batch_size=70, verbose=0, sample_weight=w)
    assert weighted == pytest.approx(per_sample, rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(full, rel=1e-5)


def test_regularizers_follow_trainable_changes(ops_backend):
    x, y = _tabular()
    model = _mlp(optimizer=optimizers.SGD(0.1), reg=regularizers.l2(0.5))
    first = model.layers[0]
    model.train_on_batch(x[:32], y[:32])
    # freeze the regularized layer: it must not move, the penalty still counts
    first.trainable = False
    model.compile(optimizer=optimizers.SGD(0.1), loss="binary_crossentropy")
    kernel = first.kernel.value.copy()
    loss = model.train_on_batch(x[:32], y[:32])
    np.testing.assert_array_equal(first.kernel.value, kernel)
    assert loss > 0.5 * float(np.sum(kernel * kernel)) * 0.99
    first.trainable = True
    model.compile(optimizer=optimizers.SGD(0.1), loss="binary_crossentropy")
    model.train_on_batch(x[:32], y[:32])
    assert not np.array_equal(first.kernel.value, kernel)


def test_shared_layer_gradients_are_summed(ops_backend):
    """A Dense used at two nodes gets the sum of both uses' gradients."""
    fastnn.config.set_floatx("float64")
    inp = fastnn.Input(shape=(3,))
    shared = layers.Dense(3, activation="tanh")
    out = layers.Dense(1)(shared(shared(inp)))
    model = fastnn.Model(inp, out)
    model.compile(optimizer=optimizers.SGD(1.0), loss="mse")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3))
    y = rng.standard_normal((5, 1))

    def loss_at(weights):
        model.set_weights(weights)
        return model.evaluate(x, y, batch_size=5, verbose=0)

    w0 = [w.copy() for w in model.get_weights()]
    base = loss_at(w0)
    # SGD(lr=1): the step is minus the gradient
    model.set_weights(w0)
    model.train_on_batch(x, y)
    grad_kernel = w0[0] - model.get_weights()[0]
    eps = 1e-6
    numeric = np.zeros_like(w0[0])
    for i in np.ndindex(w0[0].shape):
        plus = [w.copy() for w in w0]
        minus = [w.copy() for w in w0]
        plus[0][i] += eps
        minus[0][i] -= eps
        numeric[i] = (loss_at(plus) - loss_at(minus)) / (2 * eps)
    assert base > 0
    np.testing.assert_allclose(grad_kernel, numeric, rtol=1e-5, atol=1e-8)
