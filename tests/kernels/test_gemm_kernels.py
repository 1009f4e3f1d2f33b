"""Every GEMM micro-kernel on this machine, AVX-512F included, and how one is chosen.

What these prove: each kernel this build and CPU run (portable, avx2-fma, avx512; the
others skip) matches the float64 NumPy reference and NumpyOps' activations in both
dtypes on shapes cut around that kernel's own tile and KC (1, 7, 13, MR +- 1, NR +- 1,
KC + 1, MC + 1), in all four transposed layouts, with bias, every fused activation and
accumulate, and gives the same bits on 1 and 2 threads; FASTNN_GEMM_KERNEL forces a
kernel in both GEMM copies (_gemm and _conv's) and the conv layer's kernels still match
NumPy under each; the CPU-to-kernel and kernel-to-row maps pick the documented entries;
the AVX-512 rows fit the caches of the CPUs they are for; the FMA peak is measured per
kernel.
"""

import os

import numpy as np
import pytest

_gemm = pytest.importorskip("fastnn._native._gemm")

from fastnn.backend.numpy_ops import NumpyOps  # noqa: E402
from subproc import run_python  # noqa: E402

DTYPES = [np.float32, np.float64]
EPILOGUE_ACTS = sorted(a for a in _gemm.ACTIVATION_CODES if a != "softmax")
ALPHAS = {"leaky_relu": 0.2, "elu": 1.0}
REF = NumpyOps()



def _run(a, b, c, bias=None, act="linear", alpha=0.0, accumulate=False, nthreads=1):
    status = _gemm.gemm(a, b, c, bias, _gemm.ACTIVATION_CODES[act], alpha, accumulate,
                        nthreads)
    assert status == 0
    return c


def _operand(rng, rows, cols, dtype, transposed):
    """A (rows, cols) operand, as a transposed view of a (cols, rows) array if asked."""
    if transposed:
        return rng.standard_normal((cols, rows)).astype(dtype).T
    return rng.standard_normal((rows, cols)).astype(dtype)


def _bound(a, b, dtype, extra=0.0):
    k = a.shape[1]
    eps = np.finfo(dtype).eps
    mag = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)) + extra
    return 4 * (k + 4) * eps * mag + 4 * np.finfo(dtype).tiny


