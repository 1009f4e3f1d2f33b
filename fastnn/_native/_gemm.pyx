# Thin wrappers over csrc/gemm: the BLIS-style GEMM with its bias + activation epilogue,
# and the deterministic column sum used for bias gradients.
#
# One fused-type source serves float32 and float64.  Arrays arrive as typed memoryviews
# with any strides (transposed and read-only views included); their element strides go
# to C unchanged, so nothing is copied here.  No validation and no allocation: NativeOps
# (fastnn/backend/native_ops.py) checks dtypes, shapes and aliasing, and allocates.

include "_activation_codes.pxi"

cdef extern from "gemm/gemm.h" nogil:
    int fnn_gemm_f32(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                     const float *a, Py_ssize_t rs_a, Py_ssize_t cs_a,
                     const float *b, Py_ssize_t rs_b, Py_ssize_t cs_b,
                     float *c, Py_ssize_t rs_c, Py_ssize_t cs_c, int accumulate,
                     const float *bias, int act, float alpha, int nthreads)
    int fnn_gemm_f64(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                     const double *a, Py_ssize_t rs_a, Py_ssize_t cs_a,
                     const double *b, Py_ssize_t rs_b, Py_ssize_t cs_b,
                     double *c, Py_ssize_t rs_c, Py_ssize_t cs_c, int accumulate,
                     const double *bias, int act, double alpha, int nthreads)
    void fnn_col_sum_f32(Py_ssize_t m, Py_ssize_t n, const float *x, Py_ssize_t rs_x,
                         Py_ssize_t cs_x, float *out, int nthreads)
    void fnn_col_sum_f64(Py_ssize_t m, Py_ssize_t n, const double *x, Py_ssize_t rs_x,
                         Py_ssize_t cs_x, double *out, int nthreads)
    void fnn_gemm_init()
    double fnn_fma_peak_gflops(int nthreads)
    const char *fnn_gemm_kernel_name()
    int fnn_gemm_select_kernel(const char *name)

ctypedef fused real:
    float
    double

# The activations the epilogue can apply (softmax is row-wise: callers apply it after the
# GEMM), shadowing the full map from _activation_codes.pxi.
ACTIVATION_CODES = {name: code for name, code in ACTIVATION_CODES.items() if name != "softmax"}

fnn_gemm_init()


def kernel_name():
    """The micro-kernel in use: "avx2-fma" or "portable"."""
    return fnn_gemm_kernel_name().decode("ascii")


def fma_peak_gflops(int num_threads=1):
    """The CPU's float32 FMA peak in GFLOP/s over ``num_threads`` threads together.

    Measured, not computed from a nominal clock: the best of five ~20 ms runs of
    independent FMA chains on every thread (AVX2+FMA ymm when the CPU has it, else the
    portable multiply-add loop).  Other work on the machine only lowers it.
    """
    cdef double g
    with nogil:
        g = fnn_fma_peak_gflops(num_threads)
    return g


def select_kernel(str name):
    """Test hook: switch to the kernel called ``name``; False when it is unavailable."""
    return fnn_gemm_select_kernel(name.encode("ascii")) == 0


# gemm() status codes besides 0 (done) and -1 (no memory for the packing buffers).
GEMM_OVERLAP = -2       # c overlaps a, b or bias: nothing was computed
GEMM_ODD_STRIDES = -3   # a, b or c is misaligned: an address or stride not whole elements


cdef inline void _extent(const char *base, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t s0,
                         Py_ssize_t s1, Py_ssize_t item, size_t *lo, size_t *hi) noexcept nogil:
    """The byte range [lo, hi) that an n0 x n1 view with byte strides s0, s1 touches."""
    cdef Py_ssize_t first = 0, last = 0
    if s0 < 0:
        first += (n0 - 1) * s0
    else:
        last += (n0 - 1) * s0
    if s1 < 0:
        first += (n1 - 1) * s1
    else:
        last += (n1 - 1) * s1
    lo[0] = <size_t>(base + first)
    hi[0] = <size_t>(base + last + item)


