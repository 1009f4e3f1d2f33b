"""Element-wise, loss, optimizer and dropout kernels: NativeOps against NumpyOps.

Every primitive for float32 and float64, on 1 and 2 threads, at awkward sizes; inputs
that are read-only, non-contiguous, aliased with ``out=`` or extreme (logits of +-1e4);
results bit-identical for 1 and 2 threads; the dropout mask bit-identical to NumPy's.

Tests named ``*_uses_kernel`` make the NumPy fallback raise, to prove the compiled path
really ran (a silent fallback would otherwise pass every comparison).
"""

import math
from dataclasses import replace

import numpy as np
import pytest

from fastnn.backend import activations as act
from fastnn.backend import numpy_ops
from fastnn.optimizers.rules import AdagradRule, AdamRule, RMSpropRule, SGDRule
from numthreads import run_on
from fastnn.backend.numpy_ops import NumpyOps

_ew = pytest.importorskip("fastnn._native._elementwise")
from fastnn.backend.native_ops import NativeOps  # noqa: E402

NATIVE = NativeOps()
REF = NumpyOps()

DTYPES = [np.float32, np.float64]
ROWS = [0, 1, 7, 17, 129, 1000]
WIDTHS = [1, 3, 10, 64]
ELEMENTWISE = [a for a in act.ACTIVATIONS if a != "softmax"]


def tol(dtype):
    return dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def no_fallback(monkeypatch, *names):
    """Make NumpyOps.<name> raise, so that only the native kernel can answer."""

    def boom(*args, **kwargs):
        raise AssertionError("NativeOps fell back to NumpyOps")

    for name in names:
        monkeypatch.setattr(NumpyOps, name, boom)


def inputs(shape, dtype, seed=0, scale=3.0, extremes=True):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    flat = x.reshape(-1)
    if extremes and flat.size >= 8:
        flat[:8] = [0.0, -0.0, 1e4, -1e4, 30.0, -30.0, 1e-8, -1e-8]
    return x


# ---------------------------------------------------------------------- activations


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", act.ACTIVATIONS)
def test_activation_forward_matches_numpy(name, dtype, nthreads):
    for rows in ROWS:
        for width in WIDTHS:
            x = inputs((rows, width), dtype, seed=rows + width)
            got = NATIVE.activation_forward(x, name)
            want = REF.activation_forward(x, name)
            assert got.dtype == dtype and got.shape == x.shape
            np.testing.assert_allclose(got, want, **tol(dtype), err_msg=f"{rows}x{width}")
            assert np.isfinite(got).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", act.ACTIVATIONS)
def test_activation_backward_matches_numpy(name, dtype, nthreads):
    for rows in ROWS:
        for width in WIDTHS:
            x = inputs((rows, width), dtype, seed=rows + width)
            y = REF.activation_forward(x, name)
            dy = inputs((rows, width), dtype, seed=99, scale=1.0, extremes=False)
            got = NATIVE.activation_backward(dy, y, name, x=x)
            want = REF.activation_backward(dy, y, name, x=x)
            assert got.dtype == dtype and got is not dy
            np.testing.assert_allclose(got, want, **tol(dtype), err_msg=f"{rows}x{width}")


