"""The direct convolution path (F <= 16, no dilation; C <= 16 forward and backward
without dx, C <= 4 backward with dx)
and max pooling's tiled backward, native against the NumpyOps contract.

What these prove: the direct path (selected inside the conv entries, csrc/conv/conv.c)
gives NumpyOps' results to rounding for every C in 1..4 and F in {1, 5, 6, 16} over
valid / same / asymmetric padding, strides 1 and 2, odd sizes, N = 1 and odd batches,
with and without bias and dx; the shapes at and just outside its edges (F = 17; C = 5 and
16, direct forward with the GEMM backward; C = 17; dilation) give the same answers; forward and backward are bit-identical on 1, 2
and 3 threads; each instruction-set copy (portable, AVX2, AVX-512; chosen with the
GEMM's kernel) agrees with NumPy in a child process.  Max pooling with windows that tile
the image (stride == pool size) keeps the first maximum on ties, covers 'same' padding
and odd sizes whose edges no window reaches, and still refuses bad indices.
"""

import os

import numpy as np
import pytest

_conv = pytest.importorskip("fastnn._native._conv")
_gemm = pytest.importorskip("fastnn._native._gemm")

from conv_checks import assert_conv_close, assert_grads_close  # noqa: E402
from numthreads import num_threads  # noqa: E402
from subproc import run_python  # noqa: E402
from fastnn.backend.native_ops import NativeOps  # noqa: E402
from fastnn.backend.numpy_ops import NumpyOps  # noqa: E402

NATIVE = NativeOps()
NUMPY = NumpyOps()
DTYPES = [np.float32, np.float64]

# (N, H, W, C, KH, KW, F, strides, pads (top, bottom, left, right), dilation)
GEOMETRIES = {
    "same-5x5": (3, 13, 11, None, 5, 5, None, (1, 1), (2, 2, 2, 2), (1, 1)),
    "valid-odd": (1, 9, 12, None, 3, 5, None, (1, 1), (0, 0, 0, 0), (1, 1)),
    "stride2-asym": (5, 11, 17, None, 3, 3, None, (2, 2), (1, 0, 0, 2), (1, 1)),
    "stride2x1-same": (2, 10, 21, None, 5, 3, None, (2, 1), (2, 2, 1, 1), (1, 1)),
    # a row of > 8 interior pixels, then a remainder (the 8-pixel blocks and single ones)
    "wide-row": (1, 4, 30, None, 2, 3, None, (1, 1), (0, 1, 1, 1), (1, 1)),
    "kernel-is-input": (2, 5, 4, None, 5, 4, None, (1, 1), (0, 0, 0, 0), (1, 1)),
    "pads-wider-than-kernel": (2, 4, 5, None, 3, 2, None, (1, 1), (3, 4, 4, 3), (1, 1)),
}
CHANNELS = [(1, 6), (2, 16), (3, 5), (4, 1), (1, 16), (4, 6)]


def _case(geometry, c, f):
    n, h, w, _, kh, kw, _, strides, pads, dilation = GEOMETRIES[geometry]
    return (n, h, w, c, kh, kw, f, strides, pads, dilation)


