# The element-wise kernels (csrc/activations.c, losses.c, rng.c), each behind one Cython
# entry.  (The optimizer updates and clipnorm's sum of squares are in _optimizers.pyx.)
#
# Design
# - Activations, losses and dropout: one entry per kernel, on plain ndarrays checked once
#   here (_arrays.pxi): one float dtype, aligned, C-contiguous, matching shapes, writeable
#   outputs that overlap no input except exactly (each kernel reads element i, or a whole
#   row, before writing it).  Anything else computes nothing and returns NOT_TAKEN, and
#   NativeOps falls back to NumPy.  Each entry calls its kernel's dtype-generic C entry
#   (void pointers and an fnn_dtype, csrc/fnn_dispatch.h): no float32/float64 branches
#   here, and both variants come from one C template.
# - Statuses are csrc/fnn_status.h's (OK, BAD_LABEL for a sparse label outside [0, k),
#   NOT_TAKEN), the same numbers in every module.

from libc.stdint cimport int64_t, uint64_t

include "_arrays.pxi"
include "_activation_codes.pxi"


cdef extern from "activations.h" nogil:
    fnn_status fnn_act_forward(fnn_dtype dtype, int act, double alpha, const void *x,
                               void *y_out, Py_ssize_t n, int n_threads)
    fnn_status fnn_act_backward(fnn_dtype dtype, int act, double alpha, const void *dy,
                                const void *y, const void *x, void *dx_out, Py_ssize_t n,
                                int n_threads)
    fnn_status fnn_softmax(fnn_dtype dtype, const void *x, void *y_out, Py_ssize_t rows,
                           Py_ssize_t cols, int n_threads)
    fnn_status fnn_softmax_backward(fnn_dtype dtype, const void *dy, const void *y,
                                    void *dx_out, Py_ssize_t rows, Py_ssize_t cols,
                                    int n_threads)


cdef extern from "losses.h" nogil:
    fnn_status fnn_softmax_xent_sparse(fnn_dtype dtype, const void *logits,
                                       const int64_t *labels, const void *grad_scale,
                                       void *loss_out, void *grad_out, Py_ssize_t n,
                                       Py_ssize_t k, int n_threads)
    fnn_status fnn_softmax_xent_dense(fnn_dtype dtype, const void *logits,
                                      const void *target, const void *grad_scale,
                                      void *loss_out, void *grad_out, Py_ssize_t n,
                                      Py_ssize_t k, int n_threads)
    fnn_status fnn_sigmoid_bce(fnn_dtype dtype, const void *logits, const void *target,
                               const void *grad_scale, void *loss_out, void *grad_out,
                               Py_ssize_t n, Py_ssize_t k, int n_threads)


cdef extern from "rng.h" nogil:
    uint64_t fnn_counter_key(uint64_t seed, uint64_t stream)
    void fnn_counter_uniform_f64(uint64_t seed, uint64_t stream, double *u_out,
                                 Py_ssize_t n, int n_threads)
    fnn_status fnn_dropout_mask(fnn_dtype dtype, uint64_t seed, uint64_t stream,
                                double rate, void *mask_out, Py_ssize_t n, int n_threads)


# ---------------------------------------------------------------------- activations

def act_forward(int act, double alpha, x, out, int n_threads):
    """``out = f(x)`` element-wise, ``act`` an activation code other than softmax.

    ``x`` and ``out`` are C-contiguous and of one shape (any number of axes); ``out``
    may be ``x`` itself.  Returns OK or NOT_TAKEN.
    """
    cdef int t = _float_type(x)
    cdef const void *px
    cdef void *pout
    cdef Py_ssize_t n
    if t < 0 or not _elementwise_act(act) or not (
        _fits_as(x, t, -1, _IN_C) and _fits_as(out, t, -1, _OUT_C) and _same_shape(x, out)
    ) or _clashes(out, (x,)):
        return FNN_NOT_TAKEN
    px, pout, n = _data(x), _data(out), _size(x)
    with nogil:
        fnn_act_forward(_dtype_code(t), act, alpha, px, pout, n, n_threads)
    return FNN_OK