def _awkward_shapes(bs):
    """(m, n, k) around the tile and the KC of one dtype's block sizes."""
    mr, nr, kc, mc = bs["mr"], bs["nr"], bs["kc"], bs["mc"]
    ms = sorted({1, 7, 13, mr - 1, mr + 1, 2 * mr + 1})
    ns = sorted({1, 13, nr - 1, nr + 1})
    ks = sorted({1, 7, kc + 1})
    shapes = [(m, n, k) for m in ms for n in ns for k in ks if min(m, n, k) >= 1]
    # big enough to run on two threads (over 2e6 flops) and to cross an MC block
    shapes += [(mc + 1, nr + 1, kc + 1), (nr + 1, mc + 1, kc + 1), (mr + 1, 4 * nr + 1, 2 * kc + 1)]
    return shapes


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_awkward_shapes(kernel, dtype, ta, tb):
    """Every shape class of the kernel in use: partial tiles on each side, k of 1 and
    one past KC (two k blocks), operands read in place or transposed; bias + every
    fused activation, each against NumpyOps on the kernel's own linear result; then
    accumulate; and 1 thread == 2 threads bit for bit."""
    bs = _gemm.block_sizes()[np.dtype(dtype).name]
    rng = np.random.default_rng(bs["mr"] * 1000 + bs["nr"] + 7 * ta + 13 * tb)
    for index, (m, n, k) in enumerate(_awkward_shapes(bs)):
        a = _operand(rng, m, k, dtype, ta) * dtype(0.5)
        b = _operand(rng, k, n, dtype, tb) * dtype(0.5)
        bias = rng.standard_normal(n).astype(dtype)
        want = a.astype(np.float64) @ b.astype(np.float64) + bias
        pre = _run(a, b, np.full((m, n), np.nan, dtype), bias)
        assert np.all(np.abs(pre - want) <= _bound(a, b, dtype, np.abs(bias))), (m, n, k)
        act = EPILOGUE_ACTS[index % len(EPILOGUE_ACTS)]
        alpha = ALPHAS.get(act, 0.0)
        got = _run(a, b, np.full((m, n), np.nan, dtype), bias, act, alpha)
        np.testing.assert_allclose(got, REF.activation_forward(pre, act, alpha=alpha),
                                   rtol=8 * np.finfo(dtype).eps,
                                   atol=8 * np.finfo(dtype).eps, err_msg=f"{act} {m, n, k}")
        c0 = rng.standard_normal((m, n)).astype(dtype)
        acc = _run(a, b, c0.copy(), bias, accumulate=True)
        assert np.all(np.abs(acc - (want + c0))
                      <= _bound(a, b, dtype, np.abs(bias) + np.abs(c0))), (m, n, k)
        for c, kwargs in ((got, dict(act=act, alpha=alpha)), (acc, dict(accumulate=True))):
            start = c0.copy() if kwargs.get("accumulate") else np.full((m, n), np.nan, dtype)
            two = _run(a, b, start, bias, nthreads=2, **kwargs)
            assert np.array_equal(two, c), (m, n, k, kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_output_layer_products(kernel, dtype, order):
    """The products of a 10-unit output layer (computed transposed: the column-store
    path of each kernel) and of the 784-500-500-10 step at batch 32, 1 and 2 threads."""
    rng = np.random.default_rng(11)
    for m, n, k, ta in ((128, 10, 500, False), (500, 10, 128, True), (128, 500, 10, False),
                        (32, 500, 784, False), (784, 500, 32, True)):
        a = _operand(rng, m, k, dtype, ta)
        b = _operand(rng, k, n, dtype, False)
        want = a.astype(np.float64) @ b.astype(np.float64)
        one = _run(a, b, np.full((m, n), np.nan, dtype, order=order))
        assert np.all(np.abs(one - want) <= _bound(a, b, dtype)), (m, n, k)
        two = _run(a, b, np.full((m, n), np.nan, dtype, order=order), nthreads=2)
        assert np.array_equal(one, two), (m, n, k)


def test_available_kernels():
    names = _gemm.available_kernels()
    assert "portable" in names and _gemm.kernel_name() in names
    assert set(names) <= set(_gemm.KERNEL_NAMES)
    for name in _gemm.KERNEL_NAMES:
        assert _gemm.kernel_available(name) == (name in names)
    assert not _gemm.kernel_available("avx1024")


def _child(code, **env):
    full = dict(os.environ)
    full.pop("FASTNN_DISABLE_SIMD", None)
    full.pop("FASTNN_GEMM_KERNEL", None)
    full.update(env)
    return run_python(["-c", code], env=full, check=True)


REPORT = ("import warnings\n"
          "warnings.simplefilter('always')\n"
          "from fastnn._native import _gemm, _conv\n"
          "print(_gemm.kernel_name(), _conv.gemm_kernel_name(), _gemm.block_sizes()['table'])\n")


@pytest.mark.parametrize("name", _gemm.KERNEL_NAMES)
def test_env_forces_kernel_in_both_gemm_copies(name):
    if not _gemm.kernel_available(name):
        pytest.skip(f"kernel {name} not built or not supported by this CPU")
    out = _child(REPORT, FASTNN_GEMM_KERNEL=name)
    got_gemm, got_conv = out.stdout.split()[:2]
    assert (got_gemm, got_conv) == (name, name)
    assert "FASTNN_GEMM_KERNEL" not in out.stderr


def test_env_kernel_unknown_warns_and_keeps_the_automatic_choice():
    auto = _child(REPORT).stdout.split()
    out = _child(REPORT, FASTNN_GEMM_KERNEL="avx1024")
    assert out.stdout.split() == auto
    assert "FASTNN_GEMM_KERNEL='avx1024'" in out.stderr


def test_disable_simd_wins_over_forced_kernel():
    out = _child(REPORT, FASTNN_GEMM_KERNEL="avx2-fma", FASTNN_DISABLE_SIMD="1")
    assert out.stdout.split()[:3] == ["portable", "portable", "portable"]


@pytest.mark.parametrize("name", _gemm.KERNEL_NAMES)
def test_conv_matches_numpy_under_each_kernel(name):
    """csrc/conv links its own copy of the GEMM: its forward and backward tests pass
    with each kernel forced into it."""
    if not _gemm.kernel_available(name):
        pytest.skip(f"kernel {name} not built or not supported by this CPU")
    pytest.importorskip("fastnn._native._conv")
    tests = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_conv_native.py")
    out = run_python(["-m", "pytest", "-q", "-p", "no:cacheprovider", tests, "-k",
                      "conv2d and not torch"],
                     env=dict(os.environ, FASTNN_GEMM_KERNEL=name), timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout


@pytest.mark.parametrize("vendor,family,model,avx512,kernel,row", [
    ("AuthenticAMD", 0x1a, 0x02, True, "avx512", "zen5-avx512"),     # Turin
    ("AuthenticAMD", 0x1a, 0x44, True, "avx512", "zen5-avx512"),     # Granite Ridge
    ("AuthenticAMD", 0x19, 0x11, True, "avx2-fma", "zen4"),          # Genoa: double-pumped
    ("AuthenticAMD", 0x19, 0x61, True, "avx2-fma", "zen4"),          # Raphael
    ("AuthenticAMD", 0x19, 0x01, False, "avx2-fma", "zen3"),         # Milan
    ("GenuineIntel", 6, 0x55, True, "avx512", "skylake-x-avx512"),   # Skylake-SP
    ("GenuineIntel", 6, 0x55, False, "avx2-fma", "skylake-x"),       # (AVX-512 off)
    ("GenuineIntel", 6, 0x8f, True, "avx512", None),                 # Sapphire Rapids
    ("GenuineIntel", 6, 0x9e, False, "avx2-fma", "haswell-skylake"),
])
def test_kernel_and_row_for_cpu(vendor, family, model, avx512, kernel, row):
    assert _gemm.kernel_for_cpu(vendor, family, model, avx512) == kernel
    assert _gemm.table_for_cpu(vendor, family, model, kernel) == row


def test_avx512_rows_for_forced_kernel():
    """Zen 4 keeps AVX2 by default, but forced to AVX-512 it has a row of its own."""
    assert _gemm.table_for_cpu("AuthenticAMD", 0x19, 0x11, "avx512") == "zen4-avx512"
    assert _gemm.table_for_cpu("AuthenticAMD", 0x19, 0x01, "avx512") is None  # Zen 3
    assert _gemm.table_for_cpu("AuthenticAMD", 0x1a, 0x02, "portable") is None


# L1d and L2 (bytes) of the CPUs each AVX-512 row is for (gemm.c's design block).
AVX512_ROW_CACHES = {"zen4-avx512": (32 << 10, 1 << 20), "zen5-avx512": (48 << 10, 1 << 20),
                     "skylake-x-avx512": (32 << 10, 1 << 20)}


@pytest.mark.parametrize("row", sorted(AVX512_ROW_CACHES))
def test_avx512_rows_fit_their_caches(row):
    """With the 8 x 32 / 8 x 16 tile: one call's A and B micro-panels in L1d, the A
    block in L2, MC and NC whole tiles."""
    assert row in _gemm.table_names()
    if not _gemm.select_kernel("avx512"):
        pytest.skip("the AVX-512 kernel is not built or not supported by this CPU")
    try:
        assert _gemm.select_table(row)
        sizes = _gemm.block_sizes()
        assert sizes["table"] == row and sizes["kernel"] == "avx512"
        l1d, l2 = AVX512_ROW_CACHES[row]
        for dtype in DTYPES:
            size = np.dtype(dtype).itemsize
            bs = sizes[np.dtype(dtype).name]
            assert (bs["mr"], bs["nr"]) == (8, 128 // size)  # two zmm vectors
            assert (bs["mr"] + bs["nr"]) * bs["kc"] * size <= 0.9 * l1d
            assert bs["mc"] * bs["kc"] * size <= 0.6 * l2
            assert bs["mc"] % bs["mr"] == 0 and bs["nc"] % bs["nr"] == 0
    finally:
        assert _gemm.select_table("auto")


@pytest.mark.parametrize("name", _gemm.KERNEL_NAMES)
def test_fma_peak_per_kernel(name):
    if not _gemm.kernel_available(name):
        with pytest.raises(ValueError, match="kernel must be one of"):
            _gemm.fma_peak_gflops(1, name)
        return
    for nthreads in (1, 2):
        g = _gemm.fma_peak_gflops(nthreads, name)
        assert np.isfinite(g) and g > 0.1


def test_fma_peak_rejects_unknown_kernel():
    with pytest.raises(ValueError, match="got 'avx1024'"):
        _gemm.fma_peak_gflops(1, "avx1024")
