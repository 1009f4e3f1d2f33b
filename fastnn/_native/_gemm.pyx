# Thin wrappers over csrc/gemm: the BLIS-style GEMM with its bias + activation epilogue,
# and the deterministic column sum used for bias gradients.
#
# One fused-type source serves float32 and float64.  Arrays arrive as typed memoryviews
# with any strides (transposed and read-only views included); their element strides go
# to C unchanged, so nothing is copied here.  No validation and no allocation: NativeOps
# (fastnn/backend/native_ops.py) checks dtypes, shapes and aliasing, and allocates.

cdef extern from "activations.h":
    ctypedef enum fnn_activation:
        FNN_ACT_LINEAR
        FNN_ACT_RELU
        FNN_ACT_SIGMOID
        FNN_ACT_TANH
        FNN_ACT_SOFTMAX
        FNN_ACT_LEAKY_RELU
        FNN_ACT_ELU
        FNN_ACT_SELU
        FNN_ACT_GELU
        FNN_ACT_SOFTPLUS
        FNN_ACT_SWISH

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
    const char *fnn_gemm_kernel_name()
    int fnn_gemm_select_kernel(const char *name)

ctypedef fused real:
    float
    double

# The activation names of fastnn/backend/activations.py mapped onto the C enum that the
# epilogue understands (softmax is row-wise: callers apply it after the GEMM).
ACTIVATION_CODES = {
    "linear": FNN_ACT_LINEAR,
    "relu": FNN_ACT_RELU,
    "sigmoid": FNN_ACT_SIGMOID,
    "tanh": FNN_ACT_TANH,
    "leaky_relu": FNN_ACT_LEAKY_RELU,
    "elu": FNN_ACT_ELU,
    "selu": FNN_ACT_SELU,
    "gelu": FNN_ACT_GELU,
    "softplus": FNN_ACT_SOFTPLUS,
    "swish": FNN_ACT_SWISH,
}

fnn_gemm_init()


def kernel_name():
    """The micro-kernel in use: "avx2-fma" or "portable"."""
    return fnn_gemm_kernel_name().decode("ascii")


def select_kernel(str name):
    """Test hook: switch to the kernel called ``name``; False when it is unavailable."""
    return fnn_gemm_select_kernel(name.encode("ascii")) == 0


def gemm(const real[:, :] a, const real[:, :] b, real[:, :] c, const real[::1] bias,
         int act, double alpha, bint accumulate, int nthreads):
    """``c = act(a @ b (+ c if accumulate) + bias)`` with a (m, k), b (k, n), c (m, n).

    ``bias`` is None or n values.  ``c`` must not overlap ``a``, ``b`` or ``bias``; m and
    n must be positive (k may be 0).  Returns 0, or -1 when C could not allocate its
    packing buffers.
    """
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1], k = a.shape[1]
    cdef Py_ssize_t size = sizeof(real)
    cdef const real *pa = &a[0, 0] if k > 0 else NULL
    cdef const real *pb = &b[0, 0] if k > 0 else NULL
    cdef const real *pbias = &bias[0] if bias is not None else NULL
    cdef int status
    with nogil:
        if real is float:
            status = fnn_gemm_f32(m, n, k, pa, a.strides[0] // size, a.strides[1] // size,
                                  pb, b.strides[0] // size, b.strides[1] // size,
                                  &c[0, 0], c.strides[0] // size, c.strides[1] // size,
                                  accumulate, pbias, act, <float>alpha, nthreads)
        else:
            status = fnn_gemm_f64(m, n, k, pa, a.strides[0] // size, a.strides[1] // size,
                                  pb, b.strides[0] // size, b.strides[1] // size,
                                  &c[0, 0], c.strides[0] // size, c.strides[1] // size,
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
