# The GEMM of csrc/gemm (with its bias + activation epilogue) and the deterministic column
# sum used for bias gradients; _dense.pxi adds a dense layer's fused backward.
#
# Design
# - One entry per kernel, on plain ndarrays checked once here (_arrays.pxi): one float
#   dtype, aligned, any strides for the matrices (transposed and read-only views are read
#   in place: their element strides go to C unchanged, nothing is copied), shapes that
#   match, a writeable C that overlaps no input.  Anything else computes nothing and
#   returns NOT_TAKEN; NativeOps then copies (native_ops._through_copies) or falls back.
# - dtype: each entry calls the kernel's dtype-generic C entry (fnn_gemm, fnn_col_sum:
#   void pointers and an fnn_dtype, csrc/fnn_dispatch.h), so this file has no
#   float32/float64 branches; the two variants come from one C body (gemm_tmpl.h).
# - Statuses are csrc/fnn_status.h's: OK, NO_MEMORY (the packing buffers), NOT_TAKEN.

include "_arrays.pxi"
include "_activation_codes.pxi"

cdef extern from "gemm/gemm.h" nogil:
    fnn_status fnn_gemm(fnn_dtype dtype, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                        const void *a, Py_ssize_t rs_a, Py_ssize_t cs_a,
                        const void *b, Py_ssize_t rs_b, Py_ssize_t cs_b,
                        void *c, Py_ssize_t rs_c, Py_ssize_t cs_c, int accumulate,
                        const void *bias, int act, double alpha, int nthreads)
    fnn_status fnn_col_sum(fnn_dtype dtype, Py_ssize_t m, Py_ssize_t n, const void *x,
                           Py_ssize_t rs_x, Py_ssize_t cs_x, void *out, int nthreads)
    void fnn_gemm_init()
    double fnn_fma_peak_gflops(int nthreads)
    double fnn_fma_peak_gflops_of(const char *kernel, int nthreads)
    int fnn_gemm_kernel_available(const char *name)
    const char *fnn_gemm_kernel_for_cpu(const char *vendor, int family, int model,
                                        int has_avx512)
    const char *fnn_gemm_table_for_cpu_kernel(const char *vendor, int family, int model,
                                              const char *kernel)
    const char *fnn_gemm_kernel_name()
    int fnn_gemm_select_kernel(const char *name)
    ctypedef struct fnn_cpu_facts:
        char vendor[13]
        char brand[49]
        int family, model
        long l1d, l2, l3
        const char *cache_source
    const fnn_cpu_facts *fnn_gemm_cpu()
    fnn_status fnn_gemm_block_sizes(fnn_dtype dtype, int *mr, int *nr, int *kc, int *mc,
                                    int *nc)
    const char *fnn_gemm_table_name()
    const char *fnn_gemm_table_row(int i)
    const char *fnn_gemm_table_for_cpu(const char *vendor, int family, int model)
    int fnn_gemm_select_table(const char *name)
    void fnn_gemm_table_from_caches(long l1d, long l2, long l3)

cdef extern from "gemm/gemv.h" nogil:
    fnn_status fnn_gemv(fnn_dtype dtype, Py_ssize_t n, Py_ssize_t k, const void *x,
                        Py_ssize_t inc_x, const void *b, Py_ssize_t rs_b, void *y,
                        Py_ssize_t inc_y, const void *bias, int act, double alpha,
                        int nthreads)

fnn_gemm_init()


KERNEL_NAMES = ("portable", "avx2-fma", "avx512")


def kernel_name():
    """The micro-kernel in use: "avx512", "avx2-fma" or "portable"."""
    return fnn_gemm_kernel_name().decode("ascii")


def kernel_available(str name):
    """Whether the kernel called ``name`` (one of ``KERNEL_NAMES``) is built and this CPU
    and OS can run it."""
    return fnn_gemm_kernel_available(name.encode("ascii")) != 0


def available_kernels():
    """The kernels this build and CPU can run, in ``KERNEL_NAMES`` order."""
    return tuple(k for k in KERNEL_NAMES if kernel_available(k))


def kernel_for_cpu(str vendor, int family, int model, bint has_avx512):
    """The SIMD kernel chosen at import for a CPU with AVX2+FMA of this CPUID vendor,
    family and model, with or without AVX-512F: "avx512" or "avx2-fma"."""
    return fnn_gemm_kernel_for_cpu(vendor.encode("ascii"), family, model,
                                   has_avx512).decode("ascii")


