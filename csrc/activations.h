/* Element-wise activations, forward and backward, for float32 and float64.
 *
 * The enum values are the contract with fastnn/_native (which maps the Python names in
 * fastnn/backend/activations.py onto them) and with the GEMM epilogue, which applies
 * fnn_act_forward_* to each finished row segment of C while it is still in cache.
 * Backward takes the activation's output y (and x for GELU and swish, whose derivative
 * cannot be recovered from y).
 */
#ifndef FNN_ACTIVATIONS_H
#define FNN_ACTIVATIONS_H

#include <stddef.h>

#include "fnn_dispatch.h"

typedef enum {
    FNN_ACT_LINEAR = 0,
    FNN_ACT_RELU = 1,
    FNN_ACT_SIGMOID = 2,
    FNN_ACT_TANH = 3,
    FNN_ACT_SOFTMAX = 4, /* row-wise: not usable in the GEMM epilogue */
    FNN_ACT_LEAKY_RELU = 5,
    FNN_ACT_ELU = 6,
    FNN_ACT_SELU = 7,
    FNN_ACT_GELU = 8,
    FNN_ACT_SOFTPLUS = 9,
    FNN_ACT_SWISH = 10
} fnn_activation;

/* In place: x[i] = f(x[i]) for i < n.  alpha is leaky_relu's slope / elu's alpha.
 * Not for FNN_ACT_SOFTMAX (use the row-wise softmax kernel). */
void fnn_act_forward_inplace_f32(int act, float alpha, float *x, ptrdiff_t n);
void fnn_act_forward_inplace_f64(int act, double alpha, double *x, ptrdiff_t n);

/* Out of place, y_out[n] may alias x exactly.  Splits large arrays over up to n_threads
 * OpenMP threads in fixed blocks, so the result does not depend on n_threads.  Backward:
 * IN dy, y (forward output), x (pre-activation, read for GELU and swish only, else may be
 * NULL); OUT dx_out (may alias any input exactly).  Not for FNN_ACT_SOFTMAX. */
void fnn_act_forward_f32(int act, float alpha, const float *x, float *y_out, ptrdiff_t n,
                         int n_threads);
void fnn_act_forward_f64(int act, double alpha, const double *x, double *y_out,
                         ptrdiff_t n, int n_threads);
void fnn_act_backward_f32(int act, float alpha, const float *dy, const float *y,
                          const float *x, float *dx_out, ptrdiff_t n, int n_threads);
void fnn_act_backward_f64(int act, double alpha, const double *dy, const double *y,
                          const double *x, double *dx_out, ptrdiff_t n, int n_threads);

/* Row-wise softmax of a C-contiguous rows x cols matrix, shifted by each row's maximum.
 * y_out may alias x.  Backward: dx = y * (dy - sum_j dy*y), dx_out may alias dy or y. */
void fnn_softmax_f32(const float *x, float *y_out, ptrdiff_t rows, ptrdiff_t cols,
                     int n_threads);
void fnn_softmax_f64(const double *x, double *y_out, ptrdiff_t rows, ptrdiff_t cols,
                     int n_threads);
void fnn_softmax_backward_f32(const float *dy, const float *y, float *dx_out,
                              ptrdiff_t rows, ptrdiff_t cols, int n_threads);
void fnn_softmax_backward_f64(const double *dy, const double *y, double *dx_out,
                              ptrdiff_t rows, ptrdiff_t cols, int n_threads);

/* The dtype-generic entries fastnn/_native calls (fnn_dispatch.h): the kernels above
 * with void pointers, dtype an fnn_dtype.  FNN_NOT_TAKEN for an unknown dtype, else
 * FNN_OK.  alpha is converted to the element type. */
fnn_status fnn_act_forward(fnn_dtype dtype, int act, double alpha, const void *x,
                           void *y_out, ptrdiff_t n, int n_threads);
fnn_status fnn_act_backward(fnn_dtype dtype, int act, double alpha, const void *dy,
                            const void *y, const void *x, void *dx_out, ptrdiff_t n,
                            int n_threads);
fnn_status fnn_softmax(fnn_dtype dtype, const void *x, void *y_out, ptrdiff_t rows,
                       ptrdiff_t cols, int n_threads);
fnn_status fnn_softmax_backward(fnn_dtype dtype, const void *dy, const void *y,
                                void *dx_out, ptrdiff_t rows, ptrdiff_t cols,
                                int n_threads);

#endif
