"""The ndarray entry points a training step uses, against the NumpyOps contract.

``_gemm.gemm`` (a dense forward) / ``dense_backward``, the fused loss entries of
``_elementwise`` and the ``_optimizers.<rule>_update`` entries check their arguments
with the NumPy C API
instead of in Python.  These tests prove that what they take gives NumpyOps' results
(float32 and float64, 1 and 2 threads, results identical across thread counts), that
what they refuse (other dtypes, overlaps, strides, shapes) is refused without touching
any output, and that NativeOps then still answers correctly through its general path.
"""

import dataclasses

import numpy as np
import pytest

from fastnn import backend, optimizers
from fastnn.backend import activations as act_table
from fastnn.backend.numpy_ops import NumpyOps
from fastnn.optimizers import rules
from fastnn.optimizers.rules import AdamRule, RMSpropRule, SGDRule
from numthreads import run_on
from rule_variants import VARIANTS

_gemm = pytest.importorskip("fastnn._native._gemm")
_ew = pytest.importorskip("fastnn._native._elementwise")
_opt = pytest.importorskip("fastnn._native._optimizers")
from fastnn.backend.native_ops import NativeOps  # noqa: E402

NATIVE = NativeOps()
NUMPY = NumpyOps()
DTYPES = [np.float32, np.float64]
NOT_TAKEN = _gemm.NOT_TAKEN
# Activations whose derivative comes from the output alone (what dense_backward takes).
FROM_Y = [a for a in act_table.ACTIVATIONS
          if a not in act_table.NEEDS_INPUT and a != "softmax"]


