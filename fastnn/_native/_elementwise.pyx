# Thin nogil wrappers over csrc/activations.c, losses.c, optimizers.c and rng.c.
#
# Each function takes C-contiguous typed memoryviews of one float dtype (the fused type
# `floating` picks the _f32 or _f64 kernel, so both dtypes share this one source) and
# calls the kernel without the GIL.  Nothing is validated or allocated here: NativeOps
# checks dtypes, contiguity, shapes and aliasing first.  Read-only inputs are declared
# const so NumPy arrays with writeable=False are accepted.  Optional arrays are None.

from cython cimport floating
from libc.stdint cimport int64_t, uint64_t


cdef extern from "activations.h" nogil:
    cdef enum:
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
ACTIVATION_CODES = {
    "linear": FNN_ACT_LINEAR,
    "relu": FNN_ACT_RELU,
    "sigmoid": FNN_ACT_SIGMOID,
    "tanh": FNN_ACT_TANH,
    "softmax": FNN_ACT_SOFTMAX,
    "leaky_relu": FNN_ACT_LEAKY_RELU,
    "elu": FNN_ACT_ELU,
    "selu": FNN_ACT_SELU,
    "gelu": FNN_ACT_GELU,
    "softplus": FNN_ACT_SOFTPLUS,
    "swish": FNN_ACT_SWISH,
}


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
