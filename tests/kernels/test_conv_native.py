"""NativeOps' convolution and pooling primitives against the NumpyOps contract.

What these prove: the same results (to rounding) as NumpyOps for float32 and float64 on
1 and 2 threads, over awkward geometries (odd sizes, strides 2, dilation, asymmetric
padding, C = 1, F = 1, N = 1, KH != KW, a kernel as large as its input, a 1x1 kernel,
more images than the backward has chunks, tiles smaller than a patch row count); every
fusable activation; bit-identical results on 1, 2 and 3 threads; pooling ties and
-inf; NumPy fallbacks (non-contiguous input, out= buffers the kernels do not take, a
dtype mix, pads as large as the pool) that still give NumpyOps' answer; entries that
refuse leave their outputs untouched; PyTorch agreement when it is installed.
"""

import numpy as np
import pytest

_conv = pytest.importorskip("fastnn._native._conv")

from conv_checks import assert_conv_close, assert_grads_close  # noqa: E402
from numthreads import num_threads  # noqa: E402
from fastnn.backend import activations as act_table  # noqa: E402
from fastnn.backend.native_ops import NativeOps  # noqa: E402
from fastnn.backend.numpy_ops import NumpyOps  # noqa: E402

NATIVE = NativeOps()
NUMPY = NumpyOps()
DTYPES = [np.float32, np.float64]
BACKWARD_ACTS = [a for a in act_table.ACTIVATIONS if a not in act_table.NEEDS_INPUT]

