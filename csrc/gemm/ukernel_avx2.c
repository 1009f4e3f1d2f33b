/* AVX2 + FMA micro-kernels: float32 6 x 16 and float64 6 x 8.
 *
 * This file alone is compiled with -mavx2 -mfma (setup.py); gemm.c calls it only after
 * CPUID said the CPU has both, so a wheel built here still runs on older x86-64.
 *
 * Why 6 x 16 (6 x 8 for doubles): the tile is 6 rows x 2 ymm vectors = 12 accumulator
 * registers, plus 2 for the B row and 1 for the broadcast A element: 15 of the 16 ymm
 * registers.  Each k step issues 12 FMAs against 8 loads (2 vector + 6 broadcast), so
 * the loads never limit the FMA units, and 12 independent accumulators cover the FMA
 * latency (4-5 cycles) times its throughput on Haswell and Zen.
 *
 * The k loop is left rolled: unrolled by hand, GCC interleaved the steps and spilled
 * accumulators to the stack, costing 5% in L1.  B is read with unaligned loads because
 * it may be the caller's row-major matrix rather than a packed panel (ukernel.h); on
 * aligned addresses they run as fast as aligned ones.  A and B are read sequentially,
 * which the hardware prefetchers follow, so only C is prefetched (its rows are scattered
 * by rs_c).  Every accumulator is one FMA chain over k from zero, added to C at the
 * end, as the contract requires.
 */
#include <immintrin.h>

#include "ukernel.h"

#define FNN_AVX2_MR 6
#define FNN_AVX2_NR_F32 16
#define FNN_AVX2_NR_F64 8

/* One k step of the 6-row tile: b0/b1 hold the B row, each A element is broadcast. */
#define FNN_STEP(VT, BCAST, FMA, LOAD, a, b, W)                                          \
    do {                                                                                \
        const VT b0 = LOAD(b);                                                          \
        const VT b1 = LOAD((b) + (W));                                                  \
        VT ai;                                                                          \
        ai = BCAST((a) + 0); c00 = FMA(ai, b0, c00); c01 = FMA(ai, b1, c01);            \
        ai = BCAST((a) + 1); c10 = FMA(ai, b0, c10); c11 = FMA(ai, b1, c11);            \
        ai = BCAST((a) + 2); c20 = FMA(ai, b0, c20); c21 = FMA(ai, b1, c21);            \
        ai = BCAST((a) + 3); c30 = FMA(ai, b0, c30); c31 = FMA(ai, b1, c31);            \
        ai = BCAST((a) + 4); c40 = FMA(ai, b0, c40); c41 = FMA(ai, b1, c41);            \
        ai = BCAST((a) + 5); c50 = FMA(ai, b0, c50); c51 = FMA(ai, b1, c51);            \
    } while (0)

