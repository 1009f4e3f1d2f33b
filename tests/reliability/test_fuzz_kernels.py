"""Fuzzed kernels: every NativeOps primitive against NumpyOps (the reference) on random
shapes (0, 1, and sizes around the GEMM and vector tile edges), strides, layouts
(transposed, sliced, Fortran, read-only, unaligned), dtypes, aliasing ``out=`` buffers
and thread counts.

The same tests are the long run under AddressSanitizer: ``tools/asan.sh`` builds the
extension with ``-fsanitize=address`` into a separate directory and runs this file with
``FASTNN_FUZZ_EXAMPLES`` raised (see docs/reliability.md).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn import backend
from fastnn.backend import activations as _act
from numthreads import num_threads
from rule_variants import VARIANTS

pytestmark = pytest.mark.skipif(not backend.native_available(),
                                reason="native backend not built")

FAST = int(os.environ.get("FASTNN_FUZZ_EXAMPLES", "30"))
LONG = int(os.environ.get("FASTNN_FUZZ_LONG_EXAMPLES", "1000"))
SIZES = [0, 1, 2, 3, 5, 6, 7, 8, 15, 16, 17, 31, 33, 64, 65]
CASES = {"count": 0}


def _settings(n):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def ops():
    return backend.get("numpy"), backend.get("native")


def _tol(dtype):
    return (2e-4, 2e-5) if np.dtype(dtype) == np.float32 else (1e-10, 1e-12)


def assert_close(got, want, dtype, scale=1.0):
    rtol, atol = _tol(dtype)
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol * 10, atol=atol * 10 * scale,
                               equal_nan=True)


def _pair(ref_call, nat_call, nt):
    """(reference result, native result); when the reference refuses the input (an
    empty softmax row, ...), the native backend must refuse it the same way."""
    try:
        want = ref_call()
    except (ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
        with num_threads(nt), pytest.raises(type(exc)):
            nat_call()
        return None, None
    with num_threads(nt):
        return want, nat_call()


@st.composite
def layout(draw, shape, dtype, low=-3.0, high=3.0):
    """An array of ``shape`` in a random layout; values uniform in [low, high]."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["c", "c", "c", "transposed", "sliced", "fortran",
                                 "readonly", "unaligned", "negative"]))
    base = rng.uniform(low, high, size=shape).astype(dtype)
    if kind == "transposed" and len(shape) == 2:
        return np.ascontiguousarray(base.T).T
    if kind == "sliced" and len(shape) >= 1:
        big = rng.uniform(low, high, size=(shape[0] * 2 + 1,) + tuple(shape[1:])).astype(dtype)
        big[1::2] = base
        return big[1::2]
    if kind == "fortran":
        return np.asfortranarray(base)
    if kind == "readonly":
        base.flags.writeable = False
        return base
    if kind == "unaligned" and base.size:
        raw = np.zeros(base.nbytes + 1, dtype=np.uint8)
        arr = np.frombuffer(raw.data, dtype=base.dtype, count=base.size, offset=1)
        arr = arr.reshape(shape)
        arr[...] = base
        return arr
    if kind == "negative" and len(shape) >= 1:
        return np.ascontiguousarray(base[::-1])[::-1]
    return base


dtypes = st.sampled_from(["float32", "float64"])
sizes = st.sampled_from(SIZES)
threads = st.sampled_from([1, 2, 3])


# ----------------------------------------------------------------- GEMM family
@st.composite
def matmul_case(draw):
    m, k, n = draw(sizes), draw(sizes), draw(sizes)
    dtype = draw(dtypes)
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a = draw(layout((k, m) if ta else (m, k), dtype))
    b = draw(layout((n, k) if tb else (k, n), dtype))
    out = draw(st.sampled_from(["none", "buffer", "strided"]))
    return a, b, ta, tb, out, draw(threads)


