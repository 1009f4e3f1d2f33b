/* The matrix-vector kernel, written once for both dtypes and both instruction sets.
 *
 * Included through fnn_instantiate.h (FNN_T, FNN_F) by gemv.c (portable) and by
 * gemv_avx2.c (compiled with -mavx2 -mfma, where a*b + c is contracted into one fused
 * multiply-add), on scalars and on GCC/Clang vectors alike through FNN_GEMV_MADD.
 * Everything here is static: each file gets its own copy.
 *
 * y[j] = act(sum_p x[p] B[p][j] + bias[j]) for a row-major B (cs_b == 1).  The sums of
 * up to FNN_GEMV_NC columns sit in a buffer in L1 while the rows of B stream past in
 * memory order, FNN_GEMV_KU rows per sweep (a sweep loads and stores each sum once for
 * KU multiply-adds).  Nothing is packed: every element of B is read exactly once, which
 * is why one row should not go through the GEMM (it packs both operands, then reads
 * each packed B panel for a single row).
 *
 * Why rows in memory order: the kernel before this one kept 64 columns' sums in
 * registers and walked down B one column block at a time, 256 bytes of each row with a
 * row's length between them.  On a Zen 3 (family 19h model 01), where the 1.5 MiB B of
 * a 784 x 500 float32 layer comes from L3, that took 34 us against OpenBLAS's 27 us;
 * the prefetchers follow one sequential stream better than eight strided ones.
 *
 * Every y[j] is one multiply-add chain over p = 0..k-1 from zero, in that order, then
 * + bias, then the activation: threads split the columns, so the thread count never
 * changes a result (and the column-block kernel gave the same bits).
 */

/* Sums one sweep keeps (4 KiB of L1); the column blocks threads split by; rows a sweep. */
#define FNN_GEMV_NC ((ptrdiff_t)(4096 / sizeof(FNN_T)))
#define FNN_GEMV_NB ((ptrdiff_t)(256 / sizeof(FNN_T)))
#define FNN_GEMV_KU 4

/* A 32-byte vector of FNN_T (GCC/Clang vector extension: a ymm register on AVX2, two
 * xmm on SSE2), loaded from any alignment through memcpy. */
typedef FNN_T FNN_F(fnn_gemv_vec) __attribute__((vector_size(32)));

/* acc[j] += x[p] B[p][j] for the `rows` (<= FNN_GEMV_KU) rows at x and b, j < nc, the
 * rows in order.  Called with a constant `rows`, so its branches fold away. */
static inline __attribute__((always_inline)) void FNN_F(fnn_gemv_rows)(
    int rows, ptrdiff_t nc, const FNN_T *x, ptrdiff_t inc_x, const FNN_T *b,
    ptrdiff_t rs_b, FNN_T *acc)
{
    typedef FNN_F(fnn_gemv_vec) vec;
    const ptrdiff_t w = (ptrdiff_t)(sizeof(vec) / sizeof(FNN_T));
    const FNN_T *b0 = b, *b1 = b + rs_b, *b2 = b + 2 * rs_b, *b3 = b + 3 * rs_b;
    const FNN_T x0 = x[0], x1 = rows > 1 ? x[inc_x] : 0;
    const FNN_T x2 = rows > 2 ? x[2 * inc_x] : 0, x3 = rows > 3 ? x[3 * inc_x] : 0;
    /* broadcasts: x - 0 is x exactly, -0 included (0 + x would turn -0 into +0), so
     * the compiler drops the subtraction */
    const vec v0 = x0 - (vec){0}, v1 = x1 - (vec){0};
    const vec v2 = x2 - (vec){0}, v3 = x3 - (vec){0};
    ptrdiff_t j = 0;
    for (; j + w <= nc; j += w) {
        vec s, t;
        memcpy(&s, acc + j, sizeof s);
        memcpy(&t, b0 + j, sizeof t);
        s = FNN_GEMV_MADD(v0, t, s);
        if (rows > 1) {
            memcpy(&t, b1 + j, sizeof t);
            s = FNN_GEMV_MADD(v1, t, s);
        }
        if (rows > 2) {
            memcpy(&t, b2 + j, sizeof t);
            s = FNN_GEMV_MADD(v2, t, s);
        }
        if (rows > 3) {
            memcpy(&t, b3 + j, sizeof t);
            s = FNN_GEMV_MADD(v3, t, s);
        }
        memcpy(acc + j, &s, sizeof s);
    }
    for (; j < nc; ++j) {
        FNN_T s = FNN_GEMV_MADD(x0, b0[j], acc[j]);
        if (rows > 1) s = FNN_GEMV_MADD(x1, b1[j], s);
        if (rows > 2) s = FNN_GEMV_MADD(x2, b2[j], s);
        if (rows > 3) s = FNN_GEMV_MADD(x3, b3[j], s);
        acc[j] = s;
    }
}

