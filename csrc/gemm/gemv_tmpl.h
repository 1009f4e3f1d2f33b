/* The matrix-vector kernel, written once for both dtypes and both instruction sets.
 *
 * Included through fnn_instantiate.h (FNN_T, FNN_F) by gemv.c (portable) and by
 * gemv_avx2.c (compiled with -mavx2 -mfma, where a*b + c is contracted into one fused
 * multiply-add), on scalars and on GCC/Clang vectors alike through FNN_GEMV_MADD.
 * Everything here is static: each file gets its own copy.
 *
 * y[j] = act(sum_p x[p] B[p][j] + bias[j]) for a row-major B (cs_b == 1).  Columns are
 * taken FNN_GEMV_NB at a time; for each block the k rows of B stream through once while
 * its NB sums stay in registers (8 ymm accumulators: 64 float32 or 32 float64 columns;
 * their 8 FMAs per row are independent, so the FMA latency is covered), and each B row
 * segment read is 256 contiguous bytes, which the prefetchers follow.  Nothing is packed: every element of B
 * is read exactly once, which is why one row should not go through the GEMM (it packs
 * both operands, then reads each packed B panel for a single row).
 *
 * Every y[j] is one multiply-add chain over p = 0..k-1 from zero, then + bias, then the
 * activation: threads split the column blocks, so the thread count never changes a
 * result.
 */

/* 8 vectors of 32 bytes: 64 float32 or 32 float64 columns per block. */
#define FNN_GEMV_NB ((ptrdiff_t)(256 / sizeof(FNN_T)))

/* A 32-byte vector of FNN_T (GCC/Clang vector extension: a ymm register on AVX2, two
 * xmm on SSE2), loaded from any alignment through memcpy. */
typedef FNN_T FNN_F(fnn_gemv_vec) __attribute__((vector_size(32)));

/* A full block: its 8 accumulators are named variables, so they stay in registers
 * across the k loop (an array of them was kept in memory, a load and a store per
 * multiply-add). */
static void FNN_F(fnn_gemv_full)(ptrdiff_t k, const FNN_T *x, ptrdiff_t inc_x,
                                 const FNN_T *b, ptrdiff_t rs_b, FNN_T *acc)
{
    typedef FNN_F(fnn_gemv_vec) vec;
    const ptrdiff_t w = (ptrdiff_t)(sizeof(vec) / sizeof(FNN_T));
    vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    ptrdiff_t p;
    for (p = 0; p < k; ++p) {
        const FNN_T *bp = b + p * rs_b;
        /* a broadcast: x - 0 is x exactly, -0 included (0 + x would turn -0 into +0),
         * so the compiler drops the subtraction */
        const vec xp = x[p * inc_x] - (vec){0};
        vec t0, t1, t2, t3, t4, t5, t6, t7;
        memcpy(&t0, bp, sizeof t0);
        memcpy(&t1, bp + w, sizeof t1);
        memcpy(&t2, bp + 2 * w, sizeof t2);
        memcpy(&t3, bp + 3 * w, sizeof t3);
        memcpy(&t4, bp + 4 * w, sizeof t4);
        memcpy(&t5, bp + 5 * w, sizeof t5);
        memcpy(&t6, bp + 6 * w, sizeof t6);
        memcpy(&t7, bp + 7 * w, sizeof t7);
        a0 = FNN_GEMV_MADD(xp, t0, a0);
        a1 = FNN_GEMV_MADD(xp, t1, a1);
        a2 = FNN_GEMV_MADD(xp, t2, a2);
        a3 = FNN_GEMV_MADD(xp, t3, a3);
        a4 = FNN_GEMV_MADD(xp, t4, a4);
        a5 = FNN_GEMV_MADD(xp, t5, a5);
        a6 = FNN_GEMV_MADD(xp, t6, a6);
        a7 = FNN_GEMV_MADD(xp, t7, a7);
    }
    memcpy(acc, &a0, sizeof a0);
    memcpy(acc + w, &a1, sizeof a1);
    memcpy(acc + 2 * w, &a2, sizeof a2);
    memcpy(acc + 3 * w, &a3, sizeof a3);
    memcpy(acc + 4 * w, &a4, sizeof a4);
    memcpy(acc + 5 * w, &a5, sizeof a5);
    memcpy(acc + 6 * w, &a6, sizeof a6);
    memcpy(acc + 7 * w, &a7, sizeof a7);
}

/* Columns [j0, j0 + nb) of y, nb <= FNN_GEMV_NB (the last block may be partial). */
static void FNN_F(fnn_gemv_block)(ptrdiff_t nb, ptrdiff_t k, const FNN_T *x, ptrdiff_t inc_x,
                                  const FNN_T *b, ptrdiff_t rs_b, FNN_T *y, ptrdiff_t inc_y,
                                  const FNN_T *bias, int act, FNN_T alpha)
{
    FNN_T acc[256 / sizeof(FNN_T)];
    ptrdiff_t p, j;
    if (nb == FNN_GEMV_NB) {
        FNN_F(fnn_gemv_full)(k, x, inc_x, b, rs_b, acc);
    } else {
        for (j = 0; j < nb; ++j)
            acc[j] = 0;
        for (p = 0; p < k; ++p) {
            const FNN_T xp = x[p * inc_x], *bp = b + p * rs_b;
            for (j = 0; j < nb; ++j)
                acc[j] = FNN_GEMV_MADD(xp, bp[j], acc[j]);
        }
    }
    if (bias)
        for (j = 0; j < nb; ++j)
            acc[j] += bias[j];
    if (act != FNN_ACT_LINEAR)
        FNN_F(fnn_act_forward_inplace)(act, alpha, acc, nb);
    for (j = 0; j < nb; ++j)
        y[j * inc_y] = acc[j];
}

static void FNN_F(fnn_gemv_run)(ptrdiff_t n, ptrdiff_t k, const FNN_T *x, ptrdiff_t inc_x,
                                const FNN_T *b, ptrdiff_t rs_b, FNN_T *y, ptrdiff_t inc_y,
                                const FNN_T *bias, int act, FNN_T alpha, int nthreads)
{
    const ptrdiff_t nblocks = (n + FNN_GEMV_NB - 1) / FNN_GEMV_NB;
    const int nt = fnn_gemv_threads(n, k, nblocks, nthreads);
    ptrdiff_t blk;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (blk = 0; blk < nblocks; ++blk) {
        const ptrdiff_t j0 = blk * FNN_GEMV_NB;
        const ptrdiff_t nb = n - j0 < FNN_GEMV_NB ? n - j0 : FNN_GEMV_NB;
        FNN_F(fnn_gemv_block)(nb, k, x, inc_x, b + j0, rs_b, y + j0 * inc_y, inc_y,
                              bias ? bias + j0 : NULL, act, alpha);
    }
}

#undef FNN_GEMV_NB