def fma_peak_gflops(int num_threads=1, kernel=None):
    """The CPU's float32 FMA peak in GFLOP/s over ``num_threads`` threads together.

    Measured, not computed from a nominal clock: the best of five ~20 ms runs of
    independent FMA chains on every thread, with the FMA instructions of ``kernel``
    (default: the kernel in use): zmm for "avx512", ymm for "avx2-fma", the portable
    multiply-add loop for "portable".  So a GEMM's share of this peak is a share of
    what its own kernel can reach.  Other work on the machine only lowers it.

    Raises:
        ValueError: ``kernel`` is not one of ``available_kernels()``.
    """
    cdef double g
    cdef bytes name = (kernel_name() if kernel is None else str(kernel)).encode("ascii")
    cdef const char *cname = name
    if kernel is not None and not kernel_available(kernel):
        raise ValueError(
            f"fma_peak_gflops: kernel must be one of {available_kernels()!r} on this "
            f"build and CPU, got {kernel!r}")
    with nogil:
        g = fnn_fma_peak_gflops_of(cname, num_threads)
    return g


def select_kernel(str name):
    """Test hook: switch to the kernel called ``name``; False when it is unavailable."""
    return fnn_gemm_select_kernel(name.encode("ascii")) == 0


def cpu_info():
    """What the GEMM read of this CPU, as a dict.

    Keys: ``vendor`` (CPUID's, e.g. "AuthenticAMD"; "" off x86), ``brand`` (the brand
    string, or ""), ``family`` and ``model`` (CPUID's, extended fields folded in; -1
    when unknown), ``l1d``, ``l2``, ``l3`` (bytes of the caches core 0 sees, 0 when
    unknown) and ``cache_source`` ("cpuid", "sysfs" or "none").
    """
    cdef fnn_cpu_facts cpu = fnn_gemm_cpu()[0]  # a copy: Cython drops the const
    return {
        "vendor": cpu.vendor.decode("ascii", "replace"),
        "brand": cpu.brand.decode("ascii", "replace").strip(),
        "family": cpu.family,
        "model": cpu.model,
        "l1d": cpu.l1d,
        "l2": cpu.l2,
        "l3": cpu.l3,
        "cache_source": cpu.cache_source.decode("ascii"),
    }


def block_sizes():
    """The GEMM's blocking now, as a dict.

    ``table`` is the block-size table in use (a row's name such as "zen4", "portable",
    or "from caches: L1d ..., L2 ..., L3 ..."), ``kernel`` the micro-kernel, and
    ``float32`` / ``float64`` each a dict of ``mr``, ``nr``, ``kc``, ``mc``, ``nc``.
    """
    cdef int mr, nr, kc, mc, nc
    cdef fnn_dtype dtype
    sizes = {"table": fnn_gemm_table_name().decode("ascii"), "kernel": kernel_name()}
    for name, dtype in (("float32", FNN_FLOAT32), ("float64", FNN_FLOAT64)):
        fnn_gemm_block_sizes(dtype, &mr, &nr, &kc, &mc, &nc)
        sizes[name] = {"mr": mr, "nr": nr, "kc": kc, "mc": mc, "nc": nc}
    return sizes


def table_names():
    """The named block-size tables: one per known micro-architecture, then "portable"
    (the portable kernel's own sizes) and "caches" (the rule on this CPU's caches)."""
    cdef int i = 0
    names = []
    while fnn_gemm_table_row(i) != NULL:
        names.append(fnn_gemm_table_row(i).decode("ascii"))
        i += 1
    return tuple(names) + ("portable", "caches")


def table_for_cpu(str vendor, int family, int model, kernel="avx2-fma"):
    """The row chosen at import for a CPU with this CPUID vendor string, family and model
    (as ``cpu_info()`` gives them) running ``kernel`` ("avx2-fma": the CPU's own row;
    "avx512": its "-avx512" row), or None when the cache rule is used instead."""
    cdef const char *name = fnn_gemm_table_for_cpu_kernel(
        vendor.encode("ascii"), family, model, str(kernel).encode("ascii"))
    return None if name == NULL else name.decode("ascii")


def select_table(str name):
    """Test hook: block sizes from table ``name`` (one of ``table_names()``, or "auto"
    for the choice made at import) with the current kernel; False for an unknown name.
    ``select_kernel`` also returns to the automatic choice."""
    return fnn_gemm_select_table(name.encode("ascii")) == 0


def select_table_from_caches(l1d, l2, l3):
    """Test hook: block sizes from the cache rule as on a CPU with these caches.

    Args:
        l1d: L1 data cache size in bytes (0: not reported).
        l2: L2 size in bytes (0: not reported).
        l3: L3 size in bytes (0: none).

    ``select_table("auto")`` undoes it.
    """
    from fastnn.utils.validation import check_int

    sizes = [check_int(name, value, low=0, high=1 << 40, owner="select_table_from_caches")
             for name, value in (("l1d", l1d), ("l2", l2), ("l3", l3))]
    fnn_gemm_table_from_caches(sizes[0], sizes[1], sizes[2])


