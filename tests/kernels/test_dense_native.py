"""NativeOps' matmul / dense primitives against the NumpyOps contract.

What these prove: same results (to rounding) as NumpyOps for float32 and float64 with
1 and 2 threads, transposes, awkward shapes (1, 7, 17, 129, 1000; k = 1 and 0; empty
m / n), non-contiguous and read-only inputs, ``out=`` buffers (including ones that alias
an input), bias None, every activation; NumPy fallbacks for what the kernels do not
take; deterministic bias gradients; PyTorch agreement when it is installed.
"""

import numpy as np
import pytest

pytest.importorskip("fastnn._native._gemm")

from numthreads import num_threads  # noqa: E402
from fastnn.backend import activations as act_table  # noqa: E402
from fastnn.backend.native_ops import NativeOps  # noqa: E402
from fastnn.backend.numpy_ops import NumpyOps  # noqa: E402

NATIVE = NativeOps()
NUMPY = NumpyOps()
DTYPES = [np.float32, np.float64]
SIZES = [1, 7, 17, 129, 1000]
# Activations a Dense layer can fuse (gelu / swish need x in backward, tested forward only).
FORWARD_ACTS = [a for a in act_table.ACTIVATIONS]
BACKWARD_ACTS = [a for a in act_table.ACTIVATIONS if a not in act_table.NEEDS_INPUT]


def _tol(dtype, k):
    eps = np.finfo(dtype).eps
    return dict(rtol=16 * eps * max(k, 1) ** 0.5, atol=16 * eps * max(k, 1))


def _close(got, want, dtype, k):
    np.testing.assert_allclose(got, want, **_tol(dtype, k))


