# The element-wise kernels (csrc/activations.c, losses.c, rng.c) and the optimizer
# updates (csrc/optimizers.c), each behind one Cython entry.
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
# - The optimizer updates below still take typed memoryviews (NativeOps checks them) and
#   the fused type `floating`; they move to their own module.

from cython cimport floating
from cpython.mem cimport PyMem_Free, PyMem_Malloc
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


cdef extern from "optimizers.h" nogil:
    void fnn_sgd_update_f32(float *param, const float *grad, float *velocity, Py_ssize_t n,
                            double lr, double momentum, int nesterov, double weight_decay,
                            double grad_scale, double clipvalue, int n_threads)
    void fnn_sgd_update_f64(double *param, const double *grad, double *velocity,
                            Py_ssize_t n, double lr, double momentum, int nesterov,
                            double weight_decay, double grad_scale, double clipvalue,
                            int n_threads)
    void fnn_adagrad_update_f32(float *param, const float *grad, float *accumulator,
                                Py_ssize_t n, double lr, double epsilon,
                                double weight_decay, double grad_scale, double clipvalue,
                                int n_threads)
    void fnn_adagrad_update_f64(double *param, const double *grad, double *accumulator,
                                Py_ssize_t n, double lr, double epsilon,
                                double weight_decay, double grad_scale, double clipvalue,
                                int n_threads)
    void fnn_rmsprop_update_f32(float *param, const float *grad, float *velocity,
                                float *momentum_buf, float *average_grad, Py_ssize_t n,
                                double lr, double rho, double epsilon, double momentum,
                                double weight_decay, double grad_scale, double clipvalue,
                                int n_threads)
    void fnn_rmsprop_update_f64(double *param, const double *grad, double *velocity,
                                double *momentum_buf, double *average_grad, Py_ssize_t n,
                                double lr, double rho, double epsilon, double momentum,
                                double weight_decay, double grad_scale, double clipvalue,
                                int n_threads)
    void fnn_adam_update_f32(float *param, const float *grad, float *m, float *v,
                             float *v_hat, Py_ssize_t n, double lr, double step,
                             double beta_1, double beta_2, double epsilon,
                             double weight_decay, double grad_scale, double clipvalue,
                             int n_threads)
    void fnn_adam_update_f64(double *param, const double *grad, double *m, double *v,
                             double *v_hat, Py_ssize_t n, double lr, double step,
                             double beta_1, double beta_2, double epsilon,
                             double weight_decay, double grad_scale, double clipvalue,
                             int n_threads)
    double fnn_sum_squares_f32(const float *x, Py_ssize_t n, int n_threads)
    double fnn_sum_squares_f64(const double *x, Py_ssize_t n, int n_threads)

cdef extern from "rng.h" nogil:
    uint64_t fnn_counter_key(uint64_t seed, uint64_t stream)
    void fnn_counter_uniform_f64(uint64_t seed, uint64_t stream, double *u_out,
                                 Py_ssize_t n, int n_threads)
    fnn_status fnn_dropout_mask(fnn_dtype dtype, uint64_t seed, uint64_t stream,
                                double rate, void *mask_out, Py_ssize_t n, int n_threads)


# Pointer of an optional 1-D array: NULL for None (or an empty array, never dereferenced).
cdef inline floating *_opt_ptr(floating[::1] a) noexcept:
    if a is None or a.shape[0] == 0:
        return NULL
    return &a[0]


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


# ---------------------------------------------------------------------- optimizers
# param and the states are updated in place; optional states are None.

def sgd_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
               double lr, double momentum, bint nesterov, double weight_decay,
               double grad_scale, double clipvalue, int n_threads):
    cdef Py_ssize_t n = param.shape[0]
    cdef floating *vel = _opt_ptr(velocity)
    if n == 0:
        return
    with nogil:
        if floating is float:
            fnn_sgd_update_f32(&param[0], &grad[0], vel, n, lr, momentum, nesterov,
                               weight_decay, grad_scale, clipvalue, n_threads)
        else:
            fnn_sgd_update_f64(&param[0], &grad[0], vel, n, lr, momentum, nesterov,
                               weight_decay, grad_scale, clipvalue, n_threads)


def adagrad_update(floating[::1] param, const floating[::1] grad,
                   floating[::1] accumulator, double lr, double epsilon,
                   double weight_decay, double grad_scale, double clipvalue,
                   int n_threads):
    cdef Py_ssize_t n = param.shape[0]
    if n == 0:
        return
    with nogil:
        if floating is float:
            fnn_adagrad_update_f32(&param[0], &grad[0], &accumulator[0], n, lr, epsilon,
                                   weight_decay, grad_scale, clipvalue, n_threads)
        else:
            fnn_adagrad_update_f64(&param[0], &grad[0], &accumulator[0], n, lr, epsilon,
                                   weight_decay, grad_scale, clipvalue, n_threads)


