"""The native GEMM kernel itself (csrc/gemm through fastnn._native._gemm).

What these prove: every micro-kernel (AVX-512F, AVX2+FMA and portable) matches a float64 NumPy
reference for both dtypes on shapes that are not multiples of any tile, through all
three stride layouts a dense layer uses (and general ones: negative, sliced, column-
major C), with the bias + activation epilogue, accumulate, and k = 0; results are
bit-identical for any thread count; FASTNN_DISABLE_SIMD=1 selects the portable kernel.
Block sizes: under every per-CPU table and the cache rule (on this CPU's caches and on
synthetic tiny ones, so that KC and MC blocking run on small shapes), with both kernels,
the same holds on shapes straddling that table's KC, MC and NC; the rule's numbers keep
the bounds it states; the CPU-to-table map picks the documented rows; ``fastnn info``
reports what is in use.
"""

import os

import numpy as np
import pytest

_gemm = pytest.importorskip("fastnn._native._gemm")

from fastnn.backend.numpy_ops import NumpyOps  # noqa: E402
from subproc import run_python

DTYPES = [np.float32, np.float64]
# Not multiples of 6, 8 or 16 (the tiles), and around the KC / MC / NC block edges.
SHAPES = [
    (1, 1, 1),
    (7, 17, 129),
    (17, 129, 7),
    (129, 1000, 1),
    (1000, 7, 17),
    (129, 129, 129),
    (33, 1000, 300),
    (150, 40, 513),
]
REF = NumpyOps()



def _operands(rng, m, n, k, dtype, ta=False, tb=False):
    """A (m, k) and B (k, n) as views: transposed ones are strided views of (k, m) /
    (n, k) arrays, as ``x.T`` and ``w.T`` are in dense_backward."""
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return (a.T if ta else a), (b.T if tb else b)


def _bound(a, b, dtype, extra=0.0):
    """Elementwise error bound for a float sum of k products (and a few more ops)."""
    k = a.shape[1]
    eps = np.finfo(dtype).eps
    mag = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)) + extra
    return 4 * (k + 4) * eps * mag + 4 * np.finfo(dtype).tiny


def _gemm_ref(a, b, bias=None, c0=None):
    c = a.astype(np.float64) @ b.astype(np.float64)
    if c0 is not None:
        c += c0
    if bias is not None:
        c += bias
    return c


def _run(a, b, bias=None, act="linear", alpha=0.0, nthreads=1, c=None, accumulate=False):
    if c is None:
        c = np.full((a.shape[0], b.shape[1]), np.nan, dtype=a.dtype)
    status = _gemm.gemm(a, b, c, bias, _gemm.ACTIVATION_CODES[act], alpha, accumulate,
                        nthreads)
    assert status == 0
    return c


