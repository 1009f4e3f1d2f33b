# Thin nogil wrappers over csrc/activations.c, losses.c, optimizers.c and rng.c.
#
# Each function takes C-contiguous typed memoryviews of one float dtype (the fused type
# `floating` picks the _f32 or _f64 kernel, so both dtypes share this one source) and
# calls the kernel without the GIL.  Nothing is validated or allocated here: NativeOps
# checks dtypes, contiguity, shapes and aliasing first.  Read-only inputs are declared
# const so NumPy arrays with writeable=False are accepted.  Optional arrays are None.

from cython cimport floating
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint64_t

include "_arrays.pxi"


include "_activation_codes.pxi"


cdef extern from "activations.h" nogil:
    void fnn_act_forward_f32(int act, float alpha, const float *x, float *y_out,
                             Py_ssize_t n, int n_threads)
    void fnn_act_forward_f64(int act, double alpha, const double *x, double *y_out,
                             Py_ssize_t n, int n_threads)
    void fnn_act_backward_f32(int act, float alpha, const float *dy, const float *y,
                              const float *x, float *dx_out, Py_ssize_t n, int n_threads)
    void fnn_act_backward_f64(int act, double alpha, const double *dy, const double *y,
                              const double *x, double *dx_out, Py_ssize_t n, int n_threads)
    void fnn_softmax_f32(const float *x, float *y_out, Py_ssize_t rows, Py_ssize_t cols,
                         int n_threads)
    void fnn_softmax_f64(const double *x, double *y_out, Py_ssize_t rows, Py_ssize_t cols,
                         int n_threads)
    void fnn_softmax_backward_f32(const float *dy, const float *y, float *dx_out,
                                  Py_ssize_t rows, Py_ssize_t cols, int n_threads)
    void fnn_softmax_backward_f64(const double *dy, const double *y, double *dx_out,
                                  Py_ssize_t rows, Py_ssize_t cols, int n_threads)