def rmsprop_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
                   floating[::1] momentum_buf, floating[::1] average_grad, double lr,
                   double rho, double epsilon, double momentum, double weight_decay,
                   double grad_scale, double clipvalue, int n_threads):
    cdef Py_ssize_t n = param.shape[0]
    cdef floating *mbuf = _opt_ptr(momentum_buf)
    cdef floating *avg = _opt_ptr(average_grad)
    if n == 0:
        return
    with nogil:
        if floating is float:
            fnn_rmsprop_update_f32(&param[0], &grad[0], &velocity[0], mbuf, avg, n, lr, rho,
                                   epsilon, momentum, weight_decay, grad_scale, clipvalue,
                                   n_threads)
        else:
            fnn_rmsprop_update_f64(&param[0], &grad[0], &velocity[0], mbuf, avg, n, lr, rho,
                                   epsilon, momentum, weight_decay, grad_scale, clipvalue,
                                   n_threads)


def adam_update(floating[::1] param, const floating[::1] grad, floating[::1] m,
                floating[::1] v, floating[::1] v_hat, double lr, double step,
                double beta_1, double beta_2, double epsilon, double weight_decay,
                double grad_scale, double clipvalue, int n_threads):
    cdef Py_ssize_t n = param.shape[0]
    cdef floating *vh = _opt_ptr(v_hat)
    if n == 0:
        return
    with nogil:
        if floating is float:
            fnn_adam_update_f32(&param[0], &grad[0], &m[0], &v[0], vh, n, lr, step, beta_1,
                                beta_2, epsilon, weight_decay, grad_scale, clipvalue,
                                n_threads)
        else:
            fnn_adam_update_f64(&param[0], &grad[0], &m[0], &v[0], vh, n, lr, step, beta_1,
                                beta_2, epsilon, weight_decay, grad_scale, clipvalue,
                                n_threads)


def sum_squares(const floating[::1] x, int n_threads):
    """sum(x^2) in double, the same for every thread count."""
    cdef Py_ssize_t n = x.shape[0]
    cdef double s = 0.0
    if n == 0:
        return 0.0
    with nogil:
        if floating is float:
            s = fnn_sum_squares_f32(&x[0], n, n_threads)
        else:
            s = fnn_sum_squares_f64(&x[0], n, n_threads)
    return s


# ---------------------------------------------------------------------- multi-tensor
# One optimizer rule over every variable of a model in one call (Optimizer.apply's path):
# a training step then pays one Python -> C transition for its update instead of one per
# variable.  Unlike the wrappers above, these take Python lists of arrays and check each
# array with the NumPy C API (type, dtype, byte order, C order, alignment, writeable,
# shape equal to its parameter's): a few nanoseconds per array, far below what the same
# checks cost in Python.  When any array does not fit they update nothing and return -1,
# and NativeOps falls back to the per-variable path (which has its own checks).

cdef struct _Tensors:
    Py_ssize_t count
    Py_ssize_t nptr          # pointer rows: param, grad, then one per slot
    void **ptr               # ptr[row * count + t]; NULL for an absent slot
    Py_ssize_t *n
    double *weight_decay
    double *grad_scale


cdef int _gather_row(_Tensors *b, Py_ssize_t row, object arrays, list params, int typenum,
                     bint writeable) except -2:
    """Fill pointer row ``row`` from ``arrays`` (a list, or None for an absent slot)."""
    cdef Py_ssize_t t
    cdef cnp.ndarray a, p
    cdef int need = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED
    if writeable:
        need |= cnp.NPY_ARRAY_WRITEABLE
    if arrays is None:
        for t in range(b.count):
            b.ptr[row * b.count + t] = NULL
        return 0
    if type(arrays) is not list or len(<list>arrays) != b.count:
        return -1
    for t in range(b.count):
        obj = (<list>arrays)[t]
        if not cnp.PyArray_Check(obj):
            return -1
        a = <cnp.ndarray>obj
        if (
            cnp.PyArray_TYPE(a) != typenum
            or not cnp.PyArray_ISNOTSWAPPED(a)
            or (cnp.PyArray_FLAGS(a) & need) != need
        ):
            return -1
        if row > 0:
            p = <cnp.ndarray>params[t]
            if not cnp.PyArray_SAMESHAPE(a, p):
                return -1
        b.ptr[row * b.count + t] = cnp.PyArray_DATA(a)
    return 0