/* The kernel body for one dtype: T scalar, VT vector, W lanes per vector. */
#define FNN_AVX2_UKERNEL(T, SFX, VT, W, SETZERO, BCAST, FMA, LOAD, LOADU, STOREU, ADD,  \
                         STORE)                                                         \
    static void fnn_ukr_avx2_##SFX(ptrdiff_t k, const T *a, const T *b, ptrdiff_t rs_b, \
                                   T *c, ptrdiff_t rs_c, ptrdiff_t cs_c, int accumulate)\
    {                                                                                   \
        VT c00 = SETZERO(), c01 = SETZERO(), c10 = SETZERO(), c11 = SETZERO();          \
        VT c20 = SETZERO(), c21 = SETZERO(), c30 = SETZERO(), c31 = SETZERO();          \
        VT c40 = SETZERO(), c41 = SETZERO(), c50 = SETZERO(), c51 = SETZERO();          \
        ptrdiff_t p;                                                                    \
        int i;                                                                          \
        for (i = 0; i < FNN_AVX2_MR; ++i) {                                             \
            _mm_prefetch((const char *)(c + i * rs_c), _MM_HINT_T0);                    \
            _mm_prefetch((const char *)(c + i * rs_c + (2 * W - 1) * cs_c),             \
                         _MM_HINT_T0);                                                  \
        }                                                                               \
        for (p = 0; p < k; ++p) {                                                       \
            FNN_STEP(VT, BCAST, FMA, LOAD, a, b, W);                                    \
            a += 6;                                                                     \
            b += rs_b;                                                                  \
        }                                                                               \
        if (cs_c == 1) {                                                                \
            /* Row-major C: each row is two unaligned vector stores. */                \
            if (accumulate) {                                                           \
                c00 = ADD(c00, LOADU(c + 0 * rs_c));                                    \
                c01 = ADD(c01, LOADU(c + 0 * rs_c + W));                                \
                c10 = ADD(c10, LOADU(c + 1 * rs_c));                                    \
                c11 = ADD(c11, LOADU(c + 1 * rs_c + W));                                \
                c20 = ADD(c20, LOADU(c + 2 * rs_c));                                    \
                c21 = ADD(c21, LOADU(c + 2 * rs_c + W));                                \
                c30 = ADD(c30, LOADU(c + 3 * rs_c));                                    \
                c31 = ADD(c31, LOADU(c + 3 * rs_c + W));                                \
                c40 = ADD(c40, LOADU(c + 4 * rs_c));                                    \
                c41 = ADD(c41, LOADU(c + 4 * rs_c + W));                                \
                c50 = ADD(c50, LOADU(c + 5 * rs_c));                                    \
                c51 = ADD(c51, LOADU(c + 5 * rs_c + W));                                \
            }                                                                           \
            STOREU(c + 0 * rs_c, c00); STOREU(c + 0 * rs_c + W, c01);                   \
            STOREU(c + 1 * rs_c, c10); STOREU(c + 1 * rs_c + W, c11);                   \
            STOREU(c + 2 * rs_c, c20); STOREU(c + 2 * rs_c + W, c21);                   \
            STOREU(c + 3 * rs_c, c30); STOREU(c + 3 * rs_c + W, c31);                   \
            STOREU(c + 4 * rs_c, c40); STOREU(c + 4 * rs_c + W, c41);                   \
            STOREU(c + 5 * rs_c, c50); STOREU(c + 5 * rs_c + W, c51);                   \
        } else {                                                                        \
            /* General strides: spill the tile, then scatter element by element. */    \
            T tile[FNN_AVX2_MR * 2 * W] __attribute__((aligned(32)));                   \
            int j;                                                                      \
            STORE(tile + 0 * W, c00); STORE(tile + 1 * W, c01);                         \
            STORE(tile + 2 * W, c10); STORE(tile + 3 * W, c11);                         \
            STORE(tile + 4 * W, c20); STORE(tile + 5 * W, c21);                         \
            STORE(tile + 6 * W, c30); STORE(tile + 7 * W, c31);                         \
            STORE(tile + 8 * W, c40); STORE(tile + 9 * W, c41);                         \
            STORE(tile + 10 * W, c50); STORE(tile + 11 * W, c51);                       \
            for (i = 0; i < FNN_AVX2_MR; ++i) {                                         \
                T *ci = c + i * rs_c;                                                   \
                const T *ti = tile + i * 2 * W;                                         \
                if (accumulate)                                                         \
                    for (j = 0; j < 2 * W; ++j)                                         \
                        ci[j * cs_c] += ti[j];                                          \
                else                                                                    \
                    for (j = 0; j < 2 * W; ++j)                                         \
                        ci[j * cs_c] = ti[j];                                           \
            }                                                                           \
        }                                                                               \
    }

FNN_AVX2_UKERNEL(float, f32, __m256, 8, _mm256_setzero_ps, _mm256_broadcast_ss,
                 _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_loadu_ps, _mm256_storeu_ps,
                 _mm256_add_ps, _mm256_store_ps)
FNN_AVX2_UKERNEL(double, f64, __m256d, 4, _mm256_setzero_pd, _mm256_broadcast_sd,
                 _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_loadu_pd, _mm256_storeu_pd,
                 _mm256_add_pd, _mm256_store_pd)

/* Block sizes (the one table for this kernel), tuned on Zen (32 KiB L1d, 512 KiB L2
 * per core, 8 MiB shared L3) and sensible on Haswell-class Intel:
 *   KC = 256: the B micro-panel (256 x 16 floats = 16 KiB; 256 x 8 doubles = 16 KiB)
 *             plus the streaming A micro-panel (6 KiB / 12 KiB) fit in L1.
 *   MC:       the packed A block (MC x KC) takes about a third of L2, leaving room for
 *             the B panel streaming through and the C tiles.
 *   NC:       the packed B block (KC x NC) of each thread fits its share of L3. */
const fnn_gemm_kernel fnn_gemm_kernel_avx2 = {
    "avx2-fma",
    /* mr, nr, kc, mc, nc */
    {FNN_AVX2_MR, FNN_AVX2_NR_F32, 256, 144, 2048},
    fnn_ukr_avx2_f32,
    {FNN_AVX2_MR, FNN_AVX2_NR_F64, 256, 72, 1024},
    fnn_ukr_avx2_f64,
};
