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
 * The kernels are in losses_tmpl.h, included once per dtype.
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
