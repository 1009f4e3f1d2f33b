# Included by _gemm.pyx: a dense layer's forward and backward, each in ONE call from
# Python (NativeOps.dense_forward / dense_backward take it first).
#
# A training step of a small net is mostly call overhead: a typed-memoryview argument
# costs ~0.5 us to acquire and a fused-type def function ~1 us to dispatch, and checking
# dtypes, shapes and overlaps in Python costs more than the GEMM itself at batch 32.  So,
# unlike the thin wrappers, these take plain ndarrays and check them with the NumPy C API
# (nanoseconds): one dtype (float32 or float64, native byte order), 2-D, aligned (strides
# in whole elements), matching shapes, writeable outputs that overlap no input.  When
# anything does not fit they compute nothing and return NOT_TAKEN; NativeOps then takes
# its general path, which copies, converts or falls back to NumPy as needed.

include "_arrays.pxi"

cdef extern from "activations.h" nogil:
    void fnn_act_backward_f32(int act, float alpha, const float *dy, const float *y,
                              const float *x, float *dx_out, Py_ssize_t n, int n_threads)
    void fnn_act_backward_f64(int act, double alpha, const double *dy, const double *y,
                              const double *x, double *dx_out, Py_ssize_t n, int n_threads)

# dense_forward_arrays / dense_backward_arrays return 0 (done), -1 (no memory for the
# GEMM's packing buffers) or NOT_TAKEN (_arrays.pxi).


cdef inline Py_ssize_t _rs(cnp.ndarray a) noexcept:
    return cnp.PyArray_STRIDE(a, 0) // cnp.PyArray_ITEMSIZE(a)


cdef inline Py_ssize_t _cs(cnp.ndarray a) noexcept:
    return cnp.PyArray_STRIDE(a, 1) // cnp.PyArray_ITEMSIZE(a)


cdef int _gemm_run(real *tag, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                   cnp.ndarray a, Py_ssize_t rs_a, Py_ssize_t cs_a,
                   cnp.ndarray b, Py_ssize_t rs_b, Py_ssize_t cs_b,
                   cnp.ndarray c, const void *bias, int act, double alpha,
                   int nthreads) noexcept:
    """fnn_gemm on checked arrays, without the GIL; strides are in elements."""
    cdef const real *pa = <const real *>cnp.PyArray_DATA(a)
    cdef const real *pb = <const real *>cnp.PyArray_DATA(b)
    cdef real *pc = <real *>cnp.PyArray_DATA(c)
    cdef Py_ssize_t rs_c = _rs(c), cs_c = _cs(c)
    cdef int status
    with nogil:
        if real is float:
            status = fnn_gemm_f32(m, n, k, pa, rs_a, cs_a, pb, rs_b, cs_b, pc, rs_c, cs_c,
                                  0, <const float *>bias, act, <float>alpha, nthreads)
        else:
            status = fnn_gemm_f64(m, n, k, pa, rs_a, cs_a, pb, rs_b, cs_b, pc, rs_c, cs_c,
                                  0, <const double *>bias, act, alpha, nthreads)
    return status


