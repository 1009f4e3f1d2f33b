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

#endif