def run_matmul(ops, case):
    ref, nat = ops
    a, b, ta, tb, out_kind, nt = case
    CASES["count"] += 1
    m = a.shape[1] if ta else a.shape[0]
    n = b.shape[0] if tb else b.shape[1]
    want = ref.matmul(a, b, ta, tb)
    out = None
    if out_kind == "buffer":
        out = np.full((m, n), np.nan, dtype=want.dtype)
    elif out_kind == "strided":
        out = np.full((m, 2 * n), np.nan, dtype=want.dtype)[:, ::2]
    with num_threads(nt):
        got = nat.matmul(a, b, ta, tb, out=out)
    if out is not None:
        assert got is out
    assert_close(got, want, a.dtype, scale=max(a.shape[0], 1))


@st.composite
def dense_case(draw):
    m, k, n = draw(sizes), draw(sizes), draw(sizes)
    dtype = draw(dtypes)
    x = draw(layout((m, k), dtype))
    w = draw(layout((k, n), dtype))
    b = draw(st.one_of(st.none(), layout((n,), dtype)))
    act = draw(st.sampled_from(_act.ACTIVATIONS))
    return x, w, b, act, draw(threads)


def run_dense(ops, case):
    ref, nat = ops
    x, w, b, act, nt = case
    CASES["count"] += 1
    if act == "softmax" and w.shape[1] == 0:
        return
    want, got = _pair(lambda: ref.dense_forward(x, w, b, act),
                      lambda: nat.dense_forward(x, w, b, act), nt)
    if want is None:
        return
    assert_close(got, want, x.dtype, scale=max(x.shape[1], 1))
    # backward from the reference output
    rng = np.random.default_rng(0)
    dy = rng.uniform(-1, 1, size=want.shape).astype(x.dtype)
    if act in _act.NEEDS_INPUT or act == "softmax":
        return  # dense_backward takes the derivative from y: not for these
    want_b = ref.dense_backward(x, w, want, dy, act, has_bias=b is not None)
    with num_threads(nt):
        got_b = nat.dense_backward(x, w, want, dy, act, has_bias=b is not None)
    for g, r in zip(got_b, want_b):
        if r is None:
            assert g is None
        else:
            assert_close(g, r, x.dtype, scale=max(x.shape[0], x.shape[1], 1))


@st.composite
def bias_case(draw):
    m, n = draw(sizes), draw(sizes)
    dtype = draw(dtypes)
    return draw(layout((m, n), dtype)), draw(threads)


def run_bias(ops, case):
    ref, nat = ops
    dz, nt = case
    CASES["count"] += 1
    with num_threads(nt):
        got = nat.bias_grad(dz)
    assert_close(got, ref.bias_grad(dz), dz.dtype, scale=max(dz.shape[0], 1))


# ----------------------------------------------------------------- element-wise
@st.composite
def activation_case(draw):
    shape = tuple(draw(st.lists(sizes, min_size=1, max_size=3)))
    dtype = draw(dtypes)
    act = draw(st.sampled_from(_act.ACTIVATIONS))
    x = draw(layout(shape, dtype, -30.0, 30.0))
    alias = draw(st.booleans())
    return x, act, alias, draw(threads)


def run_activation(ops, case):
    ref, nat = ops
    x, act, alias, nt = case
    CASES["count"] += 1
    with np.errstate(all="ignore"):
        xin = x.copy() if alias else x
        out = xin if (alias and xin.flags.writeable) else None
        want, got = _pair(lambda: ref.activation_forward(x, act),
                          lambda: nat.activation_forward(xin, act, out=out), nt)
        if want is None:
            return
        assert_close(got, want, x.dtype)
        rng = np.random.default_rng(1)
        dy = rng.uniform(-1, 1, size=x.shape).astype(x.dtype)
        kw = {"x": x} if act in _act.NEEDS_INPUT else {}
        want_b = ref.activation_backward(dy, want, act, **kw)
        with num_threads(nt):
            got_b = nat.activation_backward(dy, want, act, **kw)
        assert_close(got_b, want_b, x.dtype)