def test_kernel_name():
    assert _gemm.kernel_name() in _gemm.KERNEL_NAMES
    assert not _gemm.select_kernel("no-such-kernel")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_matches_reference(kernel, dtype, m, n, k, ta, tb):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a, b = _operands(rng, m, n, k, dtype, ta, tb)
    bias = rng.standard_normal(n).astype(dtype)
    want = _gemm_ref(a, b, bias)
    for nthreads in (1, 2):
        got = _run(a, b, bias, nthreads=nthreads)
        assert np.all(np.abs(got - want) <= _bound(a, b, dtype, np.abs(bias)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_general_strides(kernel, dtype):
    """Negative and non-unit strides everywhere, read-only inputs, column-major C."""
    rng = np.random.default_rng(1)
    m, n, k = 37, 53, 45
    a_big = rng.standard_normal((2 * m, 3 * k)).astype(dtype)
    b_big = rng.standard_normal((k, 2 * n)).astype(dtype)
    a = a_big[::-2, ::3]
    b = b_big[::-1, 1::2]
    a.flags.writeable = False
    b.flags.writeable = False
    want = _gemm_ref(a, b)
    c_f = np.asfortranarray(np.full((m, n), np.nan, dtype=dtype))
    c_big = np.full((2 * m, 3 * n), 7.0, dtype=dtype)
    c_view = c_big[1::2, ::-3]
    for c in (c_f, c_view):
        for nthreads in (1, 2):
            _run(a, b, c=c, nthreads=nthreads)
            assert np.all(np.abs(c - want) <= _bound(a, b, dtype))
    # The view wrote only its own elements.
    untouched = np.ones_like(c_big, dtype=bool)
    untouched[1::2, ::-3] = False
    assert np.all(c_big[untouched] == 7.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(7, 17, 129), (129, 33, 300)])
def test_accumulate(kernel, dtype, m, n, k):
    rng = np.random.default_rng(2)
    a, b = _operands(rng, m, n, k, dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    got = _run(a, b, bias, c=c0.copy(), accumulate=True, nthreads=2)
    want = _gemm_ref(a, b, bias, c0)
    assert np.all(np.abs(got - want) <= _bound(a, b, dtype, np.abs(bias) + np.abs(c0)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid"])
def test_k_zero(kernel, dtype, accumulate, act):
    """k = 0: C = act((accumulate ? C : 0) + bias)."""
    m, n = 5, 19
    a = np.empty((m, 0), dtype=dtype)
    b = np.empty((0, n), dtype=dtype)
    bias = np.linspace(-2, 2, n).astype(dtype)
    c0 = np.arange(m * n, dtype=dtype).reshape(m, n) / 10
    got = _run(a, b, bias, act=act, c=c0.copy(), accumulate=accumulate)
    z = (c0 if accumulate else np.zeros_like(c0)) + bias
    want = REF.activation_forward(z, act)
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps)


EPILOGUE_ACTS = sorted(a for a in _gemm.ACTIVATION_CODES if a != "softmax")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", EPILOGUE_ACTS)
@pytest.mark.parametrize("with_bias", [True, False])
# (200, 10, 70) is computed as C^T = B^T A^T (fewer padded lanes): bias runs along rows.
@pytest.mark.parametrize("m,n,k", [(61, 83, 70), (200, 10, 70)])
def test_epilogue(kernel, dtype, act, with_bias, m, n, k):
    rng = np.random.default_rng(3)
    a, b = _operands(rng, m, n, k, dtype)
    a *= 0.3  # keep the pre-activations in the interesting range of every function
    bias = rng.standard_normal(n).astype(dtype) if with_bias else None
    alpha = {"leaky_relu": 0.2, "elu": 1.0}.get(act, 0.0)
    pre = _run(a, b, bias)  # the linear result from the same kernel
    got = _run(a, b, bias, act=act, alpha=alpha, nthreads=2)
    want = REF.activation_forward(pre, act, alpha=alpha)
    np.testing.assert_allclose(got, want, rtol=8 * np.finfo(dtype).eps,
                               atol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(129, 1000, 17), (1000, 129, 300), (301, 301, 513),
                                   (6, 1000, 1000), (1000, 16, 1000)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_bit_identical_across_threads(kernel, dtype, m, n, k, ta, tb):
    """Threads split C, never the k sum: any thread count gives the same bits."""
    rng = np.random.default_rng(4)
    a, b = _operands(rng, m, n, k, dtype, ta, tb)
    bias = rng.standard_normal(n).astype(dtype)
    one = _run(a, b, bias, act="tanh", nthreads=1)
    for nthreads in (2, 3):
        assert np.array_equal(_run(a, b, bias, act="tanh", nthreads=nthreads), one)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(100, 512, 300), (32, 1024, 70), (7, 256, 33)])
def test_b_read_in_place_or_packed_gives_the_same_bits(kernel, dtype, m, n, k):
    """A row-major B of a one-block product is read in place unless its row stride is a
    multiple of 2 KiB (gemm.c, fnn_gemm_direct_stride_ok), then packed; the same B with
    a padded stride takes the other path, and the bits must not change."""
    rng = np.random.default_rng(9)
    a, b = _operands(rng, m, n, k, dtype)
    padded = np.zeros((k, n + 8), dtype)
    padded[:, :n] = b
    bias = rng.standard_normal(n).astype(dtype)
    got = _run(a, b, bias, act="relu")
    np.testing.assert_array_equal(_run(a, padded[:, :n], bias, act="relu"), got)
    want = np.maximum(_gemm_ref(a, b, bias), 0)
    assert np.all(np.abs(got - want) <= _bound(a, b, dtype, extra=np.abs(bias)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_residual(kernel, dtype):
    """C = A B at a size that runs every blocking loop several times, checked through
    C t == A (B t) for a random t (cheap, independent of NumPy's GEMM)."""
    rng = np.random.default_rng(5)
    m, n, k = 1100, 1031, 1300
    a, b = _operands(rng, m, n, k, dtype)
    c = _run(a, b, nthreads=2)
    t = rng.standard_normal(n)
    lhs = c.astype(np.float64) @ t
    rhs = a.astype(np.float64) @ (b.astype(np.float64) @ t)
    scale = np.linalg.norm(a.astype(np.float64)) * np.linalg.norm(b.astype(np.float64))
    rel = np.linalg.norm(lhs - rhs) / (scale * np.linalg.norm(t))
    assert rel < 10 * np.finfo(dtype).eps * np.sqrt(k)


def test_disable_simd_env_selects_portable_kernel():
    code = (
        "import numpy as np\n"
        "from fastnn._native import _gemm\n"
        "a = np.arange(35.0).reshape(5, 7); b = np.arange(21.0).reshape(7, 3)\n"
        "c = np.empty((5, 3))\n"
        "_gemm.gemm(a, b, c, None, 0, 0.0, False, 1)\n"
        "assert np.array_equal(c, a @ b)\n"
        "print(_gemm.kernel_name())\n"
    )
    env = dict(os.environ, FASTNN_DISABLE_SIMD="1")
    out = run_python(["-c", code], env=env, check=True)
    assert out.stdout.strip() == "portable"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n", [(1, 1), (7, 17), (1000, 300), (300, 1000), (129, 513)])
def test_col_sum(dtype, m, n):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((m, n)).astype(dtype)
    want = x.astype(np.float64).sum(axis=0)
    results = []
    for view in (x, np.asfortranarray(x)):
        for nthreads in (1, 2, 3):
            out = np.full(n, np.nan, dtype=dtype)
            _gemm.col_sum(view, out, nthreads)
            results.append(out)
    for out in results:
        assert np.array_equal(out, results[0])  # same row order whatever the threads
    np.testing.assert_allclose(results[0], want, rtol=0,
                               atol=4 * m * np.finfo(dtype).eps * np.abs(x).sum(0).max())


@pytest.mark.parametrize("dtype", DTYPES)
# (256, 10, 32) and (500, 10, 7) are computed transposed (C^T = B^T A^T), so the tiles
# are stored column by column: with a row-major C that is the kernels' column-store path.
@pytest.mark.parametrize("m,n,k", [(256, 10, 32), (500, 10, 7), (37, 53, 45)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_column_stores_accumulate(kernel, dtype, m, n, k, order):
    """Tiles written through C's column stride (swapped products, column-major C), with
    and without accumulate; the same bits on any thread count."""
    rng = np.random.default_rng(7)
    a, b = _operands(rng, m, n, k, dtype)
    c0 = np.asarray(rng.standard_normal((m, n)).astype(dtype), order=order)
    bias = rng.standard_normal(n).astype(dtype)
    results = []
    for nthreads in (1, 2):
        for accumulate in (False, True):
            c = c0.copy(order=order)
            _run(a, b, bias, c=c, accumulate=accumulate, nthreads=nthreads)
            want = _gemm_ref(a, b, bias, c0 if accumulate else None)
            extra = np.abs(bias) + (np.abs(c0) if accumulate else 0.0)
            assert np.all(np.abs(c - want) <= _bound(a, b, dtype, extra))
            results.append(c)
    assert np.array_equal(results[0], results[2]) and np.array_equal(results[1], results[3])


@pytest.mark.parametrize("dtype", DTYPES)
def test_overlap_and_odd_strides_are_refused(dtype):
    """The wrapper computes nothing when C overlaps an input or a stride is not whole
    elements (the caller copies); NativeOps.matmul then still gets the right answer."""
    from fastnn.backend.native_ops import NativeOps

    rng = np.random.default_rng(8)
    buf = rng.standard_normal((8, 8)).astype(dtype)
    a, b = buf[:4, :4], rng.standard_normal((4, 4)).astype(dtype)
    c = buf[4:, :4]  # other rows of the same buffer: disjoint from a, so computed
    assert _gemm.gemm(a, b, c, None, 0, 0.0, False, 1) == 0
    # Ranges are compared, as np.may_share_memory does: c overlaps b's rows.
    a, b, c = buf[:, :4].copy(), buf[:4, 3:7], buf[:, 2:6]
    before = c.copy()
    assert _gemm.gemm(a, b, c, None, 0, 0.0, False, 1) == _gemm.NOT_TAKEN
    assert np.array_equal(c, before)
    bias = buf[0, 2:6]
    assert _gemm.gemm(a, b.copy(), c, bias, 0, 0.0, False, 1) == _gemm.NOT_TAKEN
    # A byte stride that is not a whole element (a view of a raw byte buffer).
    size = np.dtype(dtype).itemsize
    raw = np.zeros(4 * 5 * size + 1, np.uint8)
    ops = NativeOps()
    out = np.empty((8, 4), dtype)
    for offset, row_stride in ((1, 5 * size), (0, 4 * size + 1)):
        odd = np.ndarray((4, 4), dtype, raw, offset=offset, strides=(row_stride, size))
        assert not odd.flags.aligned
        odd[...] = rng.standard_normal((4, 4))
        assert _gemm.gemm(a, odd, out, None, 0, 0.0, False, 1) == _gemm.NOT_TAKEN
        want = a.astype(np.float64) @ odd.astype(np.float64)
        np.testing.assert_allclose(ops.matmul(a, odd, out=out), want, rtol=1e-4,
                                   atol=1e-4)
    x = rng.standard_normal((6, 6)).astype(dtype)
    want = x.astype(np.float64) @ x.astype(np.float64)
    np.testing.assert_allclose(ops.matmul(x, x, out=x), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("nthreads", [1, 2])
def test_fma_peak_gflops(nthreads):
    g = _gemm.fma_peak_gflops(nthreads)
    assert np.isfinite(g) and g > 0.1


# ---------------------------------------------------------------- block-size tables

# Synthetic caches for the cache rule (L1d, L2, L3 in bytes): tiny ones make KC 8-16
# and MC a few tiles, so small shapes cross several KC and MC blocks; the last has no L3
# and an L2 that is not a power of two.
SYNTHETIC_CACHES = [(1 << 10, 8 << 10, 0), (4 << 10, 32 << 10, 256 << 10),
                    (48 << 10, 1280 << 10, 0)]
TABLES = list(_gemm.table_names()) + [f"caches:{l1}:{l2}:{l3}"
                                      for l1, l2, l3 in SYNTHETIC_CACHES]


def _select_table(name):
    if name.startswith("caches:"):
        _gemm.select_table_from_caches(*(int(v) for v in name.split(":")[1:]))
    else:
        assert _gemm.select_table(name)


@pytest.fixture
def restore_blocking():
    """Leave the kernel and its automatic table as they were before the test."""
    kernel_before, sizes_before = _gemm.kernel_name(), _gemm.block_sizes()
    yield
    assert _gemm.select_kernel(kernel_before)  # back to the table chosen at import
    assert _gemm.block_sizes() == sizes_before


@pytest.fixture(params=TABLES)
def table(request, kernel, restore_blocking):
    """Run the test under each block-size table, with each kernel."""
    _select_table(request.param)
    yield request.param


def _table_shapes(bs):
    """Awkward shapes (m, n, k) for the block sizes bs: tiny and k = 1 ones, and ones
    that end one element past a KC, MC or NC block (or two), where the balanced blocking
    splits differently.  Some are big enough to run on two threads."""
    kc, mc, nc, mr, nr = bs["kc"], bs["mc"], bs["nc"], bs["mr"], bs["nr"]
    return [(1, 1, 1), (7, 17, 129), (17, 129, 7), (129, 1, 17), (1, 129, 17),
            (33, 20, 1), (13, 35, kc + 1), (13, 35, 2 * kc - 1), (mc + 1, 19, 9),
            (2 * mc + mr + 1, 21, 5), (5, nc + 1, 3), (mc + 1, nc + 1, 3),
            (mc + 7, 45, kc + 1), (129, 129, 129), (nr + 1, mc + 1, 2 * kc + 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False),
                                   (True, True)])
def test_every_table(table, dtype, ta, tb):
    """Under this table: matches the reference, with and without the bias + tanh
    epilogue, and gives the same bits on 1 and 2 threads."""
    bs = _gemm.block_sizes()[np.dtype(dtype).name]
    for m, n, k in _table_shapes(bs):
        shape = f"{table} {m}x{n}x{k} {bs}"
        rng = np.random.default_rng(m * 7919 + n * 31 + k)
        a, b = _operands(rng, m, n, k, dtype, ta, tb)
        a *= 0.3  # pre-activations in the range where tanh is not flat
        bias = rng.standard_normal(n).astype(dtype)
        one = _run(a, b, bias, nthreads=1)
        want = _gemm_ref(a, b, bias)
        assert np.all(np.abs(one - want) <= _bound(a, b, dtype, np.abs(bias))), shape
        assert np.array_equal(_run(a, b, bias, nthreads=2), one), shape
        act_one = _run(a, b, bias, act="tanh", nthreads=1)
        assert np.array_equal(_run(a, b, bias, act="tanh", nthreads=2), act_one), shape
        np.testing.assert_allclose(act_one, REF.activation_forward(one, "tanh"),
                                   rtol=8 * np.finfo(dtype).eps,
                                   atol=8 * np.finfo(dtype).eps, err_msg=shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_table_accumulate_and_k_zero(table, dtype):
    """accumulate across several KC blocks, and k = 0, under this table."""
    bs = _gemm.block_sizes()[np.dtype(dtype).name]
    rng = np.random.default_rng(9)
    m, n, k = bs["mr"] + 1, 2 * bs["nr"] + 1, 2 * bs["kc"] + 1
    a, b = _operands(rng, m, n, k, dtype, ta=True)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    got = _run(a, b, c=c0.copy(), accumulate=True, nthreads=2)
    assert np.all(np.abs(got - _gemm_ref(a, b, c0=c0)) <= _bound(a, b, dtype, np.abs(c0)))
    bias = np.linspace(-1, 1, n).astype(dtype)
    got = _run(a[:, :0], b[:0], bias, act="relu")
    assert np.array_equal(got, np.broadcast_to(np.maximum(bias, 0), (m, n)))


def test_block_sizes_report(restore_blocking):
    sizes = _gemm.block_sizes()
    assert sizes["kernel"] == _gemm.kernel_name()
    for dtype in ("float32", "float64"):
        bs = sizes[dtype]
        assert set(bs) == {"mr", "nr", "kc", "mc", "nc"}
        assert bs["mc"] % bs["mr"] == 0 and bs["nc"] % bs["nr"] == 0 and bs["kc"] >= 1
    if sizes["kernel"] == "portable":
        assert sizes["table"] == "portable"
    else:
        cpu = _gemm.cpu_info()
        row = _gemm.table_for_cpu(cpu["vendor"], cpu["family"], cpu["model"],
                                  sizes["kernel"])
        assert sizes["table"] == (row or sizes["table"])
        if row is None:
            assert sizes["table"].startswith("from caches: L1d ")
    assert not _gemm.select_table("no-such-table")
    assert _gemm.block_sizes() == sizes
    with pytest.raises(ValueError, match="l1d"):
        _gemm.select_table_from_caches(-1, 0, 0)
    with pytest.raises(TypeError, match="l3"):
        _gemm.select_table_from_caches(0, 0, 1.5)
    assert _gemm.block_sizes() == sizes


def test_cpu_info():
    cpu = _gemm.cpu_info()
    assert set(cpu) == {"vendor", "brand", "family", "model", "l1d", "l2", "l3",
                        "cache_source"}
    assert cpu["cache_source"] in ("cpuid", "sysfs", "none")
    if cpu["cache_source"] != "none":
        assert cpu["l1d"] >= 1024 and cpu["l2"] >= cpu["l1d"]
    if cpu["vendor"] in ("AuthenticAMD", "GenuineIntel"):
        assert cpu["family"] >= 5 and cpu["model"] >= 0


@pytest.mark.parametrize("vendor,family,model,row", [
    ("AuthenticAMD", 0x17, 0x01, "zen1-2"),   # Zen 1 (Naples)
    ("AuthenticAMD", 0x17, 0x31, "zen1-2"),   # Zen 2 (Rome)
    ("HygonGenuine", 0x18, 0x00, "zen1-2"),   # Hygon Dhyana, a Zen 1
    ("AuthenticAMD", 0x19, 0x01, "zen3"),     # Milan
    ("AuthenticAMD", 0x19, 0x21, "zen3"),     # Vermeer
    ("AuthenticAMD", 0x19, 0x50, "zen3"),     # Cezanne
    ("AuthenticAMD", 0x19, 0x11, "zen4"),     # Genoa (CPU family 25 model 17)
    ("AuthenticAMD", 0x19, 0x61, "zen4"),     # Raphael
    ("AuthenticAMD", 0x19, 0xa0, "zen4"),     # Bergamo
    ("AuthenticAMD", 0x1a, 0x02, "zen5"),     # Turin
    ("GenuineIntel", 6, 0x3c, "haswell-skylake"),
    ("GenuineIntel", 6, 0x4f, "haswell-skylake"),  # Broadwell-E
    ("GenuineIntel", 6, 0x9e, "haswell-skylake"),  # Kaby / Coffee Lake
    ("GenuineIntel", 6, 0x55, "skylake-x"),
    ("GenuineIntel", 6, 0x8f, None),          # Sapphire Rapids: the cache rule
    ("AuthenticAMD", 0x15, 0x02, None),       # Piledriver
    ("CentaurHauls", 6, 0x0f, None),
])
def test_table_for_cpu(vendor, family, model, row):
    assert _gemm.table_for_cpu(vendor, family, model) == row


def _rule(l1d, l2, l3):
    _gemm.select_table_from_caches(l1d, l2, l3)
    return _gemm.block_sizes()


@pytest.mark.parametrize("l1d,l2,l3", SYNTHETIC_CACHES + [
    (32 << 10, 512 << 10, 32 << 20), (32 << 10, 1 << 20, 32 << 20),
    (48 << 10, 2 << 20, 96 << 20), (0, 0, 0), (64, 64, 64), (1 << 30, 1 << 30, 1 << 30)])
def test_cache_rule_bounds(kernel, restore_blocking, l1d, l2, l3):
    """The rule written next to the tables: the A and B micro-panels in 3/4 of L1d, the
    A block in half of L2, the B block in a quarter of L3 (at most 4 MiB), within the
    clamps (KC 8-1024, MC up to 1020, NC up to 4096, at least one tile)."""
    sizes = _rule(l1d, l2, l3)
    l1, l2b = l1d or 32 << 10, l2 or 512 << 10
    b_share = min(l3 // 4, 4 << 20) if l3 else 2 << 20
    assert sizes["table"].startswith("from caches: L1d ")
    for dtype in DTYPES:
        size = np.dtype(dtype).itemsize
        bs = sizes[np.dtype(dtype).name]
        mr, nr, kc, mc, nc = (bs[key] for key in ("mr", "nr", "kc", "mc", "nc"))
        assert kc % 8 == 0 and 8 <= kc <= 1024
        assert kc == 8 or (mr + nr) * kc * size <= 3 * l1 // 4
        assert mc % mr == 0 and mr <= mc <= 1020
        assert mc == mr or mc * kc * size <= l2b // 2
        assert nc % nr == 0 and nr <= nc <= 4096
        assert nc == nr or kc * nc * size <= b_share


def test_cache_rule_values(restore_blocking):
    """The worked example in gemm.c: 32 KiB / 512 KiB / 32 MiB with the 6 x 16 kernel."""
    if not _gemm.select_kernel("avx2-fma"):
        pytest.skip("the AVX2+FMA kernel is not built or not supported by this CPU")
    sizes = _rule(32 << 10, 512 << 10, 32 << 20)
    assert sizes["table"] == "from caches: L1d 32 KiB, L2 512 KiB, L3 32 MiB"
    assert sizes["float32"] == {"mr": 6, "nr": 16, "kc": 272, "mc": 240, "nc": 3840}


def test_disable_simd_env_uses_portable_sizes():
    code = (
        "from fastnn._native import _gemm\n"
        "from fastnn.info import config_dict\n"
        "sizes = _gemm.block_sizes()\n"
        "print(sizes['kernel'], sizes['table'], sizes['float32']['mr'],\n"
        "      config_dict()['gemm_table'])\n"
    )
    env = dict(os.environ, FASTNN_DISABLE_SIMD="1")
    out = run_python(["-c", code], env=env, check=True)
    assert out.stdout.split() == ["portable", "portable", "4", "portable"]


def test_info_reports_blocking():
    from fastnn.info import config_dict, show_config

    facts = config_dict()
    sizes = _gemm.block_sizes()
    assert facts["gemm_table"] == sizes["table"]
    assert facts["simd_kernel"] == sizes["kernel"]
    bs = sizes["float32"]
    assert facts["gemm_float32"] == (f"MR {bs['mr']}, NR {bs['nr']}, KC {bs['kc']}, "
                                     f"MC {bs['mc']}, NC {bs['nc']}")
    cpu = _gemm.cpu_info()
    if cpu["family"] >= 0:
        assert f"family 0x{cpu['family']:x} model 0x{cpu['model']:x}" in facts["cpu"]
    lines = []
    show_config(lines.append)
    assert any("gemm_float64" in line for line in lines)


# L1d and L2 (bytes) of the CPUs each row is for, as the design block in gemm.c states.
ROW_CACHES = {"zen1-2": (32 << 10, 512 << 10), "zen3": (32 << 10, 512 << 10),
              "zen4": (32 << 10, 1 << 20), "zen5": (48 << 10, 1 << 20),
              "haswell-skylake": (32 << 10, 256 << 10), "skylake-x": (32 << 10, 1 << 20)}


@pytest.mark.parametrize("row", sorted(ROW_CACHES))
def test_rows_fit_their_caches(restore_blocking, row):
    """Each row keeps one call's A and B micro-panels in L1d and the A block in L2 of
    the CPUs it is for (with the AVX2 tile: 6 x 16 / 6 x 8), and its MC and NC are
    whole tiles."""
    assert row in _gemm.table_names()
    if not _gemm.select_kernel("avx2-fma"):
        pytest.skip("the AVX2+FMA kernel is not built or not supported by this CPU")
    assert _gemm.select_table(row)
    sizes = _gemm.block_sizes()
    assert sizes["table"] == row
    l1d, l2 = ROW_CACHES[row]
    for dtype in DTYPES:
        size = np.dtype(dtype).itemsize
        bs = sizes[np.dtype(dtype).name]
        assert (bs["mr"] + bs["nr"]) * bs["kc"] * size <= 0.9 * l1d
        assert bs["mc"] * bs["kc"] * size <= 0.6 * l2
        assert bs["mc"] % 6 == 0 and bs["nc"] % bs["nr"] == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_table_kc_is_applied(kernel, restore_blocking, dtype):
    """The GEMM uses the table's KC: cutting a k = 300 sum into blocks of 8-16 rounds
    differently from one block of 300 (same values, within the bound, other bits)."""
    rng = np.random.default_rng(10)
    a, b = _operands(rng, 40, 50, 300, dtype)
    _gemm.select_table_from_caches(32 << 10, 512 << 10, 0)  # KC >= 144
    deep = _run(a, b)
    _gemm.select_table_from_caches(1 << 10, 8 << 10, 0)  # KC = 8 or 16
    assert _gemm.block_sizes()[np.dtype(dtype).name]["kc"] <= 16
    shallow = _run(a, b)
    assert not np.array_equal(deep, shallow)
    assert np.all(np.abs(shallow - _gemm_ref(a, b)) <= _bound(a, b, dtype))
