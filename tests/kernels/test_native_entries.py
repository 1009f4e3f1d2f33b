"""The array contract of the element-wise entries and of the copy helper.

Each Cython entry checks its ndarrays itself (fastnn/_native/_arrays.pxi): what it takes
it computes as NumpyOps does (float32 and float64, 1 and 2 threads), what it refuses
(other or mixed dtypes, byte-swapped, strided, read-only, wrong shape, an output that
partly overlaps an input, a subclass) it leaves untouched and answers NOT_TAKEN.
``native_ops._through_copies`` keeps odd-strided and overlapping GEMM / column-sum
arguments on the kernels.
"""

import numpy as np
import pytest

from fastnn.backend.numpy_ops import NumpyOps

_gemm = pytest.importorskip("fastnn._native._gemm")
_ew = pytest.importorskip("fastnn._native._elementwise")
from fastnn.backend import native_ops  # noqa: E402

NUMPY = NumpyOps()
DTYPES = [np.float32, np.float64]
TANH = _ew.ACTIVATION_CODES["tanh"]
SWISH = _ew.ACTIVATION_CODES["swish"]


def test_one_status_enum():
    codes = (_ew.OK, _ew.NO_MEMORY, _ew.BAD_LABEL, _ew.NOT_TAKEN)
    assert len(set(codes)) == 4 and _ew.OK == 0
    assert codes == (_gemm.OK, _gemm.NO_MEMORY, _gemm.BAD_LABEL, _gemm.NOT_TAKEN)
    assert _ew.ACTIVATION_CODES == _gemm.ACTIVATION_CODES


def _entries(nthreads):
    """name -> (call(x, out), reference(x)) for the one-input element-wise entries."""
    return {
        "act_forward": (lambda x, out: _ew.act_forward(TANH, 0.0, x, out, nthreads),
                        lambda x: np.tanh(x)),
        "act_backward": (lambda x, out: _ew.act_backward(SWISH, 0.0, x, x, x, out,
                                                         nthreads),
                         lambda x: NUMPY.activation_backward(x, x, "swish", x=x)),
        "softmax": (lambda x, out: _ew.softmax(x, out, nthreads), NUMPY.softmax),
        "softmax_backward": (lambda x, out: _ew.softmax_backward(x, x, out, nthreads),
                             lambda x: NUMPY.activation_backward(x, x, "softmax")),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["act_forward", "act_backward", "softmax",
                                  "softmax_backward"])
def test_elementwise_entry_contract(nthreads, dtype, name):
    call, reference = _entries(nthreads)[name]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 7)).astype(dtype)
    out = np.full_like(x, np.nan)
    assert call(x, out) == _ew.OK
    tol = 64 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, reference(x), rtol=tol, atol=tol)
    # out may be exactly the input (read before written): same result
    same = x.copy()
    assert call(same, same) == _ew.OK
    np.testing.assert_array_equal(same, out)
    other = np.float64 if dtype == np.float32 else np.float32
    read_only = np.zeros_like(x)
    read_only.flags.writeable = False
    buf = np.zeros(80, dtype)
    buf[:35] = x.ravel()

    class Sub(np.ndarray):
        pass

    refused = [
        (x.astype(other), out),                          # mixed dtypes
        (x.astype(np.float16), out.astype(np.float16)),  # not float32/64
        (x.astype(x.dtype.newbyteorder()), out),         # byte-swapped
        (np.asfortranarray(x), out),                     # not C-contiguous
        (x, np.full((5, 6), np.nan, dtype)),             # shapes
        (x, read_only),
        (x, x.view(Sub)),                                # a subclass
        (buf[:35].reshape(5, 7), buf[1:36].reshape(5, 7)),  # partial overlap
        (x.tolist(), out),
    ]
    for args in refused:
        target = args[1]
        before = np.array(target, copy=True)
        assert call(*args) == _ew.NOT_TAKEN
        np.testing.assert_array_equal(np.asarray(target), before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_act_backward_needs_x_only_for_gelu_and_swish(dtype):
    x = np.linspace(-2, 2, 12, dtype=dtype)
    out = np.empty_like(x)
    assert _ew.act_backward(SWISH, 0.0, x, x, None, out, 1) == _ew.NOT_TAKEN
    assert _ew.act_backward(TANH, 0.0, x, x, None, out, 1) == _ew.OK
    np.testing.assert_allclose(out, x * (1 - x * x), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_and_uniform_entries(dtype):
    out = np.empty((3, 5), dtype)
    assert _ew.dropout_mask(1, 2, 0.25, out, 2) == _ew.OK
    np.testing.assert_array_equal(out, NUMPY.dropout_mask((3, 5), 0.25, 1, 2, dtype))
    for rate in (1.0, -0.1, float("nan")):
        assert _ew.dropout_mask(1, 2, rate, out, 1) == _ew.NOT_TAKEN
    assert _ew.dropout_mask(1, 2, 0.25, np.empty((5, 3), dtype).T, 1) == _ew.NOT_TAKEN
    u = np.empty(15)
    assert _ew.counter_uniform(1, 2, u, 1) == _ew.OK
    assert _ew.counter_uniform(1, 2, u.astype(np.float32), 1) == _ew.NOT_TAKEN


@pytest.mark.parametrize("dtype", DTYPES)
def test_copy_helper_keeps_odd_operands_on_the_kernels(dtype, monkeypatch):
    """bias_grad and matmul on a misaligned operand, or into an out that overlaps an
    input, still run the kernel (NumPy is forbidden) and give the aligned answer."""
    ops = native_ops.NativeOps()
    rng = np.random.default_rng(2)
    dz = rng.standard_normal((6, 4)).astype(dtype)
    want_db = ops.bias_grad(dz)
    want_mm = ops.matmul(dz, dz.T.copy())
    for name in ("bias_grad", "matmul"):
        monkeypatch.setattr(NumpyOps, name, lambda *a, **k: pytest.fail("fell back"))
    raw = np.zeros(dz.nbytes + 1, np.uint8)
    odd = np.ndarray(dz.shape, dtype, raw, offset=1)
    odd[...] = dz
    assert not odd.flags.aligned
    assert _gemm.col_sum(odd, np.empty(4, dtype), 1) == _gemm.NOT_TAKEN
    np.testing.assert_array_equal(ops.bias_grad(odd), want_db)
    np.testing.assert_array_equal(ops.matmul(odd, dz.T.copy()), want_mm)
    buf = np.zeros(dz.size + 4, dtype)
    inside = buf[4:].reshape(dz.shape)
    inside[...] = dz
    out = buf[:4]  # overlaps the first row of ``inside``
    assert ops.bias_grad(inside, out=out) is out
    np.testing.assert_array_equal(out, want_db)