def act_backward(int act, double alpha, dy, y, x, out, int n_threads):
    """``out = dL/dx`` from ``dy`` and the output ``y`` (and the input ``x`` for gelu and
    swish; ignored, may be None, for the others), ``act`` not softmax.

    All C-contiguous and of one shape; ``out`` may be exactly any input.  Returns OK or
    NOT_TAKEN.
    """
    cdef int t = _float_type(dy)
    cdef bint needs_x = act == FNN_ACT_GELU or act == FNN_ACT_SWISH
    cdef const void *pdy
    cdef const void *py
    cdef const void *px
    cdef void *pout
    cdef Py_ssize_t n
    if not needs_x:
        x = None
    if t < 0 or not _elementwise_act(act) or not (
        _fits_as(dy, t, -1, _IN_C) and _fits_as(y, t, -1, _IN_C) and _same_shape(y, dy)
        and _fits_as(out, t, -1, _OUT_C) and _same_shape(out, dy)
    ):
        return FNN_NOT_TAKEN
    if needs_x and not (_fits_as(x, t, -1, _IN_C) and _same_shape(x, dy)):
        return FNN_NOT_TAKEN
    if _clashes(out, (dy, y, x)):
        return FNN_NOT_TAKEN
    pdy, py, px, pout, n = _data(dy), _data(y), _data(x), _data(out), _size(dy)
    with nogil:
        fnn_act_backward(_dtype_code(t), act, alpha, pdy, py, px, pout, n, n_threads)
    return FNN_OK


cdef inline bint _rows_fit(int t, object a) noexcept:
    """``a`` is a C-contiguous input with at least one axis, the last one non-empty: the
    rows of a row-wise kernel."""
    return (_fits_as(a, t, -1, _IN_C) and cnp.PyArray_NDIM(<cnp.ndarray>a) >= 1
            and _dim(a, cnp.PyArray_NDIM(<cnp.ndarray>a) - 1) > 0)


def softmax(x, out, int n_threads):
    """Softmax over the last axis of ``x``, shifted by each row's maximum.

    ``x`` and ``out`` are C-contiguous and of one shape, whose last axis is not empty;
    ``out`` may be ``x`` itself.  Returns OK or NOT_TAKEN.
    """
    cdef int t = _float_type(x)
    cdef const void *px
    cdef void *pout
    cdef Py_ssize_t rows, cols
    if t < 0 or not (_rows_fit(t, x) and _fits_as(out, t, -1, _OUT_C)
                     and _same_shape(x, out)) or _clashes(out, (x,)):
        return FNN_NOT_TAKEN
    cols = _dim(x, cnp.PyArray_NDIM(<cnp.ndarray>x) - 1)
    px, pout, rows = _data(x), _data(out), _size(x) // cols
    with nogil:
        fnn_softmax(_dtype_code(t), px, pout, rows, cols, n_threads)
    return FNN_OK


def softmax_backward(dy, y, out, int n_threads):
    """``out = y * (dy - sum(dy * y, axis=-1))``, ``y`` the softmax output.

    Like ``softmax``: C-contiguous, one shape, last axis not empty; ``out`` may be
    exactly ``dy`` or ``y``.  Returns OK or NOT_TAKEN.
    """
    cdef int t = _float_type(dy)
    cdef const void *pdy
    cdef const void *py
    cdef void *pout
    cdef Py_ssize_t rows, cols
    if t < 0 or not (_rows_fit(t, dy) and _fits_as(y, t, -1, _IN_C) and _same_shape(y, dy)
                     and _fits_as(out, t, -1, _OUT_C) and _same_shape(out, dy)
                     ) or _clashes(out, (dy, y)):
        return FNN_NOT_TAKEN
    cols = _dim(dy, cnp.PyArray_NDIM(<cnp.ndarray>dy) - 1)
    pdy, py, pout, rows = _data(dy), _data(y), _data(out), _size(dy) // cols
    with nogil:
        fnn_softmax_backward(_dtype_code(t), pdy, py, pout, rows, cols, n_threads)
    return FNN_OK


# ---------------------------------------------------------------------- losses
# The fused losses share one contract: logits (n, k) with n, k > 0; target like the logits
# (int64 labels of shape (n,) for the sparse loss); grad_scale None (loss only) or n
# values, with grad_out then like the logits (it may be the logits themselves: each row
# is read before it is written) and else None; loss_out n values.  All C-contiguous, of
# the logits' dtype; no output overlaps anything else.

cdef bint _loss_fits(int t, object logits, object target, bint sparse, object grad_scale,
                     object loss_out, object grad_out) noexcept:
    cdef Py_ssize_t n, k
    if t < 0 or (grad_scale is None) != (grad_out is None):
        return False
    if not (_fits_as(logits, t, 2, _IN_C) and _fits_as(loss_out, t, 1, _OUT_C)):
        return False
    n, k = _dim(logits, 0), _dim(logits, 1)
    if n == 0 or k == 0 or _dim(loss_out, 0) != n:
        return False
    if sparse:
        if not (_fits_as(target, cnp.NPY_INT64, 1, _IN_C) and _dim(target, 0) == n):
            return False
    elif not (_fits_as(target, t, 2, _IN_C) and _same_shape(target, logits)):
        return False
    if grad_scale is not None:
        if not (_fits_as(grad_scale, t, 1, _IN_C) and _dim(grad_scale, 0) == n
                and _fits_as(grad_out, t, 2, _OUT_C) and _same_shape(grad_out, logits)):
            return False
        if _overlaps(grad_out, (target, grad_scale, loss_out)) or _clashes(grad_out,
                                                                           (logits,)):
            return False
    return not _overlaps(loss_out, (logits, target, grad_scale))


