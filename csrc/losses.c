/* Fused losses from logits (see losses.h), float32 and float64 from one source.
 *
 * Design
 * - One row at a time, in at most three sweeps over the row while it is in L1: the max,
 *   then exp/sum (which also leaves exp(z - max) in grad_out), then the gradient.  No
 *   temporaries: the row of grad_out doubles as the scratch for exp(z - max).
 * - Stability for logits of +-1e4: softmax works on z - max(z) <= 0, so exp <= 1 and the
 *   loss is log(sum) - (z_t - max) with no cancellation; the binary cross-entropy uses
 *   max(z, 0) - z*t + log1p(exp(-|z|)) and a two-branch sigmoid, neither of which can
 *   overflow.
 * - Row sums accumulate in double for both dtypes; rows go to threads whole, so no sum
 *   is ever split across threads.
 * The kernels are in losses_tmpl.h, included once per dtype; below them, each kernel's
 * dtype-generic entry (fnn_dispatch.h), the one fastnn/_native calls.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <tgmath.h>

#include "ew_common.h"
#include "fnn_math.h"
#include "losses.h"

#define FNN_TEMPLATE "losses_tmpl.h"
#include "fnn_instantiate.h"

/* The dtype-generic entries (fnn_dispatch.h). */
fnn_status fnn_softmax_xent_sparse(fnn_dtype dtype, const void *logits,
                                   const int64_t *labels, const void *grad_scale,
                                   void *loss_out, void *grad_out, ptrdiff_t n, ptrdiff_t k,
                                   int n_threads)
{
    FNN_DISPATCH(dtype, fnn_softmax_xent_sparse,
                 (logits, labels, grad_scale, loss_out, grad_out, n, k, n_threads));
}

fnn_status fnn_softmax_xent_dense(fnn_dtype dtype, const void *logits, const void *target,
                                  const void *grad_scale, void *loss_out, void *grad_out,
                                  ptrdiff_t n, ptrdiff_t k, int n_threads)
{
    FNN_DISPATCH_VOID(dtype, fnn_softmax_xent_dense,
                      (logits, target, grad_scale, loss_out, grad_out, n, k, n_threads));
}

fnn_status fnn_sigmoid_bce(fnn_dtype dtype, const void *logits, const void *target,
                           const void *grad_scale, void *loss_out, void *grad_out,
                           ptrdiff_t n, ptrdiff_t k, int n_threads)
{
    FNN_DISPATCH_VOID(dtype, fnn_sigmoid_bce,
                      (logits, target, grad_scale, loss_out, grad_out, n, k, n_threads));
}
