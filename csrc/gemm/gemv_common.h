/* Shared by gemv.c and gemv_avx2.c (internal header): what both variants of the
 * matrix-vector kernel need before gemv_tmpl.h is instantiated. */
#ifndef FNN_GEMV_COMMON_H
#define FNN_GEMV_COMMON_H

#include <stddef.h>

#include "../activations.h"
#include "../fnn_dispatch.h"

/* Multiply-adds below which a matrix-vector product stays on one thread: a parallel
 * region costs a few microseconds, a one-thread product of this size about ten.  The
 * 784 x 500 layer (392K) splits; the 500 x 10 output layer does not. */
#define FNN_GEMV_GRAIN ((ptrdiff_t)131072)

static inline int fnn_gemv_threads(ptrdiff_t n, ptrdiff_t k, ptrdiff_t nblocks,
                                   int nthreads)
{
    ptrdiff_t t = n * k / FNN_GEMV_GRAIN;
    if (nthreads <= 1 || t < 2 || nblocks < 2)
        return 1;
    if (t > nblocks)
        t = nblocks;
    return t < (ptrdiff_t)nthreads ? (int)t : nthreads;
}

/* The entry each variant file defines (see gemv.h for the arguments). */
#define FNN_GEMV_ARGS                                                                   \
    fnn_dtype dtype, ptrdiff_t n, ptrdiff_t k, const void *x, ptrdiff_t inc_x,          \
        const void *b, ptrdiff_t rs_b, void *y, ptrdiff_t inc_y, const void *bias,      \
        int act, double alpha, int nthreads
#define FNN_GEMV_PASS n, k, x, inc_x, b, rs_b, y, inc_y, bias, act, alpha, nthreads

fnn_status fnn_gemv_avx2(FNN_GEMV_ARGS);

#endif