@st.composite
def softmax_case(draw):
    rows, cols = draw(sizes), draw(sizes)
    dtype = draw(dtypes)
    scale = draw(st.sampled_from([1.0, 100.0, 1e4]))
    return draw(layout((rows, cols), dtype, -scale, scale)), draw(threads)


def run_softmax(ops, case):
    ref, nat = ops
    x, nt = case
    CASES["count"] += 1
    with np.errstate(all="ignore"):
        want, got = _pair(lambda: ref.softmax(x), lambda: nat.softmax(x), nt)
    if want is not None:
        assert_close(got, want, x.dtype)


@st.composite
def loss_case(draw):
    rows, cols = draw(sizes), draw(st.sampled_from([s for s in SIZES if s]))
    dtype = draw(dtypes)
    scale = draw(st.sampled_from([1.0, 50.0, 1e4]))
    logits = draw(layout((rows, cols), dtype, -scale, scale))
    which = draw(st.sampled_from(["sparse", "dense", "bce"]))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    if which == "sparse":
        target = rng.integers(0, cols, rows).astype(draw(st.sampled_from(["int64", "int32",
                                                                         "float32"])))
    elif which == "dense":
        target = np.eye(cols, dtype=dtype)[rng.integers(0, cols, rows)]
    else:
        target = rng.integers(0, 2, (rows, cols)).astype(dtype)
    gs = draw(st.one_of(st.none(), st.just(np.full(rows, 1.0 / max(rows, 1)))))
    return logits, target, which, gs, draw(threads)


def run_loss(ops, case):
    ref, nat = ops
    logits, target, which, gs, nt = case
    CASES["count"] += 1
    with np.errstate(all="ignore"):
        if which == "bce":
            want = ref.sigmoid_binary_crossentropy(logits, target, gs)
            with num_threads(nt):
                got = nat.sigmoid_binary_crossentropy(logits, target, gs)
        else:
            want = ref.softmax_crossentropy(logits, target, which == "sparse", gs)
            with num_threads(nt):
                got = nat.softmax_crossentropy(logits, target, which == "sparse", gs)
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        else:
            assert np.isfinite(g).all()
            assert_close(g, w, logits.dtype, scale=float(np.abs(logits).max(initial=1)))


@st.composite
def sum_squares_case(draw):
    shape = tuple(draw(st.lists(sizes, min_size=1, max_size=3)))
    return draw(layout(shape, draw(dtypes))), draw(threads)


def run_sum_squares(ops, case):
    ref, nat = ops
    x, nt = case
    CASES["count"] += 1
    with num_threads(nt):
        got = nat.sum_squares(x)
    want = ref.sum_squares(x)
    np.testing.assert_allclose(got, want, rtol=_tol(x.dtype)[0] * 10)


# ----------------------------------------------------------------- optimizers


@st.composite
def optimizer_case(draw, rule=None):
    """One variable's update: (rule, step arguments, param, grad, slots, threads), the
    slots by name for every name of rule.SLOTS (used or not)."""
    rule = draw(st.sampled_from(VARIANTS)) if rule is None else rule
    shape = tuple(draw(st.lists(sizes, min_size=1, max_size=2)))
    dtype = draw(dtypes)
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    param = rng.normal(size=shape).astype(dtype)
    if draw(st.integers(0, 4)) == 0 and len(shape) == 2:
        param = np.asfortranarray(param)  # not updatable in place by the kernel
    grad = draw(layout(shape, dtype))
    slots = {s: np.abs(rng.normal(size=shape)).astype(dtype) for s in rule.SLOTS}
    if "average_gradient" in slots:  # a reachable state: mean(g)^2 <= mean(g^2)
        slots["average_gradient"] = (np.sqrt(slots["velocity"]) * 0.5).astype(dtype)
    hyper = dict(lr=draw(st.sampled_from([1e-3, 0.1, 1.0])),
                 weight_decay=draw(st.sampled_from([0.0, 0.01])),
                 grad_scale=draw(st.sampled_from([1.0, 0.5])),
                 clipvalue=draw(st.sampled_from([0.0, 0.1])),
                 step=draw(st.sampled_from([1, 7])))
    return rule, hyper, param, grad, slots, draw(threads)


