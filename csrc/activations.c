/* Activations, forward and backward, float32 and float64 from one source.
 *
 * Design
 * - The kernels live in activations_tmpl.h, included once per dtype below; only the
 *   element type and the name suffix change, so the two dtypes cannot drift apart.
 *   Each kernel's dtype-generic entry (fnn_dispatch.h), the one fastnn/_native calls,
 *   follows the instantiation.
 * - fnn_act_forward_inplace_* is serial on purpose: the GEMM epilogue calls it on a tile
 *   from inside its own parallel region.  Every other entry point takes n_threads and
 *   splits the array into fixed blocks (ew_common.h), so results never depend on it.
 * - Backward works from the output y, as NumpyOps does (x for gelu and swish only).
 * - Stability: sigmoid, swish and softplus use exp(-|x|) <= 1; elu/selu take expm1 of
 *   min(x, 0) only; softmax subtracts the row maximum.
 * - Speed: exp/expm1/log1p/tanh come from fnn_math.h, branch-free versions the compiler
 *   vectorises (libm calls would keep every such loop scalar, while NumPy's are SIMD).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <tgmath.h>

#include "activations.h"
#include "ew_common.h"
#include "fnn_math.h"

/* Constants as Keras uses them (fastnn/backend/activations.py). */
#define FNN_SELU_ALPHA 1.6732632423543772848170429916717
#define FNN_SELU_SCALE 1.0507009873554804934193349852946
#define FNN_INV_SQRT2 0.70710678118654752440084436210485
#define FNN_INV_SQRT_2PI 0.39894228040143267793994605993438

/* Relative cost of one element, for the threading threshold (ew_common.h). */
static inline ptrdiff_t fnn_act_cost(int act) {
    switch (act) {
    case FNN_ACT_LINEAR:
    case FNN_ACT_RELU:
    case FNN_ACT_LEAKY_RELU:
        return 1;
    default:
        return FNN_EW_COST_TRANSC;
    }
}

#define FNN_TEMPLATE "activations_tmpl.h"
#include "fnn_instantiate.h"

/* The dtype-generic entries (fnn_dispatch.h). */
fnn_status fnn_act_forward(fnn_dtype dtype, int act, double alpha, const void *x,
                           void *y_out, ptrdiff_t n, int n_threads)
{
    FNN_DISPATCH_VOID(dtype, fnn_act_forward, (act, alpha, x, y_out, n, n_threads));
}

fnn_status fnn_act_backward(fnn_dtype dtype, int act, double alpha, const void *dy,
                            const void *y, const void *x, void *dx_out, ptrdiff_t n,
                            int n_threads)
{
    FNN_DISPATCH_VOID(dtype, fnn_act_backward, (act, alpha, dy, y, x, dx_out, n, n_threads));
}

fnn_status fnn_softmax(fnn_dtype dtype, const void *x, void *y_out, ptrdiff_t rows,
                       ptrdiff_t cols, int n_threads)
{
    FNN_DISPATCH_VOID(dtype, fnn_softmax, (x, y_out, rows, cols, n_threads));
}

fnn_status fnn_softmax_backward(fnn_dtype dtype, const void *dy, const void *y,
                                void *dx_out, ptrdiff_t rows, ptrdiff_t cols,
                                int n_threads)
{
    FNN_DISPATCH_VOID(dtype, fnn_softmax_backward, (dy, y, dx_out, rows, cols, n_threads));
}
