/* Optimizer updates (see optimizers.h), float32 and float64 from one source.
 *
 * Design
 * - One pass per update: each element's gradient is clipped, scaled, its parameter
 *   decayed and the rule applied while everything is in registers, instead of NumPy's
 *   five to ten full-array temporaries.
 * - The loop-invariant switches (clipping, momentum, nesterov, centered, amsgrad) are
 *   tested outside the element loops, so each inner loop is branch-free and vectorises.
 *   Clipping "off" is a clamp to +-inf and scale "off" a multiply by 1, both exact, so
 *   they need no switch at all; weight decay does, because p - 0*p is NaN for p = inf.
 * - Hyper-parameters are rounded to the element type exactly where NumPy rounds a Python
 *   float (weak scalars in NumPy 2); Adam's bias-corrected step size stays double, as
 *   NumPy computes alpha * m / (sqrt(v) + eps) in float64.
 * - sum_squares uses fixed blocks (sizes a function of n only), summed in block order.
 * The kernels are in optimizers_tmpl.h, included once per dtype.
 */
#include <math.h>
#include <stddef.h>
#include <tgmath.h>

#include "ew_common.h"
#include "optimizers.h"

/* Block sums of sum_squares live on the stack: at most this many blocks, each at least
 * FNN_EW_BLOCK long. */
#define FNN_SUMSQ_MAX_BLOCKS 256

/* Cheap elements per update: an optimizer streams 3-6 arrays per element, so its
 * "element" is a few times the traffic of an activation's. */
#define FNN_OPT_COST ((ptrdiff_t)2)

#define FNN_TEMPLATE "optimizers_tmpl.h"
#include "fnn_instantiate.h"