cdef int _gemm_run(int typenum, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                   object a, Py_ssize_t rs_a, Py_ssize_t cs_a,
                   object b, Py_ssize_t rs_b, Py_ssize_t cs_b,
                   object c, bint accumulate, object bias, int act, double alpha,
                   int nthreads) noexcept:
    """fnn_gemm on checked arrays, without the GIL; a and b are read through the strides
    given (in elements), so a caller passes a transpose by swapping them.  One row times
    a row-major b (batch-1 inference) goes to fnn_gemv, which packs nothing."""
    cdef const void *pa = _data(a)
    cdef const void *pb = _data(b)
    cdef const void *pbias = _data(bias)
    cdef void *pc = _data(c)
    cdef Py_ssize_t rs_c = _rs(c), cs_c = _cs(c)
    cdef fnn_dtype dtype = _dtype_code(typenum)
    cdef int status
    with nogil:
        if m == 1 and cs_b == 1 and not accumulate:
            status = fnn_gemv(dtype, n, k, pa, cs_a, pb, rs_b, pc, cs_c, pbias, act, alpha,
                              nthreads)
        else:
            status = fnn_gemm(dtype, m, n, k, pa, rs_a, cs_a, pb, rs_b, cs_b, pc, rs_c,
                              cs_c, accumulate, pbias, act, alpha, nthreads)
    return status


def gemm(a, b, c, bias, int act, double alpha, bint accumulate, int nthreads):
    """``c = act(a @ b (+ c if accumulate) + bias)`` with a (m, k), b (k, n), c (m, n).

    ``a``, ``b`` and ``c`` may have any aligned strides; ``bias`` is None or n contiguous
    values; ``act`` is an activation code other than softmax (row-wise: callers apply it
    after the GEMM).  k may be 0 (then c = act(0 + bias)); m or n = 0 computes nothing.
    Returns OK, NO_MEMORY (no packing buffers) or NOT_TAKEN (nothing computed) when the
    arrays do not fit, ``c`` overlaps ``a``, ``b`` or ``bias`` included.
    """
    cdef int t = _float_type(a)
    cdef Py_ssize_t m, n, k
    if t < 0 or not _elementwise_act(act) or not (
        _fits_as(a, t, 2, _IN) and _fits_as(b, t, 2, _IN) and _fits_as(c, t, 2, _OUT)
    ):
        return FNN_NOT_TAKEN
    m, k, n = _dim(a, 0), _dim(a, 1), _dim(b, 1)
    if _dim(b, 0) != k or _dim(c, 0) != m or _dim(c, 1) != n:
        return FNN_NOT_TAKEN
    if bias is not None and not (_fits_as(bias, t, 1, _IN_C) and _dim(bias, 0) == n):
        return FNN_NOT_TAKEN
    if _overlaps(c, (a, b, bias)):
        return FNN_NOT_TAKEN
    return _gemm_run(t, m, n, k, a, _rs(a), _cs(a), b, _rs(b), _cs(b), c, accumulate, bias,
                     act, alpha, nthreads)


cdef int _col_sum_run(int typenum, object x, object out, int nthreads) noexcept:
    cdef Py_ssize_t m = _dim(x, 0), n = _dim(x, 1), rs_x = _rs(x), cs_x = _cs(x)
    cdef const void *px = _data(x)
    cdef void *pout = _data(out)
    cdef fnn_dtype dtype = _dtype_code(typenum)
    cdef int status
    with nogil:
        status = fnn_col_sum(dtype, m, n, px, rs_x, cs_x, pout, nthreads)
    return status


def col_sum(x, out, int nthreads):
    """``out[j] = sum_i x[i, j]``, rows summed in order (the same for any thread count).

    ``x`` is (m, n) with any aligned strides (m = 0 gives zeros); ``out`` holds n
    contiguous values and overlaps nothing of ``x``.  Returns OK or NOT_TAKEN.
    """
    cdef int t = _float_type(x)
    if t < 0 or not (_fits_as(x, t, 2, _IN) and _fits_as(out, t, 1, _OUT_C)
                     and _dim(out, 0) == _dim(x, 1)) or _overlaps(out, (x,)):
        return FNN_NOT_TAKEN
    return _col_sum_run(t, x, out, nthreads)


include "_dense.pxi"


def _check_forced_kernel():
    """FASTNN_GEMM_KERNEL names a kernel to force (read in C, gemm.c's fnn_gemm_init);
    when it names one this build or CPU cannot run, the automatic choice stands, and
    the user, who asked for something, is told."""
    import os
    import warnings
    forced = os.environ.get("FASTNN_GEMM_KERNEL", "")
    if forced and forced != kernel_name() and not kernel_available(forced):
        warnings.warn(
            f"FASTNN_GEMM_KERNEL={forced!r} is not one of the kernels this build and CPU "
            f"run, {available_kernels()!r}; using {kernel_name()!r}.",
            RuntimeWarning, stacklevel=2)


_check_forced_kernel()