/* Columns [0, nc) of y, nc <= FNN_GEMV_NC; b, y and bias point at the chunk's first. */
static void FNN_F(fnn_gemv_chunk)(ptrdiff_t nc, ptrdiff_t k, const FNN_T *x,
                                  ptrdiff_t inc_x, const FNN_T *b, ptrdiff_t rs_b, FNN_T *y,
                                  ptrdiff_t inc_y, const FNN_T *bias, int act, FNN_T alpha)
{
    FNN_T acc[FNN_GEMV_NC] __attribute__((aligned(32)));
    const ptrdiff_t ku = FNN_GEMV_KU;
    ptrdiff_t p, j;
    for (j = 0; j < nc; ++j)
        acc[j] = 0;
    for (p = 0; p + ku <= k; p += ku)
        FNN_F(fnn_gemv_rows)(FNN_GEMV_KU, nc, x + p * inc_x, inc_x, b + p * rs_b, rs_b, acc);
    switch (k - p) {
        case 3: FNN_F(fnn_gemv_rows)(3, nc, x + p * inc_x, inc_x, b + p * rs_b, rs_b, acc); break;
        case 2: FNN_F(fnn_gemv_rows)(2, nc, x + p * inc_x, inc_x, b + p * rs_b, rs_b, acc); break;
        case 1: FNN_F(fnn_gemv_rows)(1, nc, x + p * inc_x, inc_x, b + p * rs_b, rs_b, acc); break;
        default: break;
    }
    if (bias)
        for (j = 0; j < nc; ++j)
            acc[j] += bias[j];
    if (act != FNN_ACT_LINEAR)
        FNN_F(fnn_act_forward_inplace)(act, alpha, acc, nc);
    for (j = 0; j < nc; ++j)
        y[j * inc_y] = acc[j];
}

static void FNN_F(fnn_gemv_run)(ptrdiff_t n, ptrdiff_t k, const FNN_T *x, ptrdiff_t inc_x,
                                const FNN_T *b, ptrdiff_t rs_b, FNN_T *y, ptrdiff_t inc_y,
                                const FNN_T *bias, int act, FNN_T alpha, int nthreads)
{
    const ptrdiff_t nblocks = (n + FNN_GEMV_NB - 1) / FNN_GEMV_NB;
    const int nt = fnn_gemv_threads(n, k, nblocks, nthreads);
    int t;
    /* thread t takes the whole column blocks [t nblocks / nt, (t + 1) nblocks / nt) */
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (t = 0; t < nt; ++t) {
        const ptrdiff_t j0 = (ptrdiff_t)t * nblocks / nt * FNN_GEMV_NB;
        ptrdiff_t j1 = (ptrdiff_t)(t + 1) * nblocks / nt * FNN_GEMV_NB, j;
        if (j1 > n)
            j1 = n;
        for (j = j0; j < j1; j += FNN_GEMV_NC) {
            const ptrdiff_t nc = j1 - j < FNN_GEMV_NC ? j1 - j : FNN_GEMV_NC;
            FNN_F(fnn_gemv_chunk)(nc, k, x, inc_x, b + j, rs_b, y + j * inc_y, inc_y,
                                  bias ? bias + j : NULL, act, alpha);
        }
    }
}

#undef FNN_GEMV_NC
#undef FNN_GEMV_NB
#undef FNN_GEMV_KU
