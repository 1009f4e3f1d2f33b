# Included by _gemm.pyx: a dense layer's backward in ONE call from Python
# (NativeOps.dense_backward takes it first).
#
# A training step of a small net is mostly call overhead, so the four kernels of the
# backward (act' from y, two GEMMs, the column sum) run behind one entry and one set of
# checks (_arrays.pxi) instead of four.  The forward needs no entry of its own: it is one
# gemm() with the bias + activation epilogue.

cdef extern from "activations.h" nogil:
    fnn_status fnn_act_backward(fnn_dtype dtype, int act, double alpha, const void *dy,
                                const void *y, const void *x, void *dx_out, Py_ssize_t n,
                                int n_threads)


cdef int _dense_backward_run(int typenum, object x, object w, object y, object dy, int act,
                             double alpha, object dz, object dx, object dw, object db,
                             int nthreads) noexcept:
    cdef Py_ssize_t m = _dim(x, 0), k = _dim(x, 1), n = _dim(w, 1)
    cdef fnn_dtype dtype = _dtype_code(typenum)
    cdef const void *pdy = _data(dy)
    cdef const void *py = _data(y)
    cdef void *pdz = _data(dz)
    cdef int status
    if act != FNN_ACT_LINEAR:  # dz = dy * act'(y), all C-contiguous
        with nogil:
            fnn_act_backward(dtype, act, alpha, pdy, py, NULL, pdz, m * n, nthreads)
    # dw = x.T @ dz: (k, m) @ (m, n), x read through swapped strides
    status = _gemm_run(typenum, k, n, m, x, _cs(x), _rs(x), dz, _rs(dz), _cs(dz), dw, False,
                       None, FNN_ACT_LINEAR, 0.0, nthreads)
    if status != FNN_OK:
        return status
    if db is not None:
        status = _col_sum_run(typenum, dz, db, nthreads)
    if dx is not None:  # dx = dz @ w.T: (m, n) @ (n, k)
        status = _gemm_run(typenum, m, k, n, dz, _rs(dz), _cs(dz), w, _cs(w), _rs(w), dx,
                           False, None, FNN_ACT_LINEAR, 0.0, nthreads)
    return status


def dense_backward(x, w, y, dy, int act, double alpha, dz, dx, dw, db, int nthreads):
    """The gradients of ``y = act(x @ w + b)`` in one call: ``dz = dy * act'(y)`` into
    ``dz`` (for act linear, pass ``dz=None``: dy is used), then ``dw = x.T @ dz``,
    ``db = dz.sum(0)`` (db may be None) and ``dx = dz @ w.T`` (dx may be None).

    ``act`` is an activation whose derivative comes from ``y`` alone (not softmax, gelu
    or swish).  ``x`` and ``w`` may have any aligned strides; the outputs (and ``y``,
    ``dy`` when ``dz`` is used) are C-contiguous; m, k, n > 0.  ``dz`` may be exactly
    ``dy`` or ``y``; no other output overlaps anything.  Returns OK, NO_MEMORY (no
    packing buffers) or NOT_TAKEN (nothing computed).
    """
    cdef int t = _float_type(x)
    cdef Py_ssize_t m, k, n
    if (t < 0 or not _elementwise_act(act) or act == FNN_ACT_GELU or act == FNN_ACT_SWISH
            or (dz is None) != (act == FNN_ACT_LINEAR)):
        return FNN_NOT_TAKEN
    if not (_fits_as(x, t, 2, _IN) and _fits_as(w, t, 2, _IN) and _fits_as(y, t, 2, _IN)
            and _fits_as(dy, t, 2, _IN) and _fits_as(dw, t, 2, _OUT_C)):
        return FNN_NOT_TAKEN
    m, k, n = _dim(x, 0), _dim(x, 1), _dim(w, 1)
    if (m == 0 or k == 0 or n == 0 or _dim(w, 0) != k or not _same_shape(y, dy)
            or _dim(dy, 0) != m or _dim(dy, 1) != n or _dim(dw, 0) != k
            or _dim(dw, 1) != n):
        return FNN_NOT_TAKEN
    if dz is None:
        dz = dy
    elif not (_fits_as(dz, t, 2, _OUT_C) and _same_shape(dz, dy)
              and _fits_as(y, t, 2, _IN_C) and _fits_as(dy, t, 2, _IN_C)):
        return FNN_NOT_TAKEN
    elif _overlaps(dz, (x, w)) or _clashes(dz, (dy, y)):
        # act_backward reads element i before writing it: only an exact alias is safe
        return FNN_NOT_TAKEN
    if db is not None and not (_fits_as(db, t, 1, _OUT_C) and _dim(db, 0) == n):
        return FNN_NOT_TAKEN
    if dx is not None and not (_fits_as(dx, t, 2, _OUT_C) and _dim(dx, 0) == m
                               and _dim(dx, 1) == k):
        return FNN_NOT_TAKEN
    # the outputs overlap no input and no other output
    if (_overlaps(dw, (x, w, y, dy, dz, db, dx))
            or (db is not None and _overlaps(db, (x, w, y, dy, dz, dx)))
            or (dx is not None and _overlaps(dx, (x, w, y, dy, dz)))):
        return FNN_NOT_TAKEN
    return _dense_backward_run(t, x, w, y, dy, act, alpha, dz, dx, dw, db, nthreads)