def _tol(dtype, depth=1):
    eps = np.finfo(dtype).eps
    return dict(rtol=16 * eps * max(depth, 1) ** 0.5, atol=16 * eps * max(depth, 1))


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ---------------------------------------------------------------------- dense forward


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [a for a in act_table.ACTIVATIONS if a != "softmax"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (32, 100, 32), (17, 129, 7), (129, 7, 300)])
def test_dense_forward_gemm(nthreads, dtype, activation, shape):
    m, k, n = shape
    rng = np.random.default_rng(m + 3 * k + 7 * n)
    x = _rand(rng, (m, k), dtype)
    w = _rand(rng, (k, n), dtype, 1 / np.sqrt(k))
    b = _rand(rng, (n,), dtype)
    code = _gemm.ACTIVATION_CODES[activation]
    alpha = act_table.resolve_alpha(activation, None)
    for bias in (b, None):
        out = np.full((m, n), np.nan, dtype=dtype)
        assert _gemm.gemm(x, w, out, bias, code, alpha, False, nthreads) == 0
        np.testing.assert_allclose(out, NUMPY.dense_forward(x, w, bias, activation),
                                   **_tol(dtype, k))
        # strided (transposed) operands are read in place
        out2 = np.full((m, n), np.nan, dtype=dtype)
        xt, wt = np.ascontiguousarray(x.T).T, np.asfortranarray(w)
        assert _gemm.gemm(xt, wt, out2, bias, code, alpha, False, nthreads) == 0
        np.testing.assert_array_equal(out2, out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_gemm_refuses(dtype):
    rng = np.random.default_rng(1)
    x = _rand(rng, (6, 5), dtype)
    w = _rand(rng, (5, 4), dtype)
    b = _rand(rng, (4,), dtype)
    out = np.full((6, 4), 7.0, dtype=dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    ro = out.copy()
    ro.flags.writeable = False
    buf = np.zeros(64, dtype=dtype)
    cases = [
        (x.astype(other), w, b, out),                  # mixed dtypes
        (x, w, b.astype(other), out),
        (x, w, b, np.full((6, 4), 7.0, dtype=other)),
        (x.astype(np.float16), w, b, out),             # not float32/64
        (x, w[:4], b, out),                            # shapes
        (x, w, b[:3], out),
        (x, w, b, np.full((5, 4), 7.0, dtype=dtype)),
        (x, w, np.ascontiguousarray(np.stack([b, b]).T)[:, 0], out),  # strided bias
        (x, w, b, ro),                                 # read-only out
        (x.tolist(), w, b, out),                       # not ndarrays
        (x.astype(x.dtype.newbyteorder()), w, b, out),  # byte-swapped
    ]
    for args in cases:
        target = args[3]
        before = np.array(target, copy=True)
        x_, w_, b_, out_ = args
        assert _gemm.gemm(x_, w_, out_, b_, 1, 0.0, False, 1) == NOT_TAKEN
        np.testing.assert_array_equal(target, before)
    # out overlapping an input: x, w or the bias living in out's memory
    xs = buf[:30].reshape(6, 5)
    xs[:] = x
    assert _gemm.gemm(xs, w, buf[20:44].reshape(6, 4), b, 1, 0.0, False, 1) == NOT_TAKEN
    assert _gemm.gemm(x, w, buf[2:26].reshape(6, 4), buf[:4], 1, 0.0, False,
                      1) == NOT_TAKEN
    # softmax is row-wise: never an epilogue
    softmax = _ew.ACTIVATION_CODES["softmax"]
    assert _gemm.gemm(x, w, out, b, softmax, 0.0, False, 1) == NOT_TAKEN
    # any strides for out, and k = 0 (out = act(bias)), are the GEMM's too
    out_f = np.full((4, 6), 7.0, dtype=dtype).T
    assert _gemm.gemm(x, w, out_f, b, 1, 0.0, False, 1) == 0
    np.testing.assert_allclose(out_f, NUMPY.dense_forward(x, w, b, "relu"), **_tol(dtype, 5))
    assert _gemm.gemm(x[:, :0], w[:0], out, b, 1, 0.0, False, 1) == 0
    np.testing.assert_array_equal(out, np.broadcast_to(np.maximum(b, 0), out.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_out_overlapping_input_still_right(dtype):
    """NativeOps.dense_forward with an out that aliases its input falls back correctly."""
    rng = np.random.default_rng(2)
    buf = _rand(rng, (8, 8), dtype)
    x = buf[:, :5]
    w = _rand(rng, (5, 8), dtype)
    want = NUMPY.dense_forward(x.copy(), w, None, "relu")
    got = NATIVE.dense_forward(x, w, None, "relu", out=buf)
    assert got is buf
    np.testing.assert_allclose(buf, want, **_tol(dtype, 5))


# ---------------------------------------------------------------------- dense backward


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", FROM_Y)
@pytest.mark.parametrize("shape", [(1, 1, 1), (32, 100, 32), (17, 129, 7), (128, 31, 65)])
def test_dense_backward_fast_path(nthreads, dtype, activation, shape):
    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    x = _rand(rng, (m, k), dtype)
    w = _rand(rng, (k, n), dtype, 1 / np.sqrt(k))
    y = NUMPY.dense_forward(x, w, _rand(rng, (n,), dtype), activation)
    dy = _rand(rng, (m, n), dtype)
    dy0, y0 = dy.copy(), y.copy()
    want = NUMPY.dense_backward(x, w, y, dy, activation)
    for has_bias in (True, False):
        for need_dx in (True, False):
            outs = dict(out_dx=np.full((m, k), np.nan, dtype=dtype),
                        out_dw=np.full((k, n), np.nan, dtype=dtype),
                        out_db=np.full((n,), np.nan, dtype=dtype))
            dx, dw, db = NATIVE.dense_backward(x, w, y, dy, activation, has_bias=has_bias,
                                               need_dx=need_dx, **outs)
            assert dw is outs["out_dw"]
            assert (dx is outs["out_dx"]) if need_dx else dx is None
            assert (db is outs["out_db"]) if has_bias else db is None
            np.testing.assert_allclose(dw, want[1], **_tol(dtype, m))
            if need_dx:
                np.testing.assert_allclose(dx, want[0], **_tol(dtype, n))
            if has_bias:
                np.testing.assert_allclose(db, want[2], **_tol(dtype, m))
    np.testing.assert_array_equal(dy, dy0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_backward_direct_and_refusals(dtype):
    rng = np.random.default_rng(3)
    m, k, n = 9, 6, 5
    x = _rand(rng, (m, k), dtype)
    w = _rand(rng, (k, n), dtype)
    y = np.maximum(_rand(rng, (m, n), dtype), 0)
    dy = _rand(rng, (m, n), dtype)
    relu, linear = _gemm.ACTIVATION_CODES["relu"], _gemm.ACTIVATION_CODES["linear"]

    def fresh():
        return (np.full((m, n), np.nan, dtype=dtype), np.full((m, k), np.nan, dtype=dtype),
                np.full((k, n), np.nan, dtype=dtype), np.full((n,), np.nan, dtype=dtype))

    dz, dx, dw, db = fresh()
    assert _gemm.dense_backward(x, w, y, dy, relu, 0.0, dz, dx, dw, db, 1) == 0
    want = NUMPY.dense_backward(x, w, y, dy, "relu")
    for got, ref, depth in zip((dx, dw, db), want, (n, m, m)):
        np.testing.assert_allclose(got, ref, **_tol(dtype, depth))
    # linear: dz must be None (dy is used); a dz buffer for relu is required
    dz, dx, dw, db = fresh()
    assert _gemm.dense_backward(x, w, y, dy, linear, 0.0, None, dx, dw, db, 1) == 0
    np.testing.assert_allclose(dw, NUMPY.dense_backward(x, w, y, dy, "linear")[1],
                               **_tol(dtype, m))
    other = np.float64 if dtype == np.float32 else np.float32
    dz, dx, dw, db = fresh()
    cases = [
        (x, w, y, dy, relu, 0.0, None, dx, dw, db),            # dz missing
        (x, w, y, dy, linear, 0.0, dz, dx, dw, db),            # dz given for linear
        (x, w, y, dy, _gemm.ACTIVATION_CODES["gelu"], 0.0, dz, dx, dw, db),  # needs x
        (x, w, y, dy, _ew.ACTIVATION_CODES["softmax"], 0.0, dz, dx, dw, db),
        (x.astype(other), w, y, dy, relu, 0.0, dz, dx, dw, db),
        (x, w, y, dy, relu, 0.0, dz, dx, dw.astype(other), db),
        (x, w, y, dy[:, :4], relu, 0.0, dz, dx, dw, db),       # shapes
        (x, w, y, dy, relu, 0.0, dz, dx, dw[:, :4], db),
        (x, w, y, dy, relu, 0.0, dz, dx, dw, db[:4]),
        (x, w, y, dy, relu, 0.0, dz, dx[:, :5], dw, db),
        (x, w, y, np.asfortranarray(dy), relu, 0.0, dz, dx, dw, db),  # dz needs C-order dy
        (x, w, y, dy, relu, 0.0, dz, dx, np.asfortranarray(dw), db),  # F-order output
        (x, w, y, dy, relu, 0.0, dz, dx, dw, dz[0]),           # db overlaps dz
    ]
    for args in cases:
        snapshot = [np.array(a, copy=True) for a in (dz, dx, dw, db)]
        assert _gemm.dense_backward(*args, 1) == NOT_TAKEN, args[4]
        for a, s in zip((dz, dx, dw, db), snapshot):
            np.testing.assert_array_equal(a, s)
    # dz may be exactly dy (read before written)
    dyc = dy.copy()
    assert _gemm.dense_backward(x, w, y, dyc, relu, 0.0, dyc, dx, dw, db, 1) == 0
    np.testing.assert_allclose(dw, want[1], **_tol(dtype, m))
    # an output overlapping x is refused, and NativeOps still gets it right
    buf = np.zeros(m * k + k * n, dtype=dtype)
    xs = buf[:m * k].reshape(m, k)
    xs[:] = x
    dw_over = buf[m * k - 3: m * k - 3 + k * n].reshape(k, n)
    assert _gemm.dense_backward(xs, w, y, dy, relu, 0.0, dz, None, dw_over, None,
                                       1) == NOT_TAKEN


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_kernels_same_on_1_and_2_threads(dtype):
    rng = np.random.default_rng(4)
    m, k, n = 256, 300, 200  # large enough for the GEMM and the kernels to split
    x = _rand(rng, (m, k), dtype)
    w = _rand(rng, (k, n), dtype, 0.05)
    b = _rand(rng, (n,), dtype)
    dy = _rand(rng, (m, n), dtype)

    def run():
        y = NATIVE.dense_forward(x, w, b, "tanh", out=np.empty((m, n), dtype=dtype))
        return (y,) + NATIVE.dense_backward(
            x, w, y, dy, "tanh", out_dx=np.empty((m, k), dtype=dtype),
            out_dw=np.empty((k, n), dtype=dtype), out_db=np.empty(n, dtype=dtype))

    for a, b2 in zip(run_on(1, run), run_on(2, run)):
        np.testing.assert_array_equal(a, b2)


# ---------------------------------------------------------------------- fused losses


# The entry of each fused loss.
ENTRIES = {"bce": _ew.sigmoid_bce, "dense": _ew.softmax_xent_dense,
           "sparse": _ew.softmax_xent_sparse}


def _loss_case(rng, kind, dtype, n, k):
    logits = _rand(rng, (n, k), dtype, 3.0)
    if kind == "sparse":
        target = rng.integers(0, k, n).astype(np.int64)
    elif kind == "dense":
        target = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    else:
        target = (rng.random((n, k)) < 0.5).astype(dtype)
    scale = np.full(n, 1.0 / n, dtype=dtype)
    return logits, target, scale


def _native_loss(kind, *args, **kwargs):
    if kind == "bce":
        return NATIVE.sigmoid_binary_crossentropy(*args, **kwargs)
    return NATIVE.softmax_crossentropy(args[0], args[1], kind == "sparse", *args[2:],
                                       **kwargs)


def _numpy_loss(kind, *args, **kwargs):
    if kind == "bce":
        return NUMPY.sigmoid_binary_crossentropy(*args, **kwargs)
    return NUMPY.softmax_crossentropy(args[0], args[1], kind == "sparse", *args[2:],
                                      **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["bce", "dense", "sparse"])
@pytest.mark.parametrize("n,k", [(1, 1), (32, 1), (17, 10), (1000, 3)])
def test_losses_through_their_entries(nthreads, dtype, kind, n, k, monkeypatch):
    if kind != "bce" and k == 1:
        k = 2
    rng = np.random.default_rng(n + k)
    logits, target, scale = _loss_case(rng, kind, dtype, n, k)
    calls = []
    real = ENTRIES[kind]
    monkeypatch.setattr(_ew, real.__name__, lambda *a: calls.append(real(*a)) or calls[-1])
    loss, grad = _native_loss(kind, logits, target, scale)
    assert calls == [0]  # the ndarray entry answered
    ref_loss, ref_grad = _numpy_loss(kind, logits, target, scale)
    np.testing.assert_allclose(loss, ref_loss, **_tol(dtype, k))
    np.testing.assert_allclose(grad, ref_grad, **_tol(dtype, k))
    loss_only, none = _native_loss(kind, logits, target)
    assert none is None
    np.testing.assert_array_equal(loss_only, loss)
    # the gradient may overwrite the logits
    z = logits.copy()
    _, g = _native_loss(kind, z, target, scale, out_grad=z)
    assert g is z
    np.testing.assert_array_equal(z, grad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_entries_refusals(dtype):
    rng = np.random.default_rng(5)
    logits, target, scale = _loss_case(rng, "dense", dtype, 6, 4)
    loss = np.full(6, 9.0, dtype=dtype)
    grad = np.full((6, 4), 9.0, dtype=dtype)
    bce, dense, sparse = "bce", "dense", "sparse"
    other = np.float64 if dtype == np.float32 else np.float32
    labels = np.arange(6, dtype=np.int64) % 4
    cases = [
        (dense, logits, target, scale, loss, None),             # grad_scale w/o grad
        (dense, logits, target, None, loss, grad),              # grad w/o grad_scale
        (dense, logits.astype(other), target, scale, loss, grad),
        (dense, logits, target.astype(other), scale, loss, grad),
        (dense, logits, target, scale.astype(other), loss, grad),
        (dense, logits, target[:, :3], scale, loss, grad),
        (dense, logits, target, scale[:5], loss, grad),
        (dense, logits, target, scale, loss[:5], grad),
        (dense, np.asfortranarray(logits), target, scale, loss, grad),
        (dense, logits[:0], target[:0], scale[:0], loss[:0], grad[:0]),  # n = 0
        (sparse, logits, labels.astype(np.int32), scale, loss, grad),   # labels not int64
        (sparse, logits, labels[:5], scale, loss, grad),
        (bce, logits, target, scale, grad[:, 0], grad),          # loss overlaps grad
        (bce, logits, target, scale, loss, np.asarray(target)),  # grad overlaps target
        (bce, logits, target, scale, loss, grad[::-1]),          # F/negative strides
    ]
    for args in cases:
        before = (loss.copy(), grad.copy())
        assert ENTRIES[args[0]](*args[1:], 1) == NOT_TAKEN
        np.testing.assert_array_equal(loss, before[0])
        np.testing.assert_array_equal(grad, before[1])
    # a label outside [0, k): BAD_LABEL, and NativeOps behaves as NumpyOps (wraps / raises)
    bad = labels.copy()
    bad[2] = 4
    assert _ew.softmax_xent_sparse(logits, bad, scale, loss, grad, 1) == _ew.BAD_LABEL
    with pytest.raises(IndexError):
        NUMPY.softmax_crossentropy(logits, bad, True, scale)
    with pytest.raises(IndexError):
        NATIVE.softmax_crossentropy(logits, bad, True, scale)


# ---------------------------------------------------------------------- multi-tensor updates
# Every rule in every variant (tests/rule_variants.py); test_variants_cover_every_rule
# keeps that list complete when a rule or a switch is added.
VARIANT_IDS = [f"{r.kernel}-{i}" for i, r in enumerate(VARIANTS)]
SHAPES = [(7, 3), (3,), (1,), (0, 4), (129, 17), (40000,)]
# Slot starting values: a centered RMSprop's running mean stays small beside its
# velocity (v - a^2 > 0); Adagrad's accumulator starts above 0.
FILLS = {"accumulator": 0.1, "velocity": 1.0}


def _multi_case(rng, dtype, rule, shapes=SHAPES):
    params = [_rand(rng, s, dtype) for s in shapes]
    grads = [_rand(rng, s, dtype) for s in shapes]
    used = {name for name, _ in rule.slots()}
    slots = tuple(
        [np.abs(_rand(rng, s, dtype, 0.1 if name == "average_gradient" else 1.0))
         + FILLS.get(name, 0.0) for s in shapes] if name in used else None
        for name in rule.SLOTS)
    return params, grads, slots


def _copy_case(params, grads, slots):
    return ([p.copy() for p in params], [g.copy() for g in grads],
            tuple(None if v is None else [a.copy() for a in v] for v in slots))


def _boom(*args, **kwargs):
    raise AssertionError("fell back to NumpyOps.multi_update")


def test_variants_cover_every_rule():
    """Every record type is in VARIANTS, each with its optional slots on and off in every
    combination (and SGD with and without Nesterov)."""
    assert {type(r) for r in VARIANTS} == set(rules.RULES)
    for cls in rules.RULES:
        layouts = {frozenset(name for name, _ in r.slots()) for r in VARIANTS
                   if type(r) is cls}
        optional = set(cls.SLOTS) - frozenset.intersection(*layouts)
        assert len(layouts) == 2 ** len(optional), cls
    assert {r.nesterov for r in VARIANTS if isinstance(r, SGDRule) and r.momentum} == {
        False, True}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule", VARIANTS, ids=VARIANT_IDS)
def test_multi_update_reaches_the_kernel_and_matches_numpy(dtype, rule, monkeypatch):
    """One NativeOps.multi_update on fitting arrays is one native call (NumpyOps' path
    raises here), equal to NumpyOps' step, and the same on 1 and 2 threads."""
    rng = np.random.default_rng(6)
    case = _multi_case(rng, dtype, rule)
    decays = [0.0, 0.01, 0.0, 0.02, 0.0, 0.004]
    scales = [1.0, 0.5, 1.0, 1.0, 0.25, 1.0]
    args = dict(lr=0.01, step=3, clipvalue=0.3)
    ref = _copy_case(*case)
    NUMPY.multi_update(rule, ref[0], ref[1], ref[2], decays, scales, **args)
    results = []
    for nt in (1, 2):
        got = _copy_case(*case)
        monkeypatch.setattr(NumpyOps, "multi_update", _boom)
        run_on(nt, NATIVE.multi_update, rule, got[0], got[1], got[2], decays, scales,
               **args)
        monkeypatch.undo()
        for p, r in zip(got[0], ref[0]):
            np.testing.assert_allclose(p, r, **_tol(dtype, 4))
        for arrays, want in zip(got[2], ref[2]):
            for a, r in zip(arrays or (), want or ()):
                np.testing.assert_allclose(a, r, **_tol(dtype, 4))
        results.append(got)
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(case[1][0], results[0][1][0])  # grads untouched


OPTIMIZERS = [
    lambda: optimizers.SGD(0.05),
    lambda: optimizers.SGD(0.05, momentum=0.9),
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: optimizers.Adagrad(0.05),
    lambda: optimizers.RMSprop(0.01),
    lambda: optimizers.RMSprop(0.01, momentum=0.5),
    lambda: optimizers.RMSprop(0.01, centered=True),
    lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adam(0.01),
    lambda: optimizers.Adam(0.01, amsgrad=True),
    lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    lambda: optimizers.Adam(0.01, clipvalue=0.1),
    lambda: optimizers.SGD(0.05, momentum=0.9, clipnorm=0.5),
]
OPTIMIZER_IDS = ["sgd", "sgd_momentum", "sgd_nesterov", "adagrad", "rmsprop",
                 "rmsprop_momentum", "rmsprop_centered", "rmsprop_both", "adam", "amsgrad",
                 "adamw", "adam_clipvalue", "sgd_clipnorm"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_optimizer_steps_reach_the_kernel(dtype, make, monkeypatch):
    """Each optimizer's own record, as Optimizer.apply hands it over, runs natively
    (a hyperparameter the native side lacked would fall back and raise here) and gives
    NumpyOps' result."""
    rng = np.random.default_rng(8)
    shapes = [(5, 3), (3,), (300,)]
    start = [_rand(rng, s, dtype) for s in shapes]
    grads = [[_rand(rng, s, dtype) for s in shapes] for _ in range(3)]
    finals = []
    for name in ("numpy", "native"):
        params = [p.copy() for p in start]
        opt = make()
        opt.exclude_from_weight_decay(var_list=[params[1]])
        with backend.using(name):
            if name == "native":
                monkeypatch.setattr(NumpyOps, "multi_update", _boom)
            for step_grads in grads:
                opt.apply(step_grads, params)
            monkeypatch.undo()
        finals.append((params, opt.get_state()))
    (want, want_state), (got, got_state) = finals
    for p, r in zip(got, want):
        np.testing.assert_allclose(p, r, **_tol(dtype, 4))
    for key, value in want_state.items():
        np.testing.assert_allclose(got_state[key], value, **_tol(dtype, 4))


def test_a_record_missing_a_field_is_an_error_not_a_fallback():
    """The native entry reads every field it needs from the record: one it lacks is an
    AttributeError, never a quiet NumPy step."""

    @dataclasses.dataclass(frozen=True)
    class NoEpsilon:
        kernel = "adam"
        SLOTS = ("m", "v", "v_hat")
        beta_1: float = 0.9
        beta_2: float = 0.999
        amsgrad: bool = False

    rng = np.random.default_rng(9)
    case = _multi_case(rng, np.float32, AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                                                 amsgrad=False))
    before = _copy_case(*case)
    with pytest.raises(AttributeError, match="epsilon"):
        NATIVE.multi_update(NoEpsilon(), *case, [0.0] * 6, [1.0] * 6, lr=0.01, step=1)
    for p, r in zip(case[0], before[0]):
        np.testing.assert_array_equal(p, r)


@pytest.mark.parametrize("dtype", DTYPES)
def test_native_entry_refuses_what_does_not_fit(dtype):
    """NOT_TAKEN, and nothing updated, for any array the kernels cannot take in place,
    and for a slot the hyperparameters use but the call lacks."""
    rng = np.random.default_rng(7)
    other = np.float64 if dtype == np.float32 else np.float32
    rule = AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)

    def grad_not_c_order(c):
        c[1][0] = np.asfortranarray(c[1][0])

    def slot_of_other_dtype(c):
        c[2][1][4] = c[2][1][4].astype(other)

    def slot_of_other_shape(c):
        c[2][0][0] = c[2][0][0].reshape(-1)

    def read_only_param(c):
        c[0][2].flags.writeable = False

    def read_only_slot(c):
        c[2][1][3].flags.writeable = False

    def byte_swapped_param(c):
        c[0][1] = c[0][1].astype(c[0][1].dtype.newbyteorder())

    def slot_list_too_short(c):
        c[2][0].pop()

    def a_grad_missing(c):
        c[1].pop()

    def not_an_array(c):
        c[1][3] = c[1][3].tolist()

    def params_of_int_dtype(c):
        c[0][:] = [p.astype(np.int64) for p in c[0]]

    spoilers = [grad_not_c_order, slot_of_other_dtype, slot_of_other_shape,
                read_only_param, read_only_slot, byte_swapped_param, slot_list_too_short,
                a_grad_missing, not_an_array, params_of_int_dtype]
    for spoil in spoilers:
        params, grads, slots = _multi_case(rng, dtype, rule)
        slots = tuple(None if v is None else list(v) for v in slots)
        spoil((params, grads, slots))
        before = [np.array(p, copy=True) for p in params]
        status = _opt.adam_update(rule, params, grads, slots, [0.0] * 6, [1.0] * 6, 0.01,
                                  2.0, 0.0, 1)
        assert status == _opt.NOT_TAKEN, spoil.__name__
        for p, r in zip(params, before):  # nothing was updated
            np.testing.assert_array_equal(p, r)
    # slots the rule's switches use but the call lacks: refused in C, nothing updated
    for rule_, slots_of in [
        (AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=True),
         lambda s: (s[0], s[1], None)),
        (SGDRule(momentum=0.9, nesterov=False), lambda s: (None,)),
        (RMSpropRule(rho=0.9, momentum=0.5, epsilon=1e-7, centered=False),
         lambda s: (s[0], None, None)),
        (RMSpropRule(rho=0.9, momentum=0.0, epsilon=1e-7, centered=True),
         lambda s: (s[0], None, None)),
    ]:
        params, grads, slots = _multi_case(rng, dtype, rule_)
        before = [p.copy() for p in params]
        entry = getattr(_opt, rule_.kernel + "_update")
        assert entry(rule_, params, grads, slots_of(slots), [0.0] * 6, [1.0] * 6, 0.01, 1.0,
                     0.0, 1) == _opt.NOT_TAKEN
        for p, r in zip(params, before):
            np.testing.assert_array_equal(p, r)
    # an empty step is NumpyOps' (a no-op there too)
    assert _opt.sgd_update(SGDRule(momentum=0.0, nesterov=False), [], [], (None,), [], [],
                           0.01, 1.0, 0.0, 1) == _opt.NOT_TAKEN


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_update_falls_back_when_an_array_does_not_fit(dtype):
    """NativeOps answers a list the kernels refuse through NumpyOps, correctly."""
    rng = np.random.default_rng(10)
    rule = AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)
    case = _multi_case(rng, dtype, rule)
    ref = _copy_case(*case)
    case[1][0] = np.asfortranarray(case[1][0])
    args = dict(lr=0.01, step=2, clipvalue=0.0)
    NATIVE.multi_update(rule, *case, [0.0] * 6, [1.0] * 6, **args)
    NUMPY.multi_update(rule, *ref, [0.0] * 6, [1.0] * 6, **args)
    for p, r in zip(case[0], ref[0]):
        np.testing.assert_allclose(p, r, **_tol(dtype, 4))