cdef int _tensors_init(_Tensors *b, list params, list grads, tuple slots,
                       list weight_decay, list grad_scale) except -2:
    """Check and gather everything (GIL held); 0 when the kernels may run, else -1.
    The caller frees b's buffers with _tensors_free whatever the result."""
    cdef Py_ssize_t t, count, row
    cdef int typenum
    b.ptr = NULL
    b.n = NULL
    b.weight_decay = NULL
    b.grad_scale = NULL
    count = len(params)
    b.count = count
    b.nptr = 2 + len(slots)
    b.ptr = <void **>PyMem_Malloc(max(1, b.nptr * count) * sizeof(void *))
    b.n = <Py_ssize_t *>PyMem_Malloc(max(1, count) * sizeof(Py_ssize_t))
    b.weight_decay = <double *>PyMem_Malloc(max(1, count) * sizeof(double))
    b.grad_scale = <double *>PyMem_Malloc(max(1, count) * sizeof(double))
    if not (b.ptr and b.n and b.weight_decay and b.grad_scale):
        raise MemoryError()
    if count == 0 or len(grads) != count or len(weight_decay) != count \
            or len(grad_scale) != count or not cnp.PyArray_Check(params[0]):
        return -1
    typenum = cnp.PyArray_TYPE(<cnp.ndarray>params[0])
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        return -1
    if _gather_row(b, 0, params, params, typenum, True) != 0:
        return -1
    if _gather_row(b, 1, grads, params, typenum, False) != 0:
        return -1
    for row in range(len(slots)):
        if _gather_row(b, 2 + row, slots[row], params, typenum, True) != 0:
            return -1
    for t in range(count):
        b.n[t] = cnp.PyArray_SIZE(<cnp.ndarray>params[t])
        b.weight_decay[t] = weight_decay[t]
        b.grad_scale[t] = grad_scale[t]
    return typenum


cdef void _tensors_free(_Tensors *b) noexcept:
    PyMem_Free(b.ptr)
    PyMem_Free(b.n)
    PyMem_Free(b.weight_decay)
    PyMem_Free(b.grad_scale)


cdef inline floating *_row(_Tensors *b, floating *tag, Py_ssize_t row,
                           Py_ssize_t t) noexcept nogil:
    return <floating *>b.ptr[row * b.count + t]


cdef void _sgd_multi(floating *tag, _Tensors *b, double lr, double momentum, bint nesterov,
                     double clipvalue, int n_threads) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(b.count):
        if b.n[t] == 0:
            continue
        if floating is float:
            fnn_sgd_update_f32(_row(b, tag, 0, t), _row(b, tag, 1, t), _row(b, tag, 2, t),
                               b.n[t], lr, momentum, nesterov, b.weight_decay[t],
                               b.grad_scale[t], clipvalue, n_threads)
        else:
            fnn_sgd_update_f64(_row(b, tag, 0, t), _row(b, tag, 1, t), _row(b, tag, 2, t),
                               b.n[t], lr, momentum, nesterov, b.weight_decay[t],
                               b.grad_scale[t], clipvalue, n_threads)


cdef void _adagrad_multi(floating *tag, _Tensors *b, double lr, double epsilon,
                         double clipvalue, int n_threads) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(b.count):
        if b.n[t] == 0:
            continue
        if floating is float:
            fnn_adagrad_update_f32(_row(b, tag, 0, t), _row(b, tag, 1, t),
                                   _row(b, tag, 2, t), b.n[t], lr, epsilon,
                                   b.weight_decay[t], b.grad_scale[t], clipvalue, n_threads)
        else:
            fnn_adagrad_update_f64(_row(b, tag, 0, t), _row(b, tag, 1, t),
                                   _row(b, tag, 2, t), b.n[t], lr, epsilon,
                                   b.weight_decay[t], b.grad_scale[t], clipvalue, n_threads)


cdef void _rmsprop_multi(floating *tag, _Tensors *b, double lr, double rho, double epsilon,
                         double momentum, double clipvalue, int n_threads) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(b.count):
        if b.n[t] == 0:
            continue
        if floating is float:
            fnn_rmsprop_update_f32(_row(b, tag, 0, t), _row(b, tag, 1, t),
                                   _row(b, tag, 2, t), _row(b, tag, 3, t),
                                   _row(b, tag, 4, t), b.n[t], lr, rho, epsilon, momentum,
                                   b.weight_decay[t], b.grad_scale[t], clipvalue, n_threads)
        else:
            fnn_rmsprop_update_f64(_row(b, tag, 0, t), _row(b, tag, 1, t),
                                   _row(b, tag, 2, t), _row(b, tag, 3, t),
                                   _row(b, tag, 4, t), b.n[t], lr, rho, epsilon, momentum,
                                   b.weight_decay[t], b.grad_scale[t], clipvalue, n_threads)


