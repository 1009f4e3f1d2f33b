/* Fused losses from logits: per-sample loss and, optionally, its gradient.
 *
 * All matrices are C-contiguous n x k.  grad_scale[n] scales each row's gradient (Keras'
 * "sum_over_batch_size" with sample weights w is grad_scale = w / n); pass grad_scale =
 * NULL to skip the gradient, and then grad_out is not touched (may be NULL).  grad_out may
 * alias logits exactly: each row is read completely before it is written.  Rows are
 * independent, so splitting them over n_threads threads never changes a result.
 */
#ifndef FNN_LOSSES_H
#define FNN_LOSSES_H

#include <stddef.h>
#include <stdint.h>

#include "fnn_dispatch.h"

/* Softmax + sparse categorical cross-entropy.  IN logits[n*k], labels[n] (class indices);
 * OUT loss_out[n], grad_out[n*k].  Returns FNN_OK, or FNN_BAD_LABEL without writing
 * anything when a label is outside [0, k). */
fnn_status fnn_softmax_xent_sparse_f32(const float *logits, const int64_t *labels,
                                const float *grad_scale, float *loss_out,
                                float *grad_out, ptrdiff_t n, ptrdiff_t k, int n_threads);
fnn_status fnn_softmax_xent_sparse_f64(const double *logits, const int64_t *labels,
                                const double *grad_scale, double *loss_out,
                                double *grad_out, ptrdiff_t n, ptrdiff_t k, int n_threads);

/* Softmax + categorical cross-entropy against a (one-hot or soft) target[n*k].
 * The gradient is softmax(z) * sum(t) - t, so unnormalised targets are handled too. */
void fnn_softmax_xent_dense_f32(const float *logits, const float *target,
                                const float *grad_scale, float *loss_out, float *grad_out,
                                ptrdiff_t n, ptrdiff_t k, int n_threads);
void fnn_softmax_xent_dense_f64(const double *logits, const double *target,
                                const double *grad_scale, double *loss_out,
                                double *grad_out, ptrdiff_t n, ptrdiff_t k, int n_threads);

/* Sigmoid + binary cross-entropy, averaged over each row's k outputs.  IN logits[n*k],
 * target[n*k]; OUT loss_out[n], grad_out[n*k] = (sigmoid(z) - t) * grad_scale[i] / k. */
void fnn_sigmoid_bce_f32(const float *logits, const float *target, const float *grad_scale,
                         float *loss_out, float *grad_out, ptrdiff_t n, ptrdiff_t k,
                         int n_threads);
void fnn_sigmoid_bce_f64(const double *logits, const double *target,
                         const double *grad_scale, double *loss_out, double *grad_out,
                         ptrdiff_t n, ptrdiff_t k, int n_threads);

/* The dtype-generic entries fastnn/_native calls (fnn_dispatch.h): the kernels above
 * with void pointers, dtype an fnn_dtype (labels stay int64).  FNN_NOT_TAKEN for an
 * unknown dtype, else the kernel's status. */
fnn_status fnn_softmax_xent_sparse(fnn_dtype dtype, const void *logits,
                                   const int64_t *labels, const void *grad_scale,
                                   void *loss_out, void *grad_out, ptrdiff_t n, ptrdiff_t k,
                                   int n_threads);
fnn_status fnn_softmax_xent_dense(fnn_dtype dtype, const void *logits, const void *target,
                                  const void *grad_scale, void *loss_out, void *grad_out,
                                  ptrdiff_t n, ptrdiff_t k, int n_threads);
fnn_status fnn_sigmoid_bce(fnn_dtype dtype, const void *logits, const void *target,
                           const void *grad_scale, void *loss_out, void *grad_out,
                           ptrdiff_t n, ptrdiff_t k, int n_threads);

#endif