def _rand(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


# ---------------------------------------------------------------------- matmul


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", SIZES)
@pytest.mark.parametrize("n", [1, 17, 129])
@pytest.mark.parametrize("k", [0, 1, 7, 300])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_matmul_matches_numpy(nthreads, dtype, m, n, k, ta, tb):
    rng = np.random.default_rng(m + 31 * n + 977 * k)
    a = _rand(rng, (k, m) if ta else (m, k), dtype)
    b = _rand(rng, (n, k) if tb else (k, n), dtype)
    got = NATIVE.matmul(a, b, transpose_a=ta, transpose_b=tb)
    want = NUMPY.matmul(a, b, transpose_a=ta, transpose_b=tb)
    assert got.dtype == want.dtype and got.shape == want.shape
    _close(got, want, dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_out_and_views(nthreads, dtype):
    rng = np.random.default_rng(0)
    a = _rand(rng, (90, 2 * 41), dtype)[::-1, ::2]  # non-contiguous, negative stride
    b = np.asfortranarray(_rand(rng, (41, 33), dtype))
    a.flags.writeable = False
    b.flags.writeable = False
    out = np.full((90, 33), np.nan, dtype=dtype)
    res = NATIVE.matmul(a, b, out=out)
    assert res is out
    _close(out, a @ b, dtype, 41)
    out_f = np.asfortranarray(np.full((90, 33), np.nan, dtype=dtype))
    assert NATIVE.matmul(a, b, out=out_f) is out_f
    _close(out_f, a @ b, dtype, 41)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_out_aliasing_input(nthreads, dtype):
    rng = np.random.default_rng(1)
    a = _rand(rng, (64, 64), dtype)
    b = _rand(rng, (64, 64), dtype)
    want = a @ b
    res = NATIVE.matmul(a, b, out=a)  # numpy semantics: as if computed into a temporary
    assert res is a
    _close(a, want, dtype, 64)


def test_matmul_fallbacks():
    rng = np.random.default_rng(2)
    a32 = _rand(rng, (5, 4), np.float32)
    b64 = _rand(rng, (4, 3), np.float64)
    np.testing.assert_array_equal(NATIVE.matmul(a32, b64), a32 @ b64)  # mixed dtypes
    ai = np.arange(20).reshape(5, 4)
    bi = np.arange(12).reshape(4, 3)
    np.testing.assert_array_equal(NATIVE.matmul(ai, bi), ai @ bi)  # integers
    v = b64[:, 0].copy()
    np.testing.assert_allclose(NATIVE.matmul(b64.T, v), b64.T @ v)  # 1-D
    with pytest.raises(ValueError):
        NATIVE.matmul(a32, a32)  # bad shapes: NumPy's error
    out = np.empty((5, 3), dtype=np.float64)
    NATIVE.matmul(a32.astype(np.float64), b64, out=out)
    np.testing.assert_allclose(out, a32.astype(np.float64) @ b64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_empty(dtype):
    for m, n, k in [(0, 5, 3), (5, 0, 3), (0, 0, 0), (4, 6, 0)]:
        a = np.ones((m, k), dtype=dtype)
        b = np.ones((k, n), dtype=dtype)
        got = NATIVE.matmul(a, b)
        assert got.shape == (m, n) and got.dtype == dtype
        np.testing.assert_array_equal(got, np.zeros((m, n), dtype=dtype))


# ---------------------------------------------------------------------- dense_forward


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", FORWARD_ACTS)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 1, 1), (17, 129, 7), (129, 17, 300), (1000, 10, 64)])
def test_dense_forward(nthreads, dtype, activation, with_bias, shape):
    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    x = _rand(rng, (m, k), dtype)
    w = _rand(rng, (k, n), dtype, scale=1.0 / np.sqrt(k))
    b = _rand(rng, (n,), dtype) if with_bias else None
    got = NATIVE.dense_forward(x, w, b, activation)
    want = NUMPY.dense_forward(x, w, b, activation)
    assert got.dtype == dtype and got.shape == (m, n)
    _close(got, want, dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_out_alpha_k0(nthreads, dtype):
    rng = np.random.default_rng(3)
    x = _rand(rng, (33, 20), dtype)[:, ::2]  # non-contiguous x
    w = _rand(rng, (10, 19), dtype)
    b = _rand(rng, (19,), dtype)
    out = np.empty((33, 19), dtype=dtype)
    for activation, alpha in [("leaky_relu", 0.05), ("elu", 0.5), ("leaky_relu", None)]:
        res = NATIVE.dense_forward(x, w, b, activation, out=out, alpha=alpha)
        assert res is out
        _close(out, NUMPY.dense_forward(x, w, b, activation, alpha=alpha), dtype, 10)
    x0 = np.empty((4, 0), dtype=dtype)
    w0 = np.empty((0, 19), dtype=dtype)
    for activation in ("linear", "sigmoid", "softmax"):
        _close(NATIVE.dense_forward(x0, w0, b, activation),
               NUMPY.dense_forward(x0, w0, b, activation), dtype, 1)


def test_dense_forward_errors_and_fallbacks():
    rng = np.random.default_rng(4)
    x = _rand(rng, (3, 4), np.float32)
    w = _rand(rng, (4, 5), np.float32)
    with pytest.raises(ValueError):
        NATIVE.dense_forward(x, w, None, "no_such_activation")
    b64 = np.zeros(5)
    np.testing.assert_allclose(NATIVE.dense_forward(x, w, b64, "relu"),
                               NUMPY.dense_forward(x, w, b64, "relu"), rtol=1e-6)


# ---------------------------------------------------------------------- dense_backward


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", BACKWARD_ACTS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (17, 129, 7), (128, 784, 500), (1000, 7, 17)])
def test_dense_backward(nthreads, dtype, activation, shape):
    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    x = _rand(rng, (m, k), dtype)
    w = _rand(rng, (k, n), dtype, scale=1.0 / np.sqrt(k))
    b = _rand(rng, (n,), dtype)
    y = NUMPY.dense_forward(x, w, b, activation)
    dy = _rand(rng, (m, n), dtype)
    dy_before = dy.copy()
    got = NATIVE.dense_backward(x, w, y, dy, activation)
    want = NUMPY.dense_backward(x, w, y, dy, activation)
    np.testing.assert_array_equal(dy, dy_before)
    for g, r, depth in zip(got, want, (n, m, m)):
        assert g.dtype == dtype and g.shape == r.shape
        _close(g, r, dtype, depth)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_backward_buffers_and_flags(nthreads, dtype):
    rng = np.random.default_rng(5)
    m, k, n = 37, 29, 23
    x = _rand(rng, (m, k), dtype)
    w = _rand(rng, (k, n), dtype)
    y = NUMPY.dense_forward(x, w, None, "tanh")
    out_dx = np.empty((m, k), dtype=dtype)
    out_dw = np.empty((k, n), dtype=dtype)
    out_db = np.empty((n,), dtype=dtype)
    for step in range(2):  # the second step reuses the dz scratch buffer
        dy = _rand(rng, (m, n), dtype)
        dx, dw, db = NATIVE.dense_backward(x, w, y, dy, "tanh", out_dx=out_dx,
                                           out_dw=out_dw, out_db=out_db)
        assert dx is out_dx and dw is out_dw and db is out_db
        for g, r in zip((dx, dw, db), NUMPY.dense_backward(x, w, y, dy, "tanh")):
            _close(g, r, dtype, m)
    dx, dw, db = NATIVE.dense_backward(x, w, y, dy, "tanh", has_bias=False, need_dx=False)
    assert dx is None and db is None
    with pytest.raises(ValueError):
        NATIVE.dense_backward(x, w, y, dy, "gelu")  # needs x, like NumpyOps


# ---------------------------------------------------------------------- bias_grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n", [(1, 1), (7, 17), (1000, 129), (129, 1000), (0, 5), (5, 0)])
def test_bias_grad(dtype, m, n):
    rng = np.random.default_rng(6)
    dz = _rand(rng, (m, n), dtype)
    results = []
    for nt in (1, 2):
        with num_threads(nt):
            for view in (dz, np.asfortranarray(dz)):
                out = np.full(n, np.nan, dtype=dtype)
                assert NATIVE.bias_grad(view, out=out) is out
                results.append(out)
                results.append(NATIVE.bias_grad(view))
    for r in results:
        assert r.dtype == dtype and np.array_equal(r, results[0])
    _close(results[0], NUMPY.bias_grad(dz), dtype, m)


# ---------------------------------------------------------------------- PyTorch oracle


@pytest.mark.torch
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "linear"])
def test_dense_against_torch(activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = _rand(rng, (64, 50), np.float64)
    w = _rand(rng, (50, 30), np.float64)
    b = _rand(rng, (30,), np.float64)
    dy = _rand(rng, (64, 30), np.float64)
    y = NATIVE.dense_forward(x, w, b, activation)
    dx, dw, db = NATIVE.dense_backward(x, w, y, dy, activation)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    tz = tx @ tw + tb
    ty = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
          "linear": lambda t: t}[activation](tz)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for g, t in ((dx, tx), (dw, tw), (db, tb)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-11, atol=1e-11)