cdef void _adam_multi(floating *tag, _Tensors *b, double lr, double step, double beta_1,
                      double beta_2, double epsilon, double clipvalue,
                      int n_threads) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(b.count):
        if b.n[t] == 0:
            continue
        if floating is float:
            fnn_adam_update_f32(_row(b, tag, 0, t), _row(b, tag, 1, t), _row(b, tag, 2, t),
                                _row(b, tag, 3, t), _row(b, tag, 4, t), b.n[t], lr, step,
                                beta_1, beta_2, epsilon, b.weight_decay[t],
                                b.grad_scale[t], clipvalue, n_threads)
        else:
            fnn_adam_update_f64(_row(b, tag, 0, t), _row(b, tag, 1, t), _row(b, tag, 2, t),
                                _row(b, tag, 3, t), _row(b, tag, 4, t), b.n[t], lr, step,
                                beta_1, beta_2, epsilon, b.weight_decay[t],
                                b.grad_scale[t], clipvalue, n_threads)


def sgd_update_multi(list params not None, list grads not None, object velocity, double lr, double momentum,
                     bint nesterov, list weight_decay, list grad_scale, double clipvalue,
                     int n_threads):
    """sgd_update on every (params[t], grads[t], velocity[t]); velocity is a list or
    None (no momentum).  Returns 0, or -1 (nothing updated) when an array does not fit."""
    cdef _Tensors b
    cdef int typenum
    try:
        typenum = _tensors_init(&b, params, grads, (velocity,), weight_decay, grad_scale)
        if typenum <= 0:
            return -1
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                _sgd_multi(<float *>NULL, &b, lr, momentum, nesterov, clipvalue, n_threads)
            else:
                _sgd_multi(<double *>NULL, &b, lr, momentum, nesterov, clipvalue, n_threads)
        return 0
    finally:
        _tensors_free(&b)


def adagrad_update_multi(list params not None, list grads not None, list accumulator, double lr,
                         double epsilon, list weight_decay, list grad_scale,
                         double clipvalue, int n_threads):
    """adagrad_update on every variable; see sgd_update_multi."""
    cdef _Tensors b
    cdef int typenum
    try:
        typenum = _tensors_init(&b, params, grads, (accumulator,), weight_decay, grad_scale)
        if typenum <= 0:
            return -1
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                _adagrad_multi(<float *>NULL, &b, lr, epsilon, clipvalue, n_threads)
            else:
                _adagrad_multi(<double *>NULL, &b, lr, epsilon, clipvalue, n_threads)
        return 0
    finally:
        _tensors_free(&b)


def rmsprop_update_multi(list params not None, list grads not None, list velocity, object momentum_buf,
                         object average_grad, double lr, double rho, double epsilon,
                         double momentum, list weight_decay, list grad_scale,
                         double clipvalue, int n_threads):
    """rmsprop_update on every variable (momentum_buf, average_grad: lists or None)."""
    cdef _Tensors b
    cdef int typenum
    try:
        typenum = _tensors_init(&b, params, grads, (velocity, momentum_buf, average_grad),
                                weight_decay, grad_scale)
        if typenum <= 0:
            return -1
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                _rmsprop_multi(<float *>NULL, &b, lr, rho, epsilon, momentum, clipvalue,
                               n_threads)
            else:
                _rmsprop_multi(<double *>NULL, &b, lr, rho, epsilon, momentum, clipvalue,
                               n_threads)
        return 0
    finally:
        _tensors_free(&b)


def adam_update_multi(list params not None, list grads not None, list m, list v, object v_hat, double lr,
                      double step, double beta_1, double beta_2, double epsilon,
                      list weight_decay, list grad_scale, double clipvalue, int n_threads):
    """adam_update on every variable (v_hat: a list for amsgrad, else None)."""
    cdef _Tensors b
    cdef int typenum
    try:
        typenum = _tensors_init(&b, params, grads, (m, v, v_hat), weight_decay, grad_scale)
        if typenum <= 0:
            return -1
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                _adam_multi(<float *>NULL, &b, lr, step, beta_1, beta_2, epsilon,
                            clipvalue, n_threads)
            else:
                _adam_multi(<double *>NULL, &b, lr, step, beta_1, beta_2, epsilon,
                            clipvalue, n_threads)
        return 0
    finally:
        _tensors_free(&b)


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