@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
def test_activation_alpha(name):
    x = inputs((17, 5), np.float64)
    for alpha in (None, 0.05, 1.7):
        y = NATIVE.activation_forward(x, name, alpha=alpha)
        np.testing.assert_allclose(y, REF.activation_forward(x, name, alpha=alpha), rtol=1e-13)
        dy = np.ones_like(x)
        np.testing.assert_allclose(
            NATIVE.activation_backward(dy, y, name, alpha=alpha),
            REF.activation_backward(dy, y, name, alpha=alpha),
            rtol=1e-13,
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", act.ACTIVATIONS)
def test_activation_out_aliases_input(name, dtype):
    x = inputs((33, 9), dtype)
    want = REF.activation_forward(x, name)
    buf = x.copy()
    assert NATIVE.activation_forward(buf, name, out=buf) is buf
    np.testing.assert_allclose(buf, want, **tol(dtype))

    y = want
    dy = inputs((33, 9), dtype, seed=5, extremes=False)
    want_dx = REF.activation_backward(dy, y, name, x=x)
    dbuf = dy.copy()
    assert NATIVE.activation_backward(dbuf, y, name, x=x, out=dbuf) is dbuf
    np.testing.assert_allclose(dbuf, want_dx, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", act.ACTIVATIONS)
def test_activation_readonly_uses_kernel(name, dtype, monkeypatch):
    x = inputs((20, 6), dtype)
    y = REF.activation_forward(x, name)
    dy = inputs((20, 6), dtype, seed=3, extremes=False)
    want_y, want_dx = y.copy(), REF.activation_backward(dy, y, name, x=x)
    for a in (x, y, dy):
        a.setflags(write=False)
    no_fallback(monkeypatch, "activation_forward", "activation_backward", "softmax")
    np.testing.assert_allclose(NATIVE.activation_forward(x, name), want_y, **tol(dtype))
    np.testing.assert_allclose(
        NATIVE.activation_backward(dy, y, name, x=x), want_dx, **tol(dtype)
    )
    out = np.empty_like(x)
    assert NATIVE.activation_forward(x, name, out=out) is out


@pytest.mark.parametrize("name", ["relu", "gelu", "softmax", "tanh"])
def test_activation_non_contiguous_and_odd_inputs(name):
    base = inputs((40, 30), np.float32)
    for x in (base[:, ::3], base.T, base[::2], base.astype(np.float16), base[0, 0]):
        if name == "softmax" and x.ndim == 0:
            continue
        want = REF.activation_forward(x, name)
        got = NATIVE.activation_forward(x, name)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # an out= that partly overlaps x: NumPy's semantics, whatever path is taken
    x = inputs((10, 8), np.float64)
    want = REF.activation_forward(x[1:], name)
    buf = x.copy()
    NATIVE.activation_forward(buf[1:], name, out=buf[:-1])
    np.testing.assert_allclose(buf[:-1], want, rtol=1e-12)


def test_activation_backward_needs_x():
    y = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError):
        NATIVE.activation_backward(y, y, "gelu")
    with pytest.raises(ValueError):
        NATIVE.activation_forward(y, "nope")


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "swish", "elu", "selu", "gelu"])
def test_transcendentals_accurate_over_wide_range(name):
    """The kernels use their own vectorisable exp/expm1/log1p/tanh (csrc/fnn_math.h):
    float32 within 8 ulp of the float64 result, float64 within ~4.5 ulp of NumPy."""
    x64 = np.concatenate(
        [
            np.linspace(-100, 100, 400_001),
            np.linspace(-1, 1, 100_001),
            np.geomspace(1e-30, 1, 1000),
            -np.geomspace(1e-30, 1, 1000),
            [1e4, -1e4, 88.5, -88.5, 709.0, -709.0],
        ]
    )
    reference = lambda x: REF.activation_forward(x, name)  # noqa: E731
    if name == "gelu":
        # NumPy's 1 + erf(x/sqrt 2) cancels for x < 0 (1e-10 relative at x = -5), so
        # the reference is the erfc form, as the kernel computes it.
        erfc = np.vectorize(math.erfc, otypes=[np.float64])
        reference = lambda x: 0.5 * x * erfc(-x / math.sqrt(2.0))  # noqa: E731
    x32 = x64.astype(np.float32)
    # gelu: erfc(z) magnifies its argument's rounding ~2z^2 times, in any implementation
    for x, want, rtol in [
        (x64, reference(x64), 1e-13 if name == "gelu" else 1e-15),
        (x32, reference(x32.astype(np.float64)), 8 * 2.0**-24),
    ]:
        got = NATIVE.activation_forward(x, name)
        mask = np.abs(want) > 1e-30  # below that, exp's flush-to-zero (< 2e-38) is fine
        rel = np.abs(got[mask] - want[mask]) / np.abs(want[mask])
        assert rel.max() <= rtol, (x.dtype, x[mask][rel.argmax()], rel.max())
        assert np.all(np.abs(got[~mask] - want[~mask]) < 1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows_shapes_and_huge_logits(dtype, nthreads):
    for shape in [(0, 5), (1, 1), (7, 3), (129, 17), (1000, 10), (4, 5, 6), (9,)]:
        x = inputs(shape, dtype, seed=sum(shape))
        got = NATIVE.softmax(x)
        np.testing.assert_allclose(got, REF.softmax(x), **tol(dtype))
        assert np.isfinite(got).all()
        buf = x.copy()
        assert NATIVE.softmax(buf, out=buf) is buf
        np.testing.assert_allclose(buf, got, **tol(dtype))


def test_softmax_uses_kernel(monkeypatch):
    x = inputs((64, 10), np.float32)
    x.setflags(write=False)
    want = REF.softmax(x)
    no_fallback(monkeypatch, "softmax", "activation_backward")
    np.testing.assert_allclose(NATIVE.softmax(x), want, rtol=2e-6, atol=1e-7)
    NATIVE.activation_backward(x, want, "softmax")


# ---------------------------------------------------------------------- fused losses


def _labels(n, k, seed=0, dtype=np.int64):
    return np.random.default_rng(seed).integers(0, k, size=n).astype(dtype)


def _assert_loss(got, want, dtype):
    (gl, gg), (wl, wg) = got, want
    assert gl.dtype == dtype and gl.shape == wl.shape
    np.testing.assert_allclose(gl, wl, **tol(dtype))
    if wg is None:
        assert gg is None
    else:
        assert gg.dtype == dtype
        np.testing.assert_allclose(gg, wg, **tol(dtype))
        assert np.isfinite(gg).all()
    assert np.isfinite(gl).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "onehot"])