cdef extern from "losses.h" nogil:
    int fnn_softmax_xent_sparse_f32(const float *logits, const int64_t *labels,
                                    const float *grad_scale, float *loss_out,
                                    float *grad_out, Py_ssize_t n, Py_ssize_t k,
                                    int n_threads)
    int fnn_softmax_xent_sparse_f64(const double *logits, const int64_t *labels,
                                    const double *grad_scale, double *loss_out,
                                    double *grad_out, Py_ssize_t n, Py_ssize_t k,
                                    int n_threads)
    void fnn_softmax_xent_dense_f32(const float *logits, const float *target,
                                    const float *grad_scale, float *loss_out,
                                    float *grad_out, Py_ssize_t n, Py_ssize_t k,
                                    int n_threads)
    void fnn_softmax_xent_dense_f64(const double *logits, const double *target,
                                    const double *grad_scale, double *loss_out,
                                    double *grad_out, Py_ssize_t n, Py_ssize_t k,
                                    int n_threads)
    void fnn_sigmoid_bce_f32(const float *logits, const float *target,
                             const float *grad_scale, float *loss_out, float *grad_out,
                             Py_ssize_t n, Py_ssize_t k, int n_threads)
    void fnn_sigmoid_bce_f64(const double *logits, const double *target,
                             const double *grad_scale, double *loss_out, double *grad_out,
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
    void fnn_dropout_mask_f32(uint64_t seed, uint64_t stream, double rate, float *mask_out,
                              Py_ssize_t n, int n_threads)
    void fnn_dropout_mask_f64(uint64_t seed, uint64_t stream, double rate,
                              double *mask_out, Py_ssize_t n, int n_threads)


# Canonical activation names (fastnn/backend/activations.py) -> the C enum.


# Pointer of an optional 1-D array: NULL for None (or an empty array, never dereferenced).
cdef inline floating *_opt_ptr(floating[::1] a) noexcept:
    if a is None or a.shape[0] == 0:
        return NULL
    return &a[0]


# ---------------------------------------------------------------------- activations

def act_forward(int act, double alpha, const floating[::1] x, floating[::1] out,
                int n_threads):
    """out = f(x) element-wise (out may be x); act is an fnn_activation code."""
    cdef Py_ssize_t n = x.shape[0]
    if n == 0:
        return
    with nogil:
        if floating is float:
            fnn_act_forward_f32(act, <float>alpha, &x[0], &out[0], n, n_threads)
        else:
            fnn_act_forward_f64(act, alpha, &x[0], &out[0], n, n_threads)


def act_backward(int act, double alpha, const floating[::1] dy, const floating[::1] y,
                 const floating[::1] x, floating[::1] out, int n_threads):
    """out = dL/dx from dy and the output y (x is read for gelu and swish only)."""
    cdef Py_ssize_t n = dy.shape[0]
    if n == 0:
        return
    with nogil:
        if floating is float:
            fnn_act_backward_f32(act, <float>alpha, &dy[0], &y[0], &x[0], &out[0], n,
                                 n_threads)
        else:
            fnn_act_backward_f64(act, alpha, &dy[0], &y[0], &x[0], &out[0], n, n_threads)


def softmax(const floating[:, ::1] x, floating[:, ::1] out, int n_threads):
    """Row-wise softmax of a rows x cols matrix (out may be x); cols must be > 0."""
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    if rows == 0:
        return
    with nogil:
        if floating is float:
            fnn_softmax_f32(&x[0, 0], &out[0, 0], rows, cols, n_threads)
        else:
            fnn_softmax_f64(&x[0, 0], &out[0, 0], rows, cols, n_threads)


def softmax_backward(const floating[:, ::1] dy, const floating[:, ::1] y,
                     floating[:, ::1] out, int n_threads):
    """out = y * (dy - sum(dy * y, axis=1)); cols must be > 0."""
    cdef Py_ssize_t rows = dy.shape[0], cols = dy.shape[1]
    if rows == 0:
        return
    with nogil:
        if floating is float:
            fnn_softmax_backward_f32(&dy[0, 0], &y[0, 0], &out[0, 0], rows, cols,
                                     n_threads)
        else:
            fnn_softmax_backward_f64(&dy[0, 0], &y[0, 0], &out[0, 0], rows, cols,
                                     n_threads)


# ---------------------------------------------------------------------- losses
# grad_scale and grad_out are both None (loss only) or both arrays.

def softmax_xent_sparse(const floating[:, ::1] logits, const int64_t[::1] labels,
                        const floating[::1] grad_scale, floating[::1] loss_out,
                        floating[:, ::1] grad_out, int n_threads):
    """Softmax + sparse cross-entropy; returns 0, or -1 (nothing written) for a label
    outside [0, k)."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1]
    cdef const floating *gs = NULL
    cdef floating *g = NULL
    cdef int status
    if n == 0:
        return 0
    if grad_scale is not None:
        gs = &grad_scale[0]
        g = &grad_out[0, 0]
    with nogil:
        if floating is float:
            status = fnn_softmax_xent_sparse_f32(&logits[0, 0], &labels[0], gs,
                                                 &loss_out[0], g, n, k, n_threads)
        else:
            status = fnn_softmax_xent_sparse_f64(&logits[0, 0], &labels[0], gs,
                                                 &loss_out[0], g, n, k, n_threads)
    return status


def softmax_xent_dense(const floating[:, ::1] logits, const floating[:, ::1] target,
                       const floating[::1] grad_scale, floating[::1] loss_out,
                       floating[:, ::1] grad_out, int n_threads):
    """Softmax + categorical cross-entropy against a one-hot or soft target."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1]
    cdef const floating *gs = NULL
    cdef floating *g = NULL
    if n == 0:
        return
    if grad_scale is not None:
        gs = &grad_scale[0]
        g = &grad_out[0, 0]
    with nogil:
        if floating is float:
            fnn_softmax_xent_dense_f32(&logits[0, 0], &target[0, 0], gs, &loss_out[0], g,
                                       n, k, n_threads)
        else:
            fnn_softmax_xent_dense_f64(&logits[0, 0], &target[0, 0], gs, &loss_out[0], g,
                                       n, k, n_threads)


def sigmoid_bce(const floating[:, ::1] logits, const floating[:, ::1] target,
                const floating[::1] grad_scale, floating[::1] loss_out,
                floating[:, ::1] grad_out, int n_threads):
    """Sigmoid + binary cross-entropy, mean over each row."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1]
    cdef const floating *gs = NULL
    cdef floating *g = NULL
    if n == 0:
        return
    if grad_scale is not None:
        gs = &grad_scale[0]
        g = &grad_out[0, 0]
    with nogil:
        if floating is float:
            fnn_sigmoid_bce_f32(&logits[0, 0], &target[0, 0], gs, &loss_out[0], g, n, k,
                                n_threads)
        else:
            fnn_sigmoid_bce_f64(&logits[0, 0], &target[0, 0], gs, &loss_out[0], g, n, k,
                                n_threads)


# The three fused losses on plain ndarrays, checked here (_arrays.pxi): a training step
# calls one per output, and this saves it the typed-memoryview and Python checks.
cpdef enum:
    LOSS_SIGMOID_BCE = 0
    LOSS_SOFTMAX_XENT_DENSE = 1
    LOSS_SOFTMAX_XENT_SPARSE = 2


cdef int _loss_run(floating *tag, int kind, cnp.ndarray logits, cnp.ndarray target,
                   object grad_scale, cnp.ndarray loss_out, object grad_out,
                   int n_threads) noexcept:
    cdef Py_ssize_t n = cnp.PyArray_DIM(logits, 0), k = cnp.PyArray_DIM(logits, 1)
    cdef const floating *z = <const floating *>cnp.PyArray_DATA(logits)
    cdef const void *t = cnp.PyArray_DATA(target)
    cdef floating *loss = <floating *>cnp.PyArray_DATA(loss_out)
    cdef const floating *gs = NULL
    cdef floating *g = NULL
    cdef int status = 0
    if grad_scale is not None:
        gs = <const floating *>cnp.PyArray_DATA(<cnp.ndarray>grad_scale)
        g = <floating *>cnp.PyArray_DATA(<cnp.ndarray>grad_out)
    with nogil:
        if kind == LOSS_SOFTMAX_XENT_SPARSE:
            if floating is float:
                status = fnn_softmax_xent_sparse_f32(z, <const int64_t *>t, gs, loss, g, n,
                                                     k, n_threads)
            else:
                status = fnn_softmax_xent_sparse_f64(z, <const int64_t *>t, gs, loss, g, n,
                                                     k, n_threads)
        elif kind == LOSS_SOFTMAX_XENT_DENSE:
            if floating is float:
                fnn_softmax_xent_dense_f32(z, <const float *>t, gs, loss, g, n, k, n_threads)
            else:
                fnn_softmax_xent_dense_f64(z, <const double *>t, gs, loss, g, n, k,
                                           n_threads)
        else:
            if floating is float:
                fnn_sigmoid_bce_f32(z, <const float *>t, gs, loss, g, n, k, n_threads)
            else:
                fnn_sigmoid_bce_f64(z, <const double *>t, gs, loss, g, n, k, n_threads)
    return status


def loss_arrays(int kind, object logits, object target, object grad_scale,
                object loss_out, object grad_out, int n_threads):
    """A fused loss (LOSS_*) on plain ndarrays, checked here: ``logits`` (n, k) with
    n, k > 0, ``target`` like ``logits`` (int64 labels of shape (n,) for the sparse
    loss), ``grad_scale`` None or n values, ``loss_out`` n values and ``grad_out`` None
    (when grad_scale is None) or like ``logits``, which it may be.  All C-contiguous,
    of one float dtype, outputs writeable and overlapping nothing else.  Returns 0,
    NOT_TAKEN, or for the sparse loss -1 (nothing written) for a label outside [0, k).
    """
    cdef cnp.ndarray z, out
    cdef int t
    cdef Py_ssize_t n, k
    if not cnp.PyArray_Check(logits) or (grad_scale is None) != (grad_out is None):
        return NOT_TAKEN
    t = cnp.PyArray_TYPE(<cnp.ndarray>logits)
    if (t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or not (
        _fits(logits, t, 2, False) and _c_order(<cnp.ndarray>logits)
        and _fits(loss_out, t, 1, True) and _c_order(<cnp.ndarray>loss_out)
    ):
        return NOT_TAKEN
    z, out = <cnp.ndarray>logits, <cnp.ndarray>loss_out
    n, k = cnp.PyArray_DIM(z, 0), cnp.PyArray_DIM(z, 1)
    if n == 0 or k == 0 or cnp.PyArray_DIM(out, 0) != n:
        return NOT_TAKEN
    if kind == LOSS_SOFTMAX_XENT_SPARSE:
        if not (_fits(target, cnp.NPY_INT64, 1, False) and _c_order(<cnp.ndarray>target)
                and cnp.PyArray_DIM(<cnp.ndarray>target, 0) == n):
            return NOT_TAKEN
    elif not (_fits(target, t, 2, False) and _c_order(<cnp.ndarray>target)
              and cnp.PyArray_SAMESHAPE(<cnp.ndarray>target, z)):
        return NOT_TAKEN
    if grad_scale is not None:
        if not (_fits(grad_scale, t, 1, False) and _c_order(<cnp.ndarray>grad_scale)
                and cnp.PyArray_DIM(<cnp.ndarray>grad_scale, 0) == n
                and _fits(grad_out, t, 2, True) and _c_order(<cnp.ndarray>grad_out)
                and cnp.PyArray_SAMESHAPE(<cnp.ndarray>grad_out, z)):
            return NOT_TAKEN
        # rows of the logits are read before written, so grad_out may be exactly them
        if _overlaps(<cnp.ndarray>grad_out, (target, grad_scale, out)) or (
                cnp.PyArray_DATA(<cnp.ndarray>grad_out) != cnp.PyArray_DATA(z)
                and _overlaps(<cnp.ndarray>grad_out, (z,))):
            return NOT_TAKEN
    if _overlaps(out, (z, target, grad_scale)):
        return NOT_TAKEN
    if t == cnp.NPY_FLOAT32:
        return _loss_run(<float *>NULL, kind, z, <cnp.ndarray>target, grad_scale, out,
                         grad_out, n_threads)
    return _loss_run(<double *>NULL, kind, z, <cnp.ndarray>target, grad_scale, out,
                     grad_out, n_threads)


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


def counter_uniform(uint64_t seed, uint64_t stream, double[::1] out, int n_threads):
    """out[i] = the i-th uniform of (seed, stream), as numpy_ops.counter_uniform."""
    cdef Py_ssize_t n = out.shape[0]
    if n == 0:
        return
    with nogil:
        fnn_counter_uniform_f64(seed, stream, &out[0], n, n_threads)


def dropout_mask(uint64_t seed, uint64_t stream, double rate, floating[::1] out,
                 int n_threads):
    """out = the inverted-dropout multiplier of NumpyOps.dropout_mask, bit for bit."""
    cdef Py_ssize_t n = out.shape[0]
    if n == 0:
        return
    with nogil:
        if floating is float:
            fnn_dropout_mask_f32(seed, stream, rate, &out[0], n, n_threads)
        else:
            fnn_dropout_mask_f64(seed, stream, rate, &out[0], n, n_threads)