# (N, H, W, C, KH, KW, F, strides, pads (top, bottom, left, right), dilation)
CONV_CASES = {
    "one-pixel": (1, 1, 1, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),
    "kh-ne-kw": (2, 7, 9, 3, 3, 2, 5, (1, 1), (0, 0, 0, 0), (1, 1)),
    "c1-stride2-dilated-asym-pads": (3, 11, 10, 1, 5, 5, 6, (2, 1), (2, 1, 0, 3), (1, 2)),
    "kernel-is-input-n1-f1": (1, 5, 5, 4, 5, 5, 1, (1, 1), (0, 0, 0, 0), (1, 1)),
    "pointwise": (2, 6, 6, 8, 1, 1, 7, (1, 1), (0, 0, 0, 0), (1, 1)),
    "pointwise-strided": (2, 6, 7, 8, 1, 1, 7, (2, 2), (0, 0, 0, 0), (1, 1)),
    "stride2-dilation2": (2, 13, 12, 3, 3, 3, 4, (2, 2), (1, 1, 1, 1), (2, 2)),
    "lenet-conv1-same": (4, 28, 28, 1, 5, 5, 6, (1, 1), (2, 2, 2, 2), (1, 1)),
    "lenet-conv2": (3, 10, 10, 6, 5, 5, 16, (1, 1), (0, 0, 0, 0), (1, 1)),
    "vgg-3x3-same": (2, 8, 8, 3, 3, 3, 32, (1, 1), (1, 1, 1, 1), (1, 1)),
    "1xk-kernel": (1, 4, 9, 2, 1, 4, 3, (1, 3), (0, 0, 2, 1), (1, 1)),
    "kx1-kernel-pad-bottom": (2, 9, 4, 2, 4, 1, 3, (2, 1), (0, 3, 0, 0), (1, 1)),
    "more-images-than-chunks": (19, 5, 4, 2, 2, 2, 3, (1, 1), (1, 0, 0, 1), (1, 1)),
    "wide-patches": (2, 6, 5, 40, 3, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    # im2col's border / interior split and its copy size classes (runs of KW*C values:
    # 4, 8, 12, 24, 60, 360 bytes in float32, twice that in float64)
    "pads-wider-than-kernel": (2, 5, 6, 2, 3, 2, 3, (1, 1), (3, 4, 4, 3), (1, 1)),
    "kernel-wider-than-image": (2, 4, 2, 3, 3, 5, 2, (1, 1), (1, 1, 2, 2), (1, 1)),
    "padded-1x1-c1": (2, 5, 4, 1, 1, 1, 3, (1, 1), (1, 0, 1, 2), (1, 1)),
    "run-2-values": (2, 6, 7, 2, 2, 1, 3, (1, 2), (0, 1, 1, 0), (1, 1)),
    "run-3-values-stride3": (2, 9, 11, 1, 3, 3, 4, (3, 3), (1, 1, 2, 2), (1, 1)),
    "run-6-values": (1, 7, 8, 2, 3, 3, 5, (1, 1), (1, 1, 1, 1), (1, 1)),
    "run-15-values-stride2": (3, 9, 10, 5, 2, 3, 4, (2, 2), (0, 1, 1, 1), (1, 1)),
    "run-90-values": (2, 5, 6, 30, 3, 3, 7, (1, 1), (1, 1, 1, 1), (1, 1)),
    "tiles-cut-rows-and-images": (5, 21, 23, 1, 3, 3, 2, (1, 1), (1, 1, 1, 1), (1, 1)),
    # the forward's patch packer (conv_tmpl.h): whole short patches (k <= 256) per panel
    # batch, and for long ones pointers into x, padding rows, gathered border pixels,
    # dilation, kernel rows longer than a chunk (300 values) and cut by the GEMM's k
    # blocks, more pixels than a tile and a last partial panel
    "packer-short-patches-many-tiles": (3, 13, 11, 17, 3, 3, 20, (1, 1), (1, 1, 1, 1),
                                        (1, 1)),
    "packer-long-patches-many-tiles": (3, 13, 11, 40, 3, 3, 20, (1, 1), (1, 1, 1, 1),
                                       (1, 1)),
    "packer-long-dilated-stride2": (2, 9, 10, 40, 3, 3, 5, (2, 1), (1, 2, 2, 1), (2, 2)),
    "packer-row-past-a-chunk": (2, 5, 6, 100, 3, 3, 4, (1, 1), (1, 1, 1, 1), (1, 1)),
}

# (N, H, W, C, pool, strides, pads)
POOL_CASES = {
    "2x2": (2, 8, 8, 3, (2, 2), (2, 2), (0, 0, 0, 0)),
    "odd-floor": (3, 7, 9, 2, (2, 2), (2, 2), (0, 0, 0, 0)),
    "3x3-stride1-padded": (2, 5, 6, 4, (3, 3), (1, 1), (1, 1, 1, 1)),
    "same-odd": (1, 7, 5, 1, (2, 3), (2, 2), (0, 1, 1, 1)),
    "overlapping-asym": (2, 6, 7, 3, (3, 2), (2, 1), (2, 0, 0, 1)),
    "pool-is-input": (2, 4, 3, 5, (4, 3), (1, 1), (0, 0, 0, 0)),
    "stride-larger-than-pool": (1, 9, 9, 2, (2, 2), (3, 4), (0, 0, 0, 0)),
}


def _conv_inputs(case, dtype, seed=0):
    n, h, w, c, kh, kw, f, strides, pads, dilation = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = (rng.standard_normal((kh, kw, c, f)) / np.sqrt(kh * kw * c)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, k, b, dict(strides=strides, pads=pads, dilation=dilation), rng


def _reduction_length(x, w, y):
    """The longest sum in any gradient: a patch (forward, dx) or all pixels (dw)."""
    return max(w.shape[0] * w.shape[1] * w.shape[2], y.shape[0] * y.shape[1] * y.shape[2],
               w.shape[3] * w.shape[0] * w.shape[1])


# ---------------------------------------------------------------------- conv2d


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_matches_numpy(nthreads, dtype, case):
    x, w, b, geom, _ = _conv_inputs(CONV_CASES[case], dtype)
    got = NATIVE.conv2d_forward(x, w, b, **geom, activation="relu")
    want = NUMPY.conv2d_forward(x, w, b, **geom, activation="relu")
    assert got.dtype == want.dtype and got.shape == want.shape
    assert_conv_close(got, want, dtype, w.size // w.shape[3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("has_bias,need_dx", [(True, True), (False, True), (True, False)])
def test_conv2d_backward_matches_numpy(nthreads, dtype, case, has_bias, need_dx):
    x, w, b, geom, rng = _conv_inputs(CONV_CASES[case], dtype)
    y = NUMPY.conv2d_forward(x, w, b, **geom, activation="tanh")
    dy = rng.standard_normal(y.shape).astype(dtype)
    dy_before = dy.copy()
    got = NATIVE.conv2d_backward(x, w, y, dy, **geom, activation="tanh",
                                 has_bias=has_bias, need_dx=need_dx)
    want = NUMPY.conv2d_backward(x, w, y, dy, **geom, activation="tanh",
                                 has_bias=has_bias, need_dx=need_dx)
    np.testing.assert_array_equal(dy, dy_before)
    k = _reduction_length(x, w, y)
    assert_grads_close(got, want, dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(act_table.ACTIVATIONS))
def test_conv2d_every_activation(nthreads, dtype, activation):
    x, w, b, geom, rng = _conv_inputs(CONV_CASES["stride2-dilation2"], dtype)
    y = NATIVE.conv2d_forward(x, w, b, **geom, activation=activation)
    want = NUMPY.conv2d_forward(x, w, b, **geom, activation=activation)
    assert_conv_close(y, want, dtype, 27)
    if activation in act_table.NEEDS_INPUT:
        return  # the layer runs these as linear + activation_backward
    dy = rng.standard_normal(y.shape).astype(dtype)
    got = NATIVE.conv2d_backward(x, w, want, dy, **geom, activation=activation)
    ref = NUMPY.conv2d_backward(x, w, want, dy, **geom, activation=activation)
    for g, v in zip(got, ref):
        assert_conv_close(g, v, dtype, _reduction_length(x, w, y))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_out_buffers_are_used(dtype):
    x, w, b, geom, rng = _conv_inputs(CONV_CASES["vgg-3x3-same"], dtype)
    want = NUMPY.conv2d_forward(x, w, b, **geom)
    out = np.full(want.shape, np.nan, dtype)
    assert NATIVE.conv2d_forward(x, w, b, **geom, out=out) is out
    assert_conv_close(out, want, dtype, 27)
    dy = rng.standard_normal(want.shape).astype(dtype)
    bufs = dict(out_dx=np.full(x.shape, np.nan, dtype), out_dw=np.full(w.shape, np.nan, dtype),
                out_db=np.full(b.shape, np.nan, dtype))
    got = NATIVE.conv2d_backward(x, w, want, dy, **geom, **bufs)
    assert got[0] is bufs["out_dx"] and got[1] is bufs["out_dw"] and got[2] is bufs["out_db"]
    for g, v in zip(got, NUMPY.conv2d_backward(x, w, want, dy, **geom)):
        assert_conv_close(g, v, dtype, 128)


def test_conv2d_empty_batch():
    x, w, b, geom, _ = _conv_inputs(CONV_CASES["kh-ne-kw"], np.float32)
    x = x[:0].copy()
    y = NATIVE.conv2d_forward(x, w, b, **geom)
    assert y.shape == (0, 5, 8, 5)
    dx, dw, db = NATIVE.conv2d_backward(x, w, y, y, **geom)
    assert dx.shape == x.shape and not dw.any() and not db.any()


# A geometry big enough that forward, backward and pooling all run on several threads
# (above the kernels' serial threshold, with several tiles and backward chunks).
THREADED = (6, 17, 15, 3, 3, 3, 8, (1, 1), (1, 1, 1, 1), (1, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_conv2d_bit_identical_across_thread_counts(dtype, activation):
    x, w, b, geom, rng = _conv_inputs(THREADED, dtype)
    results = []
    for n in (1, 2, 3):
        with num_threads(n):
            y = NATIVE.conv2d_forward(x, w, b, **geom, activation=activation)
            dy = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
            results.append((y,) + NATIVE.conv2d_backward(x, w, y, dy, **geom,
                                                        activation=activation))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["vgg-3x3-same", "packer-short-patches-many-tiles",
                                  "packer-long-patches-many-tiles",
                                  "packer-long-dilated-stride2", "packer-row-past-a-chunk"])
def test_conv2d_forward_is_the_gemm_of_its_patches_bit_for_bit(nthreads, dtype, case):
    """The packer puts each patch value where packing a stored patch matrix would, so
    the forward is exactly the native GEMM of NumPy-built patches (one chain per output
    over k, whatever the tiles): any misplaced, missing or extra value shows."""
    _gemm = pytest.importorskip("fastnn._native._gemm")
    x, w, b, geom, _ = _conv_inputs(CONV_CASES[case], dtype)
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = geom["strides"], geom["pads"], geom["dilation"]
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    patches = np.stack([np.stack([xp[:, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                     j * dw:j * dw + sw * (ow - 1) + 1:sw, :]
                                  for j in range(kw)], axis=3) for i in range(kh)], axis=3)
    patches = np.ascontiguousarray(patches.reshape(n * oh * ow, kh * kw * c))
    want = np.empty((n * oh * ow, f), dtype)
    assert _gemm.gemm(patches, np.ascontiguousarray(w.reshape(-1, f)), want, b, 0, 0.0,
                      False, nthreads) == 0
    got = NATIVE.conv2d_forward(x, w, b, **geom, activation="linear")
    np.testing.assert_array_equal(got.reshape(-1, f), want)


# ---------------------------------------------------------------------- fallbacks


def test_conv2d_non_contiguous_input_falls_back_to_the_same_answer():
    x, w, b, geom, _ = _conv_inputs(CONV_CASES["kh-ne-kw"], np.float64)
    xt = np.asfortranarray(x)  # same values, not C-contiguous: the entry refuses it
    assert _conv.conv2d_forward(xt, w, b, np.empty((2, 5, 8, 5)), 1, 1, 0, 0, 0, 0, 1, 1,
                                0, 0.0, 1) == _conv.NOT_TAKEN
    assert_conv_close(NATIVE.conv2d_forward(xt, w, b, **geom),
                      NUMPY.conv2d_forward(x, w, b, **geom), np.float64, 18)
    y = NUMPY.conv2d_forward(x, w, b, **geom)
    for g, v in zip(NATIVE.conv2d_backward(xt, w, y, np.asfortranarray(y), **geom),
                    NUMPY.conv2d_backward(x, w, y, y, **geom)):
        assert_conv_close(g, v, np.float64, 100)


def test_conv2d_out_the_kernel_does_not_take_falls_back():
    x, w, b, geom, _ = _conv_inputs(CONV_CASES["kh-ne-kw"], np.float64)
    want = NUMPY.conv2d_forward(x, w, b, **geom)
    out = np.zeros(want.shape[:3] + (2 * want.shape[3],))[..., ::2]  # strided
    assert NATIVE.conv2d_forward(x, w, b, **geom, out=out) is out
    assert_conv_close(out, want, np.float64, 18)


def test_conv2d_dtype_mix_falls_back():
    x, w, b, geom, _ = _conv_inputs(CONV_CASES["kh-ne-kw"], np.float32)
    w64 = w.astype(np.float64)
    got = NATIVE.conv2d_forward(x, w64, b, **geom)
    want = NUMPY.conv2d_forward(x, w64, b, **geom)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_entries_refuse_and_write_nothing(dtype):
    x, w, b, geom, _ = _conv_inputs(CONV_CASES["kh-ne-kw"], dtype)
    args = (1, 1, 0, 0, 0, 0, 1, 1)  # strides, pads, dilation
    y = np.full((2, 5, 8, 5), 7, dtype)
    refused = [
        (x, w[:, :, :2], b, y, *args),                      # channels disagree
        (x, w, b[:3], y, *args),                             # bias length
        (x, w, b, y[:, :4], *args),                          # output shape
        (x, w, b, y, 1, 1, -1, 0, 0, 0, 1, 1),               # negative pad
        (x, w, b, y, 0, 1, 0, 0, 0, 0, 1, 1),                # zero stride
        (x[:, :1, :1], w, b, y, *args),                      # kernel larger than input
        (x, w, b, x, *args),                                 # output is the input
    ]
    for call in refused:
        assert _conv.conv2d_forward(*call, 0, 0.0, 1) == _conv.NOT_TAKEN
        assert (y == 7).all()
    dw = np.full(w.shape, 7, dtype)
    assert _conv.conv2d_backward(x, w, y, y, *args, 8, 0.0, None, dw, None, 1) \
        == _conv.NOT_TAKEN  # gelu needs the pre-activation
    assert _conv.conv2d_backward(x, w, y, y, *args, 0, 0.0, None, y[..., :4], None, 1) \
        == _conv.NOT_TAKEN  # dw of the wrong shape
    assert (dw == 7).all()


# ---------------------------------------------------------------------- pooling


def _pool_inputs(case, dtype, seed=0, ties=False):
    n, h, w, c, pool, strides, pads = case
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: most windows hold several maxima
        x = rng.integers(-2, 2, (n, h, w, c)).astype(dtype)
    else:
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
    return x, dict(pool_size=pool, strides=strides, pads=pads), rng


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("ties", [False, True])
def test_pool2d_matches_numpy(nthreads, dtype, case, mode, ties):
    x, geom, rng = _pool_inputs(POOL_CASES[case], dtype, ties=ties)
    y, index = NATIVE.pool2d_forward(x, **geom, mode=mode)
    want, want_index = NUMPY.pool2d_forward(x, **geom, mode=mode)
    assert y.shape == want.shape and y.dtype == want.dtype
    assert_conv_close(y, want, dtype, 12)
    if mode == "max":
        assert index.dtype == np.int32
        np.testing.assert_array_equal(index, want_index)
    else:
        assert index is None
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = NATIVE.pool2d_backward(dy, index, x.shape, **geom, mode=mode)
    want_dx = NUMPY.pool2d_backward(dy, want_index, x.shape, **geom, mode=mode)
    assert dx.shape == x.shape and dx.dtype == want_dx.dtype
    assert_conv_close(dx, want_dx, dtype, 12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_minus_infinity_and_padding(dtype):
    """A window of -inf names its first real cell, never a padded one."""
    x = np.full((1, 3, 3, 2), -np.inf, dtype)
    x[0, 2, 2, 1] = 5
    geom = dict(pool_size=(2, 2), strides=(2, 2), pads=(1, 0, 1, 0))
    y, index = NATIVE.pool2d_forward(x, **geom, mode="max")
    want, want_index = NUMPY.pool2d_forward(x, **geom, mode="max")
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(index, want_index)
    assert index[0, 0, 0, 0] == 3  # (1, 1): the only real cell of the padded corner


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_bit_identical_across_thread_counts(dtype, mode):
    x, geom, rng = _pool_inputs((8, 40, 41, 16, (3, 3), (2, 2), (1, 1, 1, 1)), dtype)
    dy = None
    results = []
    for n in (1, 2, 3):
        with num_threads(n):
            y, index = NATIVE.pool2d_forward(x, **geom, mode=mode)
            dy = rng.standard_normal(y.shape).astype(dtype) if dy is None else dy
            results.append((y, NATIVE.pool2d_backward(dy, index, x.shape, **geom, mode=mode)))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


def test_pool2d_out_buffers_are_used():
    x, geom, rng = _pool_inputs(POOL_CASES["2x2"], np.float32)
    y = np.empty((2, 4, 4, 3), np.float32)
    index = np.empty((2, 4, 4, 3), np.int32)
    got = NATIVE.pool2d_forward(x, **geom, mode="max", out=y, out_index=index)
    assert got[0] is y and got[1] is index
    dx = np.empty(x.shape, np.float32)
    assert NATIVE.pool2d_backward(y, index, x.shape, **geom, mode="max", out=dx) is dx
    np.testing.assert_array_equal(
        dx, NUMPY.pool2d_backward(y, index, x.shape, **geom, mode="max"))


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")
def test_pool2d_fallbacks_give_numpys_answer():
    x, geom, rng = _pool_inputs(POOL_CASES["odd-floor"], np.float64)
    # a pad as large as the pool (windows of padding only): the kernels refuse it
    wide = dict(pool_size=(2, 2), strides=(1, 1), pads=(2, 0, 0, 0))
    for mode in ("max", "avg"):
        got = NATIVE.pool2d_forward(x, **wide, mode=mode)
        want = NUMPY.pool2d_forward(x, **wide, mode=mode)
        np.testing.assert_array_equal(got[0], want[0])
    # non-contiguous input
    xf = np.asfortranarray(x)
    np.testing.assert_array_equal(NATIVE.pool2d_forward(xf, **geom, mode="max")[0],
                                  NUMPY.pool2d_forward(x, **geom, mode="max")[0])
    # an index naming a padded cell (not one pool2d_forward made): NumPy's rule
    y, index = NATIVE.pool2d_forward(x, **geom, mode="max")
    bad = index.copy()
    bad[0, 0, 0, 0] = 99
    dx = np.full(x.shape, 7.0)
    assert _conv.pool2d_backward(y, bad, dx, 2, 2, 2, 2, 0, 0, 0, 0, _conv.POOL_MAX, 1) \
        == _conv.NOT_TAKEN
    assert (dx == 7).all()
    np.testing.assert_array_equal(
        NATIVE.pool2d_backward(y, bad, x.shape, **geom, mode="max"),
        NUMPY.pool2d_backward(y, bad, x.shape, **geom, mode="max"))


# ---------------------------------------------------------------------- PyTorch oracle


@pytest.mark.torch
@pytest.mark.parametrize("case", ["c1-stride2-dilated-asym-pads", "lenet-conv2",
                                  "stride2-dilation2", "pointwise-strided"])
def test_conv2d_against_torch(case):
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    x, w, b, geom, rng = _conv_inputs(CONV_CASES[case], np.float64)
    top, bottom, left, right = geom["pads"]
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    ty = fn.conv2d(fn.pad(tx.permute(0, 3, 1, 2), (left, right, top, bottom)),
                   tw.permute(3, 2, 0, 1), tb, stride=geom["strides"],
                   dilation=geom["dilation"]).permute(0, 2, 3, 1)
    y = NATIVE.conv2d_forward(x, w, b, **geom)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    dx, dw, db = NATIVE.conv2d_backward(x, w, y, dy, **geom)
    for got, want in ((dx, tx.grad), (dw, tw.grad), (db, tb.grad)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_against_torch(mode):
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    x, geom, _ = _pool_inputs((2, 7, 8, 3, (3, 3), (2, 2), (1, 1, 1, 1)), np.float64)
    tx = torch.tensor(x).permute(0, 3, 1, 2)
    if mode == "max":
        want = fn.max_pool2d(tx, 3, 2, padding=1)
    else:
        want = fn.avg_pool2d(tx, 3, 2, padding=1, count_include_pad=False)
    y, _ = NATIVE.pool2d_forward(x, **geom, mode=mode)
    np.testing.assert_allclose(y, want.permute(0, 2, 3, 1).numpy(), rtol=1e-13)