def test_softmax_crossentropy(sparse, dtype, nthreads):
    for n in ROWS:
        for k in (1, 2, 10, 129):
            z = inputs((n, k), dtype, seed=n * k)
            labels = _labels(n, k, seed=n)
            target = labels if sparse else np.eye(k, dtype=dtype)[labels]
            gs = np.linspace(0.5, 1.5, n).astype(dtype)
            for scale in (None, gs):
                want = REF.softmax_crossentropy(z, target, sparse, grad_scale=scale)
                got = NATIVE.softmax_crossentropy(z, target, sparse, grad_scale=scale)
                _assert_loss(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_crossentropy_soft_targets_and_label_types(dtype):
    z = inputs((50, 7), dtype)
    soft = np.random.default_rng(1).random((50, 7)).astype(dtype)  # rows not summing to 1
    gs = np.full(50, 0.02, dtype)
    _assert_loss(
        NATIVE.softmax_crossentropy(z, soft, False, gs),
        REF.softmax_crossentropy(z, soft, False, gs),
        dtype,
    )
    for label_dtype in (np.int32, np.uint8, np.float32, np.float64):
        labels = _labels(50, 7, dtype=label_dtype)
        _assert_loss(
            NATIVE.softmax_crossentropy(z, labels, True, gs),
            REF.softmax_crossentropy(z, labels, True, gs),
            dtype,
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_binary_crossentropy(dtype, nthreads):
    for n in ROWS:
        for k in (1, 3, 64):
            z = inputs((n, k), dtype, seed=n + k)
            t = (np.random.default_rng(n).random((n, k)) > 0.5).astype(dtype)
            t.reshape(-1)[1::7] = 0.3  # soft labels too
            gs = np.linspace(0.1, 1.0, n).astype(dtype)
            for scale in (None, gs):
                _assert_loss(
                    NATIVE.sigmoid_binary_crossentropy(z, t, grad_scale=scale),
                    REF.sigmoid_binary_crossentropy(z, t, grad_scale=scale),
                    dtype,
                )


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_huge_logits_are_finite(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype)
    labels = np.array([1, 0, 2])
    gs = np.ones(3, dtype)
    for got, want in [
        (
            NATIVE.softmax_crossentropy(z, labels, True, gs),
            REF.softmax_crossentropy(z, labels, True, gs),
        ),
        (
            NATIVE.softmax_crossentropy(z, np.eye(3, dtype=dtype)[labels], False, gs),
            REF.softmax_crossentropy(z, np.eye(3, dtype=dtype)[labels], False, gs),
        ),
        (
            NATIVE.sigmoid_binary_crossentropy(z, np.eye(3, dtype=dtype), gs),
            REF.sigmoid_binary_crossentropy(z, np.eye(3, dtype=dtype), gs),
        ),
    ]:
        _assert_loss(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_out_grad_aliases_logits_and_readonly(dtype, monkeypatch):
    z = inputs((31, 6), dtype)
    labels = _labels(31, 6)
    onehot = np.eye(6, dtype=dtype)[labels]
    gs = np.full(31, 1 / 31, dtype)
    want_s = REF.softmax_crossentropy(z, labels, True, gs)
    want_d = REF.softmax_crossentropy(z, onehot, False, gs)
    want_b = REF.sigmoid_binary_crossentropy(z, onehot, gs)
    for a in (labels, onehot, gs):
        a.setflags(write=False)
    no_fallback(monkeypatch, "softmax_crossentropy", "sigmoid_binary_crossentropy")
    for call, want in [
        (lambda b: NATIVE.softmax_crossentropy(b, labels, True, gs, out_grad=b), want_s),
        (lambda b: NATIVE.softmax_crossentropy(b, onehot, False, gs, out_grad=b), want_d),
        (lambda b: NATIVE.sigmoid_binary_crossentropy(b, onehot, gs, out_grad=b), want_b),
    ]:
        buf = z.copy()
        loss, grad = call(buf)
        assert grad is buf
        _assert_loss((loss, grad), want, dtype)
    ro = z.copy()
    ro.setflags(write=False)
    _assert_loss(NATIVE.softmax_crossentropy(ro, labels, True, gs), want_s, dtype)


def test_sparse_labels_out_of_range_behave_like_numpy():
    z = inputs((4, 3), np.float64)
    gs = np.ones(4)
    bad = np.array([0, 1, 3, 2])
    with pytest.raises(IndexError):
        NATIVE.softmax_crossentropy(z, bad, True, gs)
    neg = np.array([0, -1, 2, 1])  # NumPy indexing wraps negative labels
    _assert_loss(
        NATIVE.softmax_crossentropy(z, neg, True, gs),
        REF.softmax_crossentropy(z, neg, True, gs),
        np.float64,
    )


# ---------------------------------------------------------------------- optimizers

# The rules as records (Keras defaults, varied), with the per-step arguments.
SGD = SGDRule(momentum=0.0, nesterov=False)
ADAGRAD = AdagradRule(initial_accumulator_value=0.1, epsilon=1e-7)
RMSPROP = RMSpropRule(rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)
ADAM = AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)
OPTIMIZER_CASES = [
    (SGD, dict(lr=0.1)),
    (replace(SGD, momentum=0.9), dict(lr=0.1)),
    (replace(SGD, momentum=0.9, nesterov=True), dict(lr=0.05, weight_decay=0.01)),
    (SGD, dict(lr=0.1, clipvalue=0.5, grad_scale=0.7)),
    (ADAGRAD, dict(lr=0.1)),
    (replace(ADAGRAD, epsilon=1e-6), dict(lr=0.1, weight_decay=0.1, clipvalue=1.0)),
    (RMSPROP, dict(lr=0.01)),
    (replace(RMSPROP, centered=True), dict(lr=0.01)),
    (replace(RMSPROP, momentum=0.8), dict(lr=0.01)),
    (replace(RMSPROP, rho=0.8, centered=True, momentum=0.5), dict(lr=0.01, grad_scale=0.5)),
    (ADAM, dict(lr=0.01)),
    (replace(ADAM, amsgrad=True), dict(lr=0.01)),
    (ADAM, dict(lr=0.01, weight_decay=0.004, clipvalue=0.3)),  # AdamW
    (replace(ADAM, beta_1=0.5, beta_2=0.9, amsgrad=True), dict(lr=0.02, grad_scale=2.0)),
]
OPTIMIZER_IDS = [f"{rule.kernel}{i}" for i, (rule, _) in enumerate(OPTIMIZER_CASES)]


def _run_steps(ops, rule, args, p, grads):
    """``len(grads)`` steps of ``rule`` on the one variable ``p`` (a one-variable
    multi_update each); returns ``p`` and its slots, None where unused."""
    fill = dict(rule.slots())
    state = tuple(np.full_like(p, fill[name]) if name in fill else None
                  for name in rule.SLOTS)
    slots = tuple(None if s is None else [s] for s in state)
    call = dict(args)
    decay, scale = call.pop("weight_decay", 0.0), call.pop("grad_scale", 1.0)
    for t, g in enumerate(grads, start=1):
        ops.multi_update(rule, [p], [g], slots, [decay], [scale], step=t, **call)
    return p, state


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule,args", OPTIMIZER_CASES, ids=OPTIMIZER_IDS)
def test_optimizer_steps_match_numpy(rule, args, dtype, nthreads):
    for shape in [(0,), (1,), (7, 3), (129, 17), (300, 1000)]:
        p0 = inputs(shape, dtype, extremes=False, scale=1.0)
        grads = [inputs(shape, dtype, seed=s, extremes=False) for s in range(5)]
        p_ref, s_ref = _run_steps(REF, rule, args, p0.copy(), grads)
        p_nat, s_nat = _run_steps(NATIVE, rule, args, p0.copy(), grads)
        t = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(p_nat, p_ref, **t, err_msg=str(shape))
        for name, nat, ref in zip(rule.SLOTS, s_nat, s_ref):
            if ref is not None:
                np.testing.assert_allclose(nat, ref, **t, err_msg=name)


@pytest.mark.parametrize("rule,args", OPTIMIZER_CASES, ids=OPTIMIZER_IDS)
def test_optimizer_uses_kernel_with_readonly_grad(rule, args, monkeypatch):
    p = inputs((50, 4), np.float32, extremes=False)
    g = inputs((50, 4), np.float32, seed=1, extremes=False)
    g.setflags(write=False)
    want, _ = _run_steps(REF, rule, args, p.copy(), [g])
    no_fallback(monkeypatch, "multi_update")
    got, _ = _run_steps(NATIVE, rule, args, p.copy(), [g])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("rule,args", OPTIMIZER_CASES[1::3], ids=OPTIMIZER_IDS[1::3])
def test_optimizer_non_contiguous_param_falls_back_in_place(rule, args):
    base = inputs((20, 10), np.float64, extremes=False)
    grads = [inputs((20, 5), np.float64, seed=s, extremes=False) for s in range(3)]
    p_nat = base.copy()[:, ::2]  # a strided view: must still be updated in place
    p_ref = base.copy()[:, ::2]
    _run_steps(REF, rule, args, p_ref, grads)
    _run_steps(NATIVE, rule, args, p_nat, grads)
    np.testing.assert_allclose(p_nat, p_ref, rtol=1e-13)


@pytest.mark.parametrize("rule,args", OPTIMIZER_CASES, ids=OPTIMIZER_IDS)
def test_optimizer_bit_identical_across_threads(rule, args):
    p0 = inputs((200_001,), np.float32, extremes=False)
    grads = [inputs((200_001,), np.float32, seed=s, extremes=False) for s in range(3)]
    p1, s1 = run_on(1, _run_steps, NATIVE, rule, args, p0.copy(), grads)
    p2, s2 = run_on(2, _run_steps, NATIVE, rule, args, p0.copy(), grads)
    assert np.array_equal(p1, p2)
    for a, b in zip(s1, s2):
        if a is not None:
            assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_squares(dtype, nthreads):
    for n in [0, 1, 7, 129, 10_000, 1_000_003, 3_000_001]:
        x = inputs((n,), dtype, extremes=False)
        got = NATIVE.sum_squares(x)
        assert isinstance(got, float)
        exact = float(np.dot(x.astype(np.float64), x.astype(np.float64)))
        np.testing.assert_allclose(got, exact, rtol=1e-6 if dtype == np.float32 else 1e-12)
        # NumPy's float32 dot accumulates in float32 (~1e-5 off for 3M elements); the
        # kernel sums runs of 64 in float32 and the rest in double, hence the check above.
        np.testing.assert_allclose(
            got, REF.sum_squares(x), rtol=1e-4 if dtype == np.float32 else 1e-12
        )
    x2 = inputs((30, 40), dtype)[:, ::3]  # non-contiguous: NumPy path
    np.testing.assert_allclose(NATIVE.sum_squares(x2), REF.sum_squares(x2), rtol=1e-6)


@pytest.mark.parametrize("n", [70_000, 1_000_003, 3_000_001])
def test_sum_squares_bit_identical_across_threads(n):
    x = inputs((n,), np.float32, extremes=False)
    assert run_on(1, NATIVE.sum_squares, x) == run_on(2, NATIVE.sum_squares, x)


# ---------------------------------------------------------------------- dropout


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask_bit_identical_to_numpy(dtype, nthreads):
    cases = [
        ((0,), 0.5, 0, 0),
        ((1,), 0.5, 1, 0),
        ((7, 3), 0.1, 42, 3),
        ((129, 17), 0.5, -1, 2**64 - 1),
        ((1000, 64), 0.3, 2**63 + 5, 7),
        ((300, 1000), 0.9, 123456789, 11),
        ((5, 4, 3), 0.0, 9, 1),
    ]
    for shape, rate, seed, stream in cases:
        want = REF.dropout_mask(shape, rate, seed, stream, dtype)
        got = NATIVE.dropout_mask(shape, rate, seed, stream, dtype)
        assert got.dtype == dtype and got.shape == tuple(shape)
        assert np.array_equal(got, want), (shape, rate, seed, stream)
        out = np.full(shape, 7, dtype)
        assert NATIVE.dropout_mask(shape, rate, seed, stream, dtype, out=out) is out
        assert np.array_equal(out, want)


def test_dropout_mask_uses_kernel_and_is_thread_independent(monkeypatch):
    shape = (513, 300)
    want = REF.dropout_mask(shape, 0.25, 5, 6, np.float32)
    no_fallback(monkeypatch, "dropout_mask")
    m1 = run_on(1, NATIVE.dropout_mask, shape, 0.25, 5, 6, np.float32)
    m2 = run_on(2, NATIVE.dropout_mask, shape, 0.25, 5, 6, np.float32)
    assert np.array_equal(m1, want) and np.array_equal(m2, want)
    assert 0.2 < (m1 == 0).mean() < 0.3


def test_counter_rng_matches_numpy():
    for seed, stream in [(0, 0), (1, 2), (2**64 - 1, 2**63), (987654321, 17)]:
        assert _ew.counter_key(seed, stream) == int(numpy_ops.counter_key(seed, stream))
        u = np.empty(100_003)
        _ew.counter_uniform(seed, stream, u, 2)
        assert np.array_equal(u, numpy_ops.counter_uniform(seed, stream, 100_003))


def test_dropout_odd_arguments_fall_back():
    want = REF.dropout_mask((4, 5), 0.5, 1, 1, np.float16)
    assert np.array_equal(NATIVE.dropout_mask((4, 5), 0.5, 1, 1, np.float16), want)
    assert np.array_equal(
        NATIVE.dropout_mask(20, 0.5, 1, 1, np.float32), REF.dropout_mask(20, 0.5, 1, 1, np.float32)
    )


# ---------------------------------------------------------------------- thread invariance


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_and_losses_bit_identical_across_threads(dtype):
    x = inputs((700, 300), dtype)  # 210K elements: several blocks, both threads busy
    dy = inputs((700, 300), dtype, seed=2, extremes=False)
    labels = _labels(700, 300)
    gs = np.full(700, 1 / 700, dtype)
    t01 = (inputs((700, 300), dtype, seed=4) > 0).astype(dtype)

    def run():
        res = []
        for name in act.ACTIVATIONS:
            y = NATIVE.activation_forward(x, name)
            res += [y, NATIVE.activation_backward(dy, y, name, x=x)]
        res += list(NATIVE.softmax_crossentropy(x, labels, True, gs))
        res += list(NATIVE.softmax_crossentropy(x, t01, False, gs))
        res += list(NATIVE.sigmoid_binary_crossentropy(x, t01, gs))
        return res

    for a, b in zip(run_on(1, run), run_on(2, run)):
        assert np.array_equal(a, b)