def _inputs(case, dtype, seed=0):
    n, h, w, c, kh, kw, f, strides, pads, dilation = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = (rng.standard_normal((kh, kw, c, f)) / np.sqrt(kh * kw * c)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, k, b, dict(strides=strides, pads=pads, dilation=dilation), rng


def _check_conv(case, dtype, activation="relu"):
    x, w, b, geom, rng = _inputs(case, dtype)
    y = NATIVE.conv2d_forward(x, w, b, **geom, activation=activation)
    want = NUMPY.conv2d_forward(x, w, b, **geom, activation=activation)
    assert y.shape == want.shape and y.dtype == want.dtype
    assert_conv_close(y, want, dtype, w.size // w.shape[3])
    dy = rng.standard_normal(want.shape).astype(dtype)
    k = max(w.size // w.shape[3], want.shape[0] * want.shape[1] * want.shape[2])
    for has_bias, need_dx in [(True, True), (False, True), (True, False)]:
        got = NATIVE.conv2d_backward(x, w, want, dy, **geom, activation=activation,
                                     has_bias=has_bias, need_dx=need_dx)
        ref = NUMPY.conv2d_backward(x, w, want, dy, **geom, activation=activation,
                                    has_bias=has_bias, need_dx=need_dx)
        assert_grads_close(got, ref, dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("c,f", CHANNELS)
def test_direct_conv_matches_numpy(nthreads, dtype, geometry, c, f):
    _check_conv(_case(geometry, c, f), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "leaky_relu"])
def test_direct_conv_activations(nthreads, dtype, activation):
    _check_conv(_case("stride2-asym", 3, 6), dtype, activation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [
    (3, 9, 8, 1, 3, 3, 17, (1, 1), (1, 1, 1, 1), (1, 1)),   # F = 17: the GEMM path
    (2, 9, 8, 5, 3, 3, 6, (2, 1), (1, 1, 1, 1), (1, 1)),    # C = 5: direct forward only
    (2, 14, 14, 6, 5, 5, 16, (1, 1), (0, 0, 0, 0), (1, 1)),  # LeNet's conv2 likewise
    (1, 9, 13, 16, 3, 3, 16, (1, 1), (1, 1, 1, 1), (1, 1)),  # C = 16: the forward's edge
    (2, 7, 9, 17, 3, 3, 5, (2, 2), (1, 1, 1, 1), (1, 1)),   # C = 17: the GEMM path
    (2, 11, 10, 2, 3, 3, 6, (1, 1), (2, 2, 2, 2), (2, 2)),  # dilation
    (1, 8, 9, 4, 3, 3, 6, (1, 1), (0, 0, 0, 0), (1, 2)),    # dilation in one direction
])
def test_shapes_outside_the_direct_path(nthreads, dtype, case):
    _check_conv(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lenet_conv1(nthreads, dtype):
    """LeNet's conv1 on the benchmark's shapes: above the serial threshold, so 2 threads
    really split it (and 17 images give the backward uneven chunks)."""
    _check_conv((17, 28, 28, 1, 5, 5, 6, (1, 1), (2, 2, 2, 2), (1, 1)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_conv_bit_identical_across_thread_counts(dtype):
    x, w, b, geom, rng = _inputs((19, 28, 27, 3, 5, 5, 16, (1, 1), (2, 2, 2, 2), (1, 1)),
                                 dtype)
    dy = None
    results = []
    for n in (1, 2, 3):
        with num_threads(n):
            y = NATIVE.conv2d_forward(x, w, b, **geom, activation="relu")
            dy = rng.standard_normal(y.shape).astype(dtype) if dy is None else dy
            grads = NATIVE.conv2d_backward(x, w, y, dy, **geom, activation="relu")
            results.append((y,) + tuple(grads))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


CHILD = """
import numpy as np
from fastnn._native import _conv
from fastnn.backend.native_ops import NativeOps
from fastnn.backend.numpy_ops import NumpyOps
nat, ref = NativeOps(), NumpyOps()
print(_conv.gemm_kernel_name())
rng = np.random.default_rng(1)
for dtype, tol in ((np.float32, 2e-5), (np.float64, 1e-12)):
    for (n, h, w, c, k, f, s, p) in ((3, 13, 12, 1, 5, 6, 1, 2), (2, 11, 9, 4, 3, 16, 2, 1),
                                      (1, 7, 20, 3, 3, 5, 1, 0)):
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
        wt = (rng.standard_normal((k, k, c, f)) / k).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        geom = dict(strides=(s, s), pads=(p, p, p, p), dilation=(1, 1))
        y = nat.conv2d_forward(x, wt, b, **geom, activation="relu")
        yr = ref.conv2d_forward(x, wt, b, **geom, activation="relu")
        assert np.allclose(y, yr, rtol=tol, atol=tol), (dtype, n, h, w, c)
        dy = rng.standard_normal(y.shape).astype(dtype)
        for g, r in zip(nat.conv2d_backward(x, wt, yr, dy, **geom, activation="relu"),
                        ref.conv2d_backward(x, wt, yr, dy, **geom, activation="relu")):
            assert np.allclose(g, r, rtol=tol, atol=tol * 30), (dtype, n, h, w, c)
print("ok")
"""


@pytest.mark.parametrize("name", list(_gemm.KERNEL_NAMES))
def test_each_instruction_set_copy(name):
    """FASTNN_GEMM_KERNEL picks the GEMM kernel and with it the direct path's copy."""
    if not _gemm.kernel_available(name):
        pytest.skip(f"kernel {name} not built or not supported by this CPU")
    env = dict(os.environ)
    env.pop("FASTNN_DISABLE_SIMD", None)
    env["FASTNN_GEMM_KERNEL"] = name
    out = run_python(["-c", CHILD], env=env, check=True)
    assert out.stdout.split() == [name, "ok"]


# ---------------------------------------------------------------------- max pooling

# (N, H, W, C, pool, strides, pads): windows that tile the image (stride == pool)
TILED_POOLS = {
    "lenet-28x28x6": (3, 28, 28, 6, (2, 2), (2, 2), (0, 0, 0, 0)),
    "lenet-10x10x16": (2, 10, 10, 16, (2, 2), (2, 2), (0, 0, 0, 0)),
    "same-odd": (3, 7, 9, 5, (2, 2), (2, 2), (0, 1, 0, 1)),
    "odd-edges-uncovered": (1, 9, 11, 3, (3, 3), (3, 3), (0, 0, 0, 0)),
    "1x2-wide-c": (2, 5, 8, 17, (1, 2), (1, 2), (0, 0, 0, 0)),
    "3x2-same": (2, 8, 7, 1, (3, 2), (3, 2), (1, 0, 0, 1)),
}
OTHER_POOLS = {  # not tiled: the general (overlapping / gapped) backward
    "stride1": (2, 6, 7, 6, (2, 2), (1, 1), (0, 0, 0, 0)),
    "stride-larger-than-pool": (2, 9, 9, 4, (2, 2), (3, 3), (0, 0, 0, 0)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(TILED_POOLS) + list(OTHER_POOLS))
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_matches_numpy(nthreads, dtype, case, ties):
    n, h, w, c, pool, strides, pads = {**TILED_POOLS, **OTHER_POOLS}[case]
    rng = np.random.default_rng(3)
    if ties:  # few distinct values: most windows hold several maxima
        x = rng.integers(-2, 2, (n, h, w, c)).astype(dtype)
    else:
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
    geom = dict(pool_size=pool, strides=strides, pads=pads)
    y, index = NATIVE.pool2d_forward(x, **geom, mode="max")
    want, want_index = NUMPY.pool2d_forward(x, **geom, mode="max")
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(index, want_index)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = NATIVE.pool2d_backward(dy, index, x.shape, **geom, mode="max")
    want_dx = NUMPY.pool2d_backward(dy, want_index, x.shape, **geom, mode="max")
    if case in TILED_POOLS:  # one dy per cell: exact
        np.testing.assert_array_equal(dx, want_dx)
    else:  # overlapping windows add in another order
        assert_conv_close(dx, want_dx, dtype, 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_nan_rule(dtype):
    """A NaN wins over numbers, the first NaN over later ones (np.argmax's choice)."""
    x = np.array([1.0, np.nan, 3.0, np.nan, 2.0, 5.0, 4.0, 0.0], dtype).reshape(1, 2, 4, 1)
    geom = dict(pool_size=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0))
    y, index = NATIVE.pool2d_forward(x, **geom, mode="max")
    want, want_index = NUMPY.pool2d_forward(x, **geom, mode="max")
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    # every pattern of NaNs and ties over whole 2x2 windows (the tree-ordered path) and
    # clipped ones ('same' padding on an odd size)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (4, 9, 11, 7)).astype(dtype)
    x[rng.random(x.shape) < 0.3] = np.nan
    for pads in [(0, 0, 0, 0), (0, 1, 0, 1)]:
        geom = dict(pool_size=(2, 2), strides=(2, 2), pads=pads)
        y, index = NATIVE.pool2d_forward(x, **geom, mode="max")
        want, want_index = NUMPY.pool2d_forward(x, **geom, mode="max")
        np.testing.assert_array_equal(index, want_index)
        np.testing.assert_array_equal(y, want)  # NaNs compare equal here


def test_tiled_backward_refuses_bad_indices():
    x = np.random.default_rng(0).standard_normal((2, 7, 9, 3))
    geom = dict(pool_size=(2, 2), strides=(2, 2), pads=(0, 1, 0, 1))
    y, index = NATIVE.pool2d_forward(x, **geom, mode="max")
    for where, value in [((0, 1, 1, 0), 4), ((1, 0, 0, 2), -1), ((0, 3, 0, 1), 2)]:
        bad = index.copy()
        bad[where] = value  # past the pool; negative; a padded cell of the bottom row
        dx = np.full(x.shape, 7.0)
        assert _conv.pool2d_backward(y, bad, dx, 2, 2, 2, 2, 0, 1, 0, 1, _conv.POOL_MAX,
                                     1) == _conv.NOT_TAKEN
        assert (dx == 7).all()
