"""NumpyOps' convolution and pooling primitives, the reference for every backend.

What these prove: conv2d_forward / conv2d_backward and pool2d_forward / pool2d_backward
agree with a plain loop over output pixels (written here independently of the im2col
code) for odd shapes, strides, asymmetric pads and dilations, in float32 and float64;
and with PyTorch (conv2d, conv_transpose2d, max_pool2d, avg_pool2d with
count_include_pad=False, on NHWC data permuted to NCHW) where it is installed.  Max
pooling keeps the first maximum on ties and never lets a padded cell win; out= buffers
are written and returned; dy is never modified; results are deterministic.
"""

import numpy as np
import pytest

from fastnn.backend.numpy_ops import NumpyOps

OPS = NumpyOps()
DTYPES = [np.float32, np.float64]

# (N, H, W, C, KH, KW, F, strides, pads, dilation): odd sizes, one-direction kernels,
# asymmetric pads, dilation, strides larger than the kernel.
CONV_CASES = [
    (2, 5, 7, 3, 3, 3, 4, (1, 1), (0, 0, 0, 0), (1, 1)),
    (1, 6, 6, 1, 5, 5, 6, (1, 1), (2, 2, 2, 2), (1, 1)),
    (3, 7, 5, 2, 3, 1, 3, (2, 1), (1, 1, 0, 0), (1, 1)),
    (2, 4, 9, 3, 1, 4, 2, (1, 2), (0, 0, 1, 2), (1, 1)),
    (2, 9, 8, 2, 3, 2, 5, (2, 3), (0, 1, 1, 0), (2, 1)),
    (1, 8, 8, 4, 2, 2, 1, (3, 3), (0, 0, 0, 0), (1, 3)),
    (2, 3, 3, 1, 1, 1, 2, (1, 1), (0, 0, 0, 0), (1, 1)),
]


def _out_size(size, lo, hi, k, stride, dil):
    return (size + lo + hi - dil * (k - 1) - 1) // stride + 1


def _naive_conv(x, w, b, strides, pads, dilation):
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    (sh, sw), (dh, dw), (t, bo, le, ri) = strides, dilation, pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, bo), (le, ri), (0, 0)))
    oh = _out_size(h, t, bo, kh, sh, dh)
    ow = _out_size(wd, le, ri, kw, sw, dw)
    y = np.zeros((n, oh, ow, f))
    for p in range(oh):
        for q in range(ow):
            for i in range(kh):
                for j in range(kw):
                    y[:, p, q, :] += xp[:, p * sh + i * dh, q * sw + j * dw, :] @ w[i, j]
    return y if b is None else y + b