def dense_forward_arrays(object x, object w, object bias, object out, int act,
                         double alpha, int nthreads):
    """``out = act(x @ w + bias)`` (bias may be None; act an epilogue code, not softmax).

    ``x`` (m, k) and ``w`` (k, n) may have any aligned strides; ``out`` (m, n) and
    ``bias`` (n values) are C-contiguous.  Returns 0, -1 (no memory for packing) or NOT_TAKEN.
    """
    cdef cnp.ndarray a, b, c
    cdef int t
    cdef Py_ssize_t m, n, k
    cdef const void *pbias = NULL
    if not cnp.PyArray_Check(x) or act == FNN_ACT_SOFTMAX:
        return NOT_TAKEN
    t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if (t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or not (
        _fits(x, t, 2, False) and _fits(w, t, 2, False) and _fits(out, t, 2, True)
        and _c_order(<cnp.ndarray>out)
    ):
        return NOT_TAKEN
    a, b, c = <cnp.ndarray>x, <cnp.ndarray>w, <cnp.ndarray>out
    m, k, n = cnp.PyArray_DIM(a, 0), cnp.PyArray_DIM(a, 1), cnp.PyArray_DIM(b, 1)
    if (cnp.PyArray_DIM(b, 0) != k or cnp.PyArray_DIM(c, 0) != m
            or cnp.PyArray_DIM(c, 1) != n or m == 0 or n == 0 or k == 0):
        return NOT_TAKEN
    if bias is not None:
        if not (_fits(bias, t, 1, False) and _c_order(<cnp.ndarray>bias)
                and cnp.PyArray_DIM(<cnp.ndarray>bias, 0) == n):
            return NOT_TAKEN
        pbias = cnp.PyArray_DATA(<cnp.ndarray>bias)
    if _overlaps(c, (a, b, bias)):
        return NOT_TAKEN
    if t == cnp.NPY_FLOAT32:
        return _gemm_run(<float *>NULL, m, n, k, a, _rs(a), _cs(a), b, _rs(b), _cs(b), c,
                         pbias, act, alpha, nthreads)
    return _gemm_run(<double *>NULL, m, n, k, a, _rs(a), _cs(a), b, _rs(b), _cs(b), c,
                     pbias, act, alpha, nthreads)


cdef int _dense_backward_run(real *tag, cnp.ndarray x, cnp.ndarray w, cnp.ndarray y,
                             cnp.ndarray dy, int act, double alpha, cnp.ndarray dz,
                             object dx, cnp.ndarray dw, object db,
                             int nthreads) noexcept:
    cdef Py_ssize_t m = cnp.PyArray_DIM(x, 0), k = cnp.PyArray_DIM(x, 1)
    cdef Py_ssize_t n = cnp.PyArray_DIM(w, 1)
    cdef int status
    if act != FNN_ACT_LINEAR:  # dz = dy * act'(y), all C-contiguous
        with nogil:
            if real is float:
                fnn_act_backward_f32(act, <float>alpha, <const float *>cnp.PyArray_DATA(dy),
                                     <const float *>cnp.PyArray_DATA(y), NULL,
                                     <float *>cnp.PyArray_DATA(dz), m * n, nthreads)
            else:
                fnn_act_backward_f64(act, alpha, <const double *>cnp.PyArray_DATA(dy),
                                     <const double *>cnp.PyArray_DATA(y), NULL,
                                     <double *>cnp.PyArray_DATA(dz), m * n, nthreads)
    # dw = x.T @ dz: (k, m) @ (m, n), x read through swapped strides
    status = _gemm_run(tag, k, n, m, x, _cs(x), _rs(x), dz, _rs(dz), _cs(dz), dw, NULL,
                       FNN_ACT_LINEAR, 0.0, nthreads)
    if status != 0:
        return status
    cdef Py_ssize_t rs_dz = _rs(dz), cs_dz = _cs(dz)
    if db is not None:
        with nogil:
            if real is float:
                fnn_col_sum_f32(m, n, <const float *>cnp.PyArray_DATA(dz), rs_dz, cs_dz,
                                <float *>cnp.PyArray_DATA(<cnp.ndarray>db), nthreads)
            else:
                fnn_col_sum_f64(m, n, <const double *>cnp.PyArray_DATA(dz), rs_dz, cs_dz,
                                <double *>cnp.PyArray_DATA(<cnp.ndarray>db), nthreads)
    if dx is not None:  # dx = dz @ w.T: (m, n) @ (n, k)
        status = _gemm_run(tag, m, k, n, dz, _rs(dz), _cs(dz), w, _cs(w), _rs(w),
                           <cnp.ndarray>dx, NULL, FNN_ACT_LINEAR, 0.0, nthreads)
    return status


def dense_backward_arrays(object x, object w, object y, object dy, int act, double alpha,
                          object dz, object dx, object dw, object db, int nthreads):
    """The gradients of ``y = act(x @ w + b)`` in one call: ``dz = dy * act'(y)`` into
    ``dz`` (for act linear, pass ``dz=None``: dy is used), then ``dw = x.T @ dz``,
    ``db = dz.sum(0)`` (db may be None) and ``dx = dz @ w.T`` (dx may be None).

    ``act`` is an activation whose derivative comes from ``y`` alone (not softmax, gelu
    or swish).  ``x`` and ``w`` may have any aligned strides; the outputs (and ``y``,
    ``dy`` when ``dz`` is used) are C-contiguous.  Returns 0, -1 (no memory for packing) or NOT_TAKEN.
    """
    cdef cnp.ndarray xa, wa, ya, dya, dza, dwa
    cdef int t
    cdef Py_ssize_t m, k, n
    if (not cnp.PyArray_Check(x) or act == FNN_ACT_SOFTMAX or act == FNN_ACT_GELU
            or act == FNN_ACT_SWISH or (dz is None) != (act == FNN_ACT_LINEAR)):
        return NOT_TAKEN
    t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if (t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or not (
        _fits(x, t, 2, False) and _fits(w, t, 2, False) and _fits(y, t, 2, False)
        and _fits(dy, t, 2, False) and _fits(dw, t, 2, True) and _c_order(<cnp.ndarray>dw)
    ):
        return NOT_TAKEN
    xa, wa, ya, dya, dwa = (<cnp.ndarray>x, <cnp.ndarray>w, <cnp.ndarray>y,
                            <cnp.ndarray>dy, <cnp.ndarray>dw)
    m, k, n = cnp.PyArray_DIM(xa, 0), cnp.PyArray_DIM(xa, 1), cnp.PyArray_DIM(wa, 1)
    if (m == 0 or k == 0 or n == 0 or cnp.PyArray_DIM(wa, 0) != k
            or not cnp.PyArray_SAMESHAPE(ya, dya) or cnp.PyArray_DIM(dya, 0) != m
            or cnp.PyArray_DIM(dya, 1) != n or cnp.PyArray_DIM(dwa, 0) != k
            or cnp.PyArray_DIM(dwa, 1) != n):
        return NOT_TAKEN
    if dz is None:
        dza = dya
    else:
        if not (_fits(dz, t, 2, True) and _c_order(<cnp.ndarray>dz)
                and cnp.PyArray_SAMESHAPE(<cnp.ndarray>dz, dya)
                and _c_order(ya) and _c_order(dya)):
            return NOT_TAKEN
        dza = <cnp.ndarray>dz
        # act_backward reads element i before writing it: only an exact alias is safe
        if _overlaps(dza, (xa, wa)) or (dza is not dya and _overlaps(dza, (dya,))) or (
                dza is not ya and _overlaps(dza, (ya,))):
            return NOT_TAKEN
    if db is not None and not (
        _fits(db, t, 1, True) and _c_order(<cnp.ndarray>db)
        and cnp.PyArray_DIM(<cnp.ndarray>db, 0) == n
    ):
        return NOT_TAKEN
    if dx is not None and not (
        _fits(dx, t, 2, True) and _c_order(<cnp.ndarray>dx)
        and cnp.PyArray_DIM(<cnp.ndarray>dx, 0) == m
        and cnp.PyArray_DIM(<cnp.ndarray>dx, 1) == k
    ):
        return NOT_TAKEN
    # the outputs overlap no input and no other output
    if _overlaps(dwa, (xa, wa, ya, dya, dza, db, dx)):
        return NOT_TAKEN
    if db is not None and _overlaps(<cnp.ndarray>db, (xa, wa, ya, dya, dza, dx)):
        return NOT_TAKEN
    if dx is not None and _overlaps(<cnp.ndarray>dx, (xa, wa, ya, dya, dza)):
        return NOT_TAKEN
    if t == cnp.NPY_FLOAT32:
        return _dense_backward_run(<float *>NULL, xa, wa, ya, dya, act, alpha, dza, dx,
                                   dwa, db, nthreads)
    return _dense_backward_run(<double *>NULL, xa, wa, ya, dya, act, alpha, dza, dx, dwa,
                               db, nthreads)