cdef enum:
    _SPARSE = 0
    _DENSE = 1
    _BCE = 2


cdef int _loss_run(int kind, object logits, object target, object grad_scale,
                   object loss_out, object grad_out, int n_threads) noexcept:
    """The loss ``kind`` on arguments ``_loss_fits`` accepted, without the GIL."""
    cdef fnn_dtype dtype = _dtype_code(_float_type(logits))
    cdef const void *pz = _data(logits)
    cdef const void *ptg = _data(target)
    cdef const void *pgs = _data(grad_scale)
    cdef void *ploss = _data(loss_out)
    cdef void *pg = _data(grad_out)
    cdef Py_ssize_t n = _dim(logits, 0), k = _dim(logits, 1)
    cdef int status
    with nogil:
        if kind == _SPARSE:
            status = fnn_softmax_xent_sparse(dtype, pz, <const int64_t *>ptg, pgs, ploss,
                                             pg, n, k, n_threads)
        elif kind == _DENSE:
            status = fnn_softmax_xent_dense(dtype, pz, ptg, pgs, ploss, pg, n, k, n_threads)
        else:
            status = fnn_sigmoid_bce(dtype, pz, ptg, pgs, ploss, pg, n, k, n_threads)
    return status


def softmax_xent_sparse(logits, labels, grad_scale, loss_out, grad_out, int n_threads):
    """Softmax + sparse categorical cross-entropy (see the contract above).  Returns OK,
    BAD_LABEL (nothing written) for a label outside [0, k), or NOT_TAKEN."""
    if not _loss_fits(_float_type(logits), logits, labels, True, grad_scale, loss_out,
                      grad_out):
        return FNN_NOT_TAKEN
    return _loss_run(_SPARSE, logits, labels, grad_scale, loss_out, grad_out, n_threads)


def softmax_xent_dense(logits, target, grad_scale, loss_out, grad_out, int n_threads):
    """Softmax + categorical cross-entropy against a one-hot or soft ``target`` (see the
    contract above).  Returns OK or NOT_TAKEN."""
    if not _loss_fits(_float_type(logits), logits, target, False, grad_scale, loss_out,
                      grad_out):
        return FNN_NOT_TAKEN
    return _loss_run(_DENSE, logits, target, grad_scale, loss_out, grad_out, n_threads)


def sigmoid_bce(logits, target, grad_scale, loss_out, grad_out, int n_threads):
    """Sigmoid + binary cross-entropy, the mean over each row (see the contract above).
    Returns OK or NOT_TAKEN."""
    if not _loss_fits(_float_type(logits), logits, target, False, grad_scale, loss_out,
                      grad_out):
        return FNN_NOT_TAKEN
    return _loss_run(_BCE, logits, target, grad_scale, loss_out, grad_out, n_threads)


# ---------------------------------------------------------------------- dropout / RNG

def counter_key(uint64_t seed, uint64_t stream):
    """The 64-bit key of (seed, stream), as numpy_ops.counter_key computes it."""
    return fnn_counter_key(seed, stream)


def counter_uniform(uint64_t seed, uint64_t stream, out, int n_threads):
    """``out[i]`` = the i-th uniform of (seed, stream), as numpy_ops.counter_uniform, for
    a C-contiguous float64 ``out``.  Returns OK or NOT_TAKEN."""
    cdef double *pout
    cdef Py_ssize_t n
    if not _fits_as(out, cnp.NPY_FLOAT64, -1, _OUT_C):
        return FNN_NOT_TAKEN
    pout, n = <double *>_data(out), _size(out)
    with nogil:
        fnn_counter_uniform_f64(seed, stream, pout, n, n_threads)
    return FNN_OK


def dropout_mask(uint64_t seed, uint64_t stream, double rate, out, int n_threads):
    """``out`` = the inverted-dropout multiplier of NumpyOps.dropout_mask, bit for bit,
    for a C-contiguous ``out`` and 0 <= rate < 1.  Returns OK or NOT_TAKEN."""
    cdef int t = _float_type(out)
    cdef void *pout
    cdef Py_ssize_t n
    if t < 0 or not (0.0 <= rate < 1.0) or not _fits_as(out, t, -1, _OUT_C):
        return FNN_NOT_TAKEN
    pout, n = _data(out), _size(out)
    with nogil:
        fnn_dropout_mask(_dtype_code(t), seed, stream, rate, pout, n, n_threads)
    return FNN_OK