def gemm(const real[:, :] a, const real[:, :] b, real[:, :] c, const real[::1] bias,
         int act, double alpha, bint accumulate, int nthreads):
    """``c = act(a @ b (+ c if accumulate) + bias)`` with a (m, k), b (k, n), c (m, n).

    ``bias`` is None or n values; m and n must be positive (k may be 0).  Returns 0;
    -1 when the GEMM could not allocate its packing buffers; ``GEMM_OVERLAP`` when ``c``
    overlaps ``a``, ``b`` or ``bias`` (by address range, like ``np.may_share_memory``)
    and ``GEMM_ODD_STRIDES`` when an address or stride of ``a``, ``b`` or ``c`` is not a
    whole number of elements (NumPy's ALIGNED flag is false): in these
    two cases nothing is computed and the caller copies (these checks cost well under
    a microsecond, a third of one ``np.may_share_memory`` call).
    """
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1], k = a.shape[1]
    cdef Py_ssize_t size = sizeof(real)
    cdef const real *pa = &a[0, 0] if k > 0 else NULL
    cdef const real *pb = &b[0, 0] if k > 0 else NULL
    cdef const real *pbias = &bias[0] if bias is not None else NULL
    cdef real *pc = &c[0, 0]
    cdef size_t c_lo, c_hi, lo, hi
    cdef int status
    if (a.strides[0] % size or a.strides[1] % size or b.strides[0] % size
            or b.strides[1] % size or c.strides[0] % size or c.strides[1] % size
            or <size_t>pa % size or <size_t>pb % size or <size_t>pc % size):
        return GEMM_ODD_STRIDES
    _extent(<const char *>pc, m, n, c.strides[0], c.strides[1], size, &c_lo, &c_hi)
    if k > 0:
        _extent(<const char *>pa, a.shape[0], a.shape[1], a.strides[0], a.strides[1], size,
                &lo, &hi)
        if lo < c_hi and c_lo < hi:
            return GEMM_OVERLAP
        _extent(<const char *>pb, b.shape[0], b.shape[1], b.strides[0], b.strides[1], size,
                &lo, &hi)
        if lo < c_hi and c_lo < hi:
            return GEMM_OVERLAP
    if pbias != NULL:
        lo = <size_t>pbias
        hi = lo + <size_t>(n * size)
        if lo < c_hi and c_lo < hi:
            return GEMM_OVERLAP
    with nogil:
        if real is float:
            status = fnn_gemm_f32(m, n, k, pa, a.strides[0] // size, a.strides[1] // size,
                                  pb, b.strides[0] // size, b.strides[1] // size,
                                  pc, c.strides[0] // size, c.strides[1] // size,
                                  accumulate, pbias, act, <float>alpha, nthreads)
        else:
            status = fnn_gemm_f64(m, n, k, pa, a.strides[0] // size, a.strides[1] // size,
                                  pb, b.strides[0] // size, b.strides[1] // size,
                                  pc, c.strides[0] // size, c.strides[1] // size,
                                  accumulate, pbias, act, alpha, nthreads)
    return status


def col_sum(const real[:, :] x, real[::1] out, int nthreads):
    """``out[j] = sum_i x[i, j]``, rows summed in order (the same for any thread count).

    ``x`` is (m, n) with m, n > 0; ``out`` holds n values and must not overlap ``x``.
    """
    cdef Py_ssize_t size = sizeof(real)
    with nogil:
        if real is float:
            fnn_col_sum_f32(x.shape[0], x.shape[1], &x[0, 0], x.strides[0] // size,
                            x.strides[1] // size, &out[0], nthreads)
        else:
            fnn_col_sum_f64(x.shape[0], x.shape[1], &x[0, 0], x.strides[0] // size,
                            x.strides[1] // size, &out[0], nthreads)


include "_dense.pxi"
