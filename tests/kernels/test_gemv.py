"""The batch-1 path: one row through a dense layer goes to the GEMV (csrc/gemm/gemv.c).

What these prove: ``_gemm.gemm`` with m == 1 and a row-major weight (the dense forward
of one sample) matches NumpyOps in both dtypes on 1 and 2 threads, with awkward n and k
(below, at and past the GEMV's 64-column block and its 4 KiB chunk of sums; k = 0,
k below and past a multiple of the 4 rows a sweep takes), bias or none, every fused
activation, strided x and out; on every GEMM kernel (the GEMV follows the GEMM's choice:
portable runs the portable variant, avx2-fma and avx512 the AVX2 one); results identical across thread counts; and that the one-row
product really takes the GEMV (its fused multiply-adds round differently from NumPy's
separate ones on the AVX2 variant, and identically on the portable one).
"""

import numpy as np
import pytest

from fastnn.backend import activations as act_table
from fastnn.backend.numpy_ops import NumpyOps
from numthreads import num_threads

_gemm = pytest.importorskip("fastnn._native._gemm")
from fastnn.backend.native_ops import NativeOps  # noqa: E402

NATIVE = NativeOps()
NUMPY = NumpyOps()
DTYPES = [np.float32, np.float64]
ACTS = [a for a in act_table.ACTIVATIONS if a != "softmax"]



def _tol(dtype, k):
    eps = np.finfo(dtype).eps
    return dict(rtol=16 * eps * max(k, 1) ** 0.5, atol=16 * eps * max(k, 1))


def _rand(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 129, 500, 1100])
@pytest.mark.parametrize("k", [0, 1, 2, 3, 5, 784])
def test_one_row_matches_numpy(nthreads, kernel, dtype, n, k):
    rng = np.random.default_rng(n + 1009 * k)
    x = _rand(rng, (1, k), dtype)
    w = _rand(rng, (k, n), dtype, 1 / np.sqrt(max(k, 1)))
    b = _rand(rng, (n,), dtype)
    for bias in (b, None):
        got = NATIVE.dense_forward(x, w, bias, "relu", out=np.full((1, n), np.nan, dtype))
        np.testing.assert_allclose(got, NUMPY.dense_forward(x, w, bias, "relu"),
                                   **_tol(dtype, k))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTS)
def test_every_fused_activation(kernel, dtype, activation):
    rng = np.random.default_rng(5)
    k, n = 37, 130
    x = _rand(rng, (1, k), dtype)
    w = _rand(rng, (k, n), dtype, 1 / np.sqrt(k))
    b = _rand(rng, (n,), dtype)
    code = _gemm.ACTIVATION_CODES[activation]
    alpha = act_table.resolve_alpha(activation, None)
    out = np.full((1, n), np.nan, dtype)
    assert _gemm.gemm(x, w, out, b, code, alpha, False, 1) == _gemm.OK
    np.testing.assert_allclose(out, NUMPY.dense_forward(x, w, b, activation), **_tol(dtype, k))


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_row_and_out(kernel, dtype):
    """x a column of a matrix (inc_x > 1), out a column too (inc_y > 1)."""
    rng = np.random.default_rng(7)
    k, n = 100, 70
    xs = _rand(rng, (k, 3), dtype)
    w = _rand(rng, (k, n), dtype, 0.1)
    b = _rand(rng, (n,), dtype)
    x = xs[:, 1:2].T  # (1, k) with a column stride of 3 elements
    out_buf = np.full((n, 2), np.nan, dtype)
    out = out_buf[:, :1].T
    assert _gemm.gemm(x, w, out, b, _gemm.ACTIVATION_CODES["tanh"], 0.0, False, 2) == 0
    np.testing.assert_allclose(out, NUMPY.dense_forward(np.ascontiguousarray(x), w, b, "tanh"),
                               **_tol(dtype, k))
    assert np.isnan(out_buf[:, 1]).all()  # nothing written beside the strided out


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_on_1_and_2_threads(kernel, dtype):
    """The 784 x 500 layer is big enough to split its column blocks over two threads."""
    rng = np.random.default_rng(3)
    x = _rand(rng, (1, 784), dtype)
    w = _rand(rng, (784, 500), dtype, 0.05)
    b = _rand(rng, (500,), dtype)
    outs = []
    for nt in (1, 2):
        with num_threads(nt):
            outs.append(NATIVE.dense_forward(x, w, b, "relu"))
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("k, n", [(1000, 65), (1003, 1100)])
def test_one_row_takes_the_gemv(k, n):
    """The GEMV computes each output as one multiply-add chain over k: on the portable
    kernel with separate roundings, so exactly the sequential float32 sum; on AVX2 with
    fused multiply-adds, exactly the sequential sum of fma's.  The GEMM would block k.
    (1003, 1100): a k that leaves 3 rows after the 4-row sweeps, and columns past one
    chunk of sums."""
    rng = np.random.default_rng(11)
    x = _rand(rng, (1, k), np.float32)
    w = _rand(rng, (k, n), np.float32)
    before = _gemm.kernel_name()
    for name in _gemm.KERNEL_NAMES:
        if not _gemm.select_kernel(name):
            continue
        try:
            out = np.empty((1, n), np.float32)
            assert _gemm.gemm(x, w, out, None, _gemm.ACTIVATION_CODES["linear"], 0.0,
                              False, 1) == 0
        finally:
            assert _gemm.select_kernel(before)
        want = np.zeros(n, np.float32)
        for p in range(k):
            if name == "portable":
                want = want + x[0, p] * w[p]
            else:  # a fused multiply-add: the exact product (48 bits), one rounding
                want = (np.longdouble(x[0, p]) * w[p].astype(np.longdouble)
                        + want.astype(np.longdouble)).astype(np.float32)
        np.testing.assert_array_equal(out[0], want)


def test_batch_1_predict_matches_numpy_backend():
    """model.predict_on_batch and model(x) on one row, native against NumpyOps."""
    import fastnn
    from fastnn import backend, layers

    preds = {}
    for name in ("numpy", "native"):
        with backend.using(name):
            fastnn.utils.set_random_seed(0)
            model = fastnn.Sequential([layers.Input(shape=(784,)),
                                       layers.Dense(500, activation="relu"),
                                       layers.Dense(500, activation="relu"),
                                       layers.Dense(10, activation="softmax")])
            x = np.random.default_rng(1).standard_normal((1, 784)).astype(np.float32)
            preds[name] = (model.predict_on_batch(x), model(x))
    for got in preds["native"]:
        np.testing.assert_allclose(got, preds["numpy"][0], rtol=1e-5, atol=1e-6)
