/* fastnn GEMV: one row times a matrix, with the GEMM's bias + activation epilogue.
 *
 *     y[j] = act(sum_p x[p * inc_x] * B[p][j] + bias[j]),  j < n, p < k,
 *
 * B row-major with row stride rs_b (its columns contiguous), y[j] at y[j * inc_y], bias
 * NULL or n contiguous values, act an fnn_activation other than softmax.  This is the
 * GEMM's m == 1 case without the packing (fastnn/_native/_gemm.pyx sends it here); k == 0
 * gives y = act(bias).  Each y[j] is one sequential multiply-add chain, whatever
 * nthreads, so the result never depends on the thread count.  The AVX2+FMA variant runs
 * when the GEMM uses its AVX2 kernel (so FASTNN_DISABLE_SIMD=1 selects the portable one),
 * and then each multiply-add is fused.  The kernel trusts its inputs: y overlaps nothing.
 * Returns FNN_OK, or FNN_NOT_TAKEN for an unknown dtype.
 */
#ifndef FNN_GEMV_H
#define FNN_GEMV_H

#include <stddef.h>

#include "../fnn_dispatch.h"

fnn_status fnn_gemv(fnn_dtype dtype, ptrdiff_t n, ptrdiff_t k, const void *x,
                    ptrdiff_t inc_x, const void *b, ptrdiff_t rs_b, void *y,
                    ptrdiff_t inc_y, const void *bias, int act, double alpha,
                    int nthreads);

#endif