def run_optimizer(ops, case):
    """One variable's update (a one-variable multi_update)."""
    run_multi_update(ops, [case])


def run_multi_update(ops, cases):
    """All variables of one step in one call, params and slots against NumpyOps."""
    ref, nat = ops
    rule, hyper = cases[0][0], dict(cases[0][1])
    used = {s for s, _ in rule.slots()}
    params = [case[2] for case in cases]
    grads = [case[3] for case in cases]
    slots = tuple([case[4][s] for case in cases] if s in used else None
                  for s in rule.SLOTS)
    wd = [hyper.pop("weight_decay")] * len(params)
    gs = [hyper.pop("grad_scale")] * len(params)
    CASES["count"] += 1

    def copy_all():
        return ([p.copy(order="K") for p in params],
                tuple(None if v is None else [a.copy() for a in v] for v in slots))

    p_ref, s_ref = copy_all()
    p_nat, s_nat = copy_all()
    ref.multi_update(rule, p_ref, grads, s_ref, wd, gs, **hyper)
    with num_threads(cases[0][-1]):
        nat.multi_update(rule, p_nat, grads, s_nat, wd, gs, **hyper)
    for a, b in zip(p_nat, p_ref):
        assert_close(a, b, a.dtype)
    for got, want in zip(s_nat, s_ref):
        for a, b in zip(got or (), want or ()):
            assert_close(a, b, a.dtype)


@st.composite
def multi_case(draw):
    first = draw(optimizer_case())
    rest = [draw(optimizer_case(rule=first[0])) for _ in range(draw(st.integers(0, 3)))]
    return [first] + [(first[0], first[1]) + case[2:] for case in rest]


# ----------------------------------------------------------------- dropout
@st.composite
def dropout_case(draw):
    shape = tuple(draw(st.lists(sizes, min_size=1, max_size=3)))
    rate = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.999]))
    seed = draw(st.sampled_from([0, 1, 2**63 - 1, 2**64 - 1, 12345]))
    stream = draw(st.sampled_from([0, 1, 2**40, 2**64 - 1]))
    return shape, rate, seed, stream, draw(dtypes), draw(threads)


def run_dropout(ops, case):
    ref, nat = ops
    shape, rate, seed, stream, dtype, nt = case
    CASES["count"] += 1
    want = ref.dropout_mask(shape, rate, seed, stream, dtype)
    with num_threads(nt):
        got = nat.dropout_mask(shape, rate, seed, stream, dtype)
    np.testing.assert_array_equal(got, want)


RUNNERS = {
    "matmul": (matmul_case, run_matmul),
    "dense": (dense_case, run_dense),
    "bias_grad": (bias_case, run_bias),
    "activation": (activation_case, run_activation),
    "softmax": (softmax_case, run_softmax),
    "loss": (loss_case, run_loss),
    "sum_squares": (sum_squares_case, run_sum_squares),
    "optimizer": (optimizer_case, run_optimizer),
    "multi_update": (multi_case, run_multi_update),
    "dropout": (dropout_case, run_dropout),
}


def _make(name, n, slow):
    strategy, runner = RUNNERS[name]

    @_settings(n)
    @given(case=strategy())
    def test(ops, case):
        runner(ops, case)

    test.__name__ = f"test_fuzz_{name}" + ("_long" if slow else "")
    return pytest.mark.slow(test) if slow else test


for _name in RUNNERS:
    globals()[f"test_fuzz_{_name}"] = _make(_name, FAST, False)
    globals()[f"test_fuzz_{_name}_long"] = _make(_name, LONG, True)


@pytest.mark.slow
def test_zz_kernel_case_count_report():
    print(f"\n[reliability] fuzz kernel cases={CASES['count']}")