def _naive_conv_grads(x, w, dz, strides, pads, dilation):
    """dx and dw of sum(dz * conv(x, w)), accumulated pixel by pixel."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    (sh, sw), (dh, dw_), (t, bo, le, ri) = strides, dilation, pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, bo), (le, ri), (0, 0)))
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for p in range(dz.shape[1]):
        for q in range(dz.shape[2]):
            for i in range(kh):
                for j in range(kw):
                    r, s = p * sh + i * dh, q * sw + j * dw_
                    dw[i, j] += xp[:, r, s, :].T @ dz[:, p, q, :]
                    dxp[:, r, s, :] += dz[:, p, q, :] @ w[i, j].T
    return dxp[:, t:t + h, le:le + wd, :], dw


def _naive_pool(x, pool, strides, pads, mode):
    n, h, wd, c = x.shape
    (ph, pw), (sh, sw), (t, bo, le, ri) = pool, strides, pads
    oh = _out_size(h, t, bo, ph, sh, 1)
    ow = _out_size(wd, le, ri, pw, sw, 1)
    y = np.zeros((n, oh, ow, c))
    idx = np.zeros((n, oh, ow, c), dtype=np.int64)
    for p in range(oh):
        for q in range(ow):
            best = np.full((n, c), -np.inf)
            total = np.zeros((n, c))
            count = 0
            for i in range(ph):
                for j in range(pw):
                    r, s = p * sh + i - t, q * sw + j - le
                    if not (0 <= r < h and 0 <= s < wd):
                        continue
                    v = x[:, r, s, :].astype(np.float64)
                    if count == 0:
                        best = v.copy()
                        idx[:, p, q, :] = i * pw + j
                    else:
                        better = v > best
                        best = np.where(better, v, best)
                        idx[:, p, q, :] = np.where(better, i * pw + j, idx[:, p, q, :])
                    total += v
                    count += 1
            y[:, p, q, :] = best if mode == "max" else total / count
    return y, idx


def _naive_pool_grad(dy, idx, x_shape, pool, strides, pads, mode):
    n, h, wd, c = x_shape
    (ph, pw), (sh, sw), (t, bo, le, ri) = pool, strides, pads
    dx = np.zeros(x_shape)
    for p in range(dy.shape[1]):
        for q in range(dy.shape[2]):
            cells = [(i, j) for i in range(ph) for j in range(pw)
                     if 0 <= p * sh + i - t < h and 0 <= q * sw + j - le < wd]
            for i, j in cells:
                r, s = p * sh + i - t, q * sw + j - le
                if mode == "max":
                    dx[:, r, s, :] += dy[:, p, q, :] * (idx[:, p, q, :] == i * pw + j)
                else:
                    dx[:, r, s, :] += dy[:, p, q, :] / len(cells)
    return dx


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12,
                                                                       atol=1e-12)


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------- convolution


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_matches_loop(dtype, case):
    n, h, wd, c, kh, kw, f, strides, pads, dilation = case
    rng = np.random.default_rng(sum(case[:7]))
    x, w, b = _rand(rng, (n, h, wd, c), dtype), _rand(rng, (kh, kw, c, f), dtype), \
        _rand(rng, (f,), dtype)
    y = OPS.conv2d_forward(x, w, b, strides, pads, dilation)
    assert y.dtype == dtype and y.flags.c_contiguous
    np.testing.assert_allclose(y, _naive_conv(x, w, b, strides, pads, dilation),
                               **_tol(dtype))
    no_bias = OPS.conv2d_forward(x, w, None, strides, pads, dilation)
    np.testing.assert_allclose(no_bias, _naive_conv(x, w, None, strides, pads, dilation),
                               **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_backward_matches_loop(dtype, case):
    n, h, wd, c, kh, kw, f, strides, pads, dilation = case
    rng = np.random.default_rng(7 + sum(case[:7]))
    x, w, b = _rand(rng, (n, h, wd, c), dtype), _rand(rng, (kh, kw, c, f), dtype), \
        _rand(rng, (f,), dtype)
    y = OPS.conv2d_forward(x, w, b, strides, pads, dilation)
    dy = _rand(rng, y.shape, dtype)
    dy_before = dy.copy()
    dx, dw, db = OPS.conv2d_backward(x, w, y, dy, strides, pads, dilation)
    want_dx, want_dw = _naive_conv_grads(x, w, dy.astype(np.float64), strides, pads,
                                         dilation)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (f,)
    np.testing.assert_allclose(dx, want_dx, **_tol(dtype))
    np.testing.assert_allclose(dw, want_dw, **_tol(dtype))
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 1, 2)),
                               **_tol(dtype))
    np.testing.assert_array_equal(dy, dy_before)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "elu"])
def test_conv2d_fuses_the_activation(activation):
    rng = np.random.default_rng(3)
    x, w, b = _rand(rng, (2, 6, 5, 3), np.float64), _rand(rng, (3, 2, 3, 4), np.float64), \
        _rand(rng, (4,), np.float64)
    geometry = ((1, 2), (1, 1, 0, 1), (1, 1))
    z = OPS.conv2d_forward(x, w, b, *geometry)
    y = OPS.conv2d_forward(x, w, b, *geometry, activation=activation)
    np.testing.assert_allclose(y, OPS.activation_forward(z, activation), rtol=1e-12)
    dy = _rand(rng, y.shape, np.float64)
    got = OPS.conv2d_backward(x, w, y, dy, *geometry, activation=activation)
    dz = OPS.activation_backward(dy, y, activation)
    want = OPS.conv2d_backward(x, w, z, dz, *geometry)
    for g, wnt in zip(got, want):
        np.testing.assert_allclose(g, wnt, rtol=1e-12, atol=1e-12)


def test_conv2d_backward_options_and_out_buffers():
    rng = np.random.default_rng(4)
    x, w = _rand(rng, (2, 5, 5, 2), np.float32), _rand(rng, (3, 3, 2, 3), np.float32)
    geometry = ((2, 2), (1, 1, 1, 1), (1, 1))
    y = OPS.conv2d_forward(x, w, None, *geometry)
    out_y = np.empty_like(y)
    assert OPS.conv2d_forward(x, w, None, *geometry, out=out_y) is out_y
    np.testing.assert_array_equal(out_y, y)
    dy = _rand(rng, y.shape, np.float32)
    dx, dw, db = OPS.conv2d_backward(x, w, y, dy, *geometry, has_bias=False,
                                     need_dx=False)
    assert dx is None and db is None and dw.shape == w.shape
    bufs = np.empty_like(x), np.empty_like(w), np.empty(3, np.float32)
    got = OPS.conv2d_backward(x, w, y, dy, *geometry, out_dx=bufs[0], out_dw=bufs[1],
                              out_db=bufs[2])
    assert all(g is buf for g, buf in zip(got, bufs))
    np.testing.assert_array_equal(got[1], dw)


def test_conv2d_is_deterministic_and_takes_an_empty_batch():
    rng = np.random.default_rng(5)
    x, w = _rand(rng, (3, 7, 7, 3), np.float32), _rand(rng, (3, 3, 3, 8), np.float32)
    geometry = ((1, 1), (1, 1, 1, 1), (1, 1))
    y1 = OPS.conv2d_forward(x, w, None, *geometry)
    y2 = OPS.conv2d_forward(x.copy(), w.copy(), None, *geometry)
    np.testing.assert_array_equal(y1, y2)
    dy = _rand(rng, y1.shape, np.float32)
    g1 = OPS.conv2d_backward(x, w, y1, dy, *geometry)
    g2 = OPS.conv2d_backward(x, w, y1, dy, *geometry)
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)
    empty = OPS.conv2d_forward(x[:0], w, None, *geometry)
    assert empty.shape == (0, 7, 7, 8)
    dx, dw, db = OPS.conv2d_backward(x[:0], w, empty, empty, *geometry)
    assert dx.shape == (0, 7, 7, 3) and not dw.any() and not db.any()


# ---------------------------------------------------------------------- pooling

# (N, H, W, C, pool, strides, pads)
POOL_CASES = [
    (2, 6, 6, 3, (2, 2), (2, 2), (0, 0, 0, 0)),
    (1, 7, 5, 2, (3, 3), (2, 2), (1, 1, 1, 1)),
    (2, 5, 8, 1, (2, 3), (1, 2), (0, 1, 1, 1)),
    (3, 9, 4, 2, (3, 1), (3, 1), (0, 0, 0, 0)),
    (1, 5, 5, 2, (2, 2), (3, 3), (0, 1, 0, 1)),
    (2, 4, 4, 1, (4, 4), (1, 1), (1, 2, 2, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool2d_matches_loop(dtype, mode, case):
    n, h, wd, c, pool, strides, pads = case
    rng = np.random.default_rng(n + 10 * h + 100 * wd)
    # integers in a small range make ties common, so first-maximum is exercised
    x = rng.integers(-3, 3, size=(n, h, wd, c)).astype(dtype)
    y, idx = OPS.pool2d_forward(x, pool, strides, pads, mode)
    want_y, want_idx = _naive_pool(x, pool, strides, pads, mode)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, want_y, **_tol(dtype))
    if mode == "max":
        assert idx.dtype == np.int32 and idx.shape == y.shape
        np.testing.assert_array_equal(idx, want_idx)
    else:
        assert idx is None
    dy = _rand(rng, y.shape, dtype)
    dx = OPS.pool2d_backward(dy, idx, x.shape, pool, strides, pads, mode)
    np.testing.assert_allclose(
        dx, _naive_pool_grad(dy.astype(np.float64), want_idx, x.shape, pool, strides,
                             pads, mode), **_tol(dtype))


def test_max_pool_padded_cells_never_win():
    x = np.full((1, 3, 3, 1), -np.inf)
    x[0, 2, 2, 0] = -5.0
    y, idx = OPS.pool2d_forward(x, (3, 3), (1, 1), (1, 1, 1, 1), "max")
    # every window holds at least one real cell: its index names a real cell
    real = OPS._real_cells(x.shape, (3, 3), (1, 1), (1, 1, 1, 1), x.dtype)
    chosen = np.take_along_axis(real, idx[0, :, :, 0, None].astype(np.intp), axis=-1)
    assert (chosen == 1).all()
    assert y[0, 2, 2, 0] == -5.0 and y[0, 0, 0, 0] == -np.inf
    dx = OPS.pool2d_backward(np.ones_like(y), idx, x.shape, (3, 3), (1, 1),
                             (1, 1, 1, 1), "max")
    assert dx.sum() == y.size  # nothing lost to the padding


def test_pool_out_buffers():
    rng = np.random.default_rng(6)
    x = _rand(rng, (2, 4, 4, 3), np.float32)
    y, idx = OPS.pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), "max")
    out, out_idx = np.empty_like(y), np.empty(y.shape, np.int32)
    got = OPS.pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), "max", out=out,
                             out_index=out_idx)
    assert got[0] is out and got[1] is out_idx
    np.testing.assert_array_equal(out_idx, idx)
    dx = np.empty_like(x)
    assert OPS.pool2d_backward(y, idx, x.shape, (2, 2), (2, 2), (0, 0, 0, 0), "max",
                               out=dx) is dx


# ---------------------------------------------------------------------- PyTorch oracle


def _nchw(t, a):
    return t.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def _nhwc(t_arr):
    return t_arr.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_torch(case):
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    n, h, wd, c, kh, kw, f, strides, pads, dilation = case
    rng = np.random.default_rng(11 + sum(case[:7]))
    x, w, b = (_rand(rng, s, np.float64) for s in [(n, h, wd, c), (kh, kw, c, f), (f,)])
    xt = _nchw(torch, x).requires_grad_()
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    t, bo, le, ri = pads
    yt = fn.conv2d(fn.pad(xt, (le, ri, t, bo)), wt, bt, stride=strides, dilation=dilation)
    y = OPS.conv2d_forward(x, w, b, strides, pads, dilation)
    np.testing.assert_allclose(y, _nhwc(yt), rtol=1e-11, atol=1e-11)
    dy = _rand(rng, y.shape, np.float64)
    yt.backward(_nchw(torch, dy))
    dx, dw, db = OPS.conv2d_backward(x, w, y, dy, strides, pads, dilation)
    np.testing.assert_allclose(dx, _nhwc(xt.grad), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dw, wt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-11,
                               atol=1e-11)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("strides,pad,dilation", [((1, 1), 1, (1, 1)), ((2, 2), 1, (1, 1)),
                                                   ((2, 1), 2, (2, 2))])
def test_conv2d_input_gradient_is_torch_conv_transpose(strides, pad, dilation):
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    rng = np.random.default_rng(12)
    x, w = _rand(rng, (2, 8, 9, 3), np.float64), _rand(rng, (3, 3, 3, 4), np.float64)
    pads = (pad, pad, pad, pad)
    y = OPS.conv2d_forward(x, w, None, strides, pads, dilation)
    dy = _rand(rng, y.shape, np.float64)
    dx, _, _ = OPS.conv2d_backward(x, w, y, dy, strides, pads, dilation, has_bias=False)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
    # output_padding restores the rows the forward stride skipped at the far edge
    size = [(s + 2 * pad - d * 2 - 1) % st for s, st, d in zip(x.shape[1:3], strides,
                                                                dilation)]
    want = fn.conv_transpose2d(_nchw(torch, dy), wt, stride=strides, padding=pad,
                               dilation=dilation, output_padding=tuple(size))
    np.testing.assert_allclose(dx, _nhwc(want), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool,strides,pad", [((2, 2), (2, 2), 0), ((3, 3), (2, 2), 1),
                                              ((3, 2), (1, 2), (1, 0)),
                                              ((2, 2), (1, 1), 1)])
def test_pool2d_matches_torch(mode, pool, strides, pad):
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    rng = np.random.default_rng(13)
    x = _rand(rng, (2, 7, 6, 3), np.float64)
    ph_, pw_ = (pad, pad) if isinstance(pad, int) else pad
    pads = (ph_, ph_, pw_, pw_)
    xt = _nchw(torch, x).requires_grad_()
    if mode == "max":
        yt = fn.max_pool2d(xt, pool, strides, padding=(ph_, pw_))
    else:
        yt = fn.avg_pool2d(xt, pool, strides, padding=(ph_, pw_), count_include_pad=False)
    y, idx = OPS.pool2d_forward(x, pool, strides, pads, mode)
    np.testing.assert_allclose(y, _nhwc(yt), rtol=1e-12, atol=1e-12)
    dy = _rand(rng, y.shape, np.float64)
    yt.backward(_nchw(torch, dy))
    dx = OPS.pool2d_backward(dy, idx, x.shape, pool, strides, pads, mode)
    np.testing.assert_allclose(dx, _nhwc(xt.grad), rtol=1e-12, atol=1e-12)


def test_max_pool_ties_pick_torchs_first_maximum():
    torch = pytest.importorskip("torch")
    x = np.ones((1, 4, 4, 2))
    x[0, 1, 1, 1] = 2.0
    y, idx = OPS.pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), "max")
    _, t_idx = torch.nn.functional.max_pool2d(_nchw(torch, x), 2, 2, return_indices=True)
    # torch returns flat positions in the (H, W) plane; ours are inside the window
    flat = t_idx.numpy().transpose(0, 2, 3, 1)
    rows = np.arange(2)[None, :, None, None] * 2 + idx // 2
    cols = np.arange(2)[None, None, :, None] * 2 + idx % 2
    np.testing.assert_array_equal(rows * 4 + cols, flat)
    assert (idx[..., 0] == 0).all()
