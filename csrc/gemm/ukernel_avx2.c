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
 *
 * Measured on the project's 2-core VM (CPUID family 23 model 1: Zen 1, whose FP units
 * are 128 bits wide, so a ymm FMA is two micro-ops): 12 independent ymm FMAs run at 1.0
 * per cycle (xmm ones at 2.0), latency 5 cycles, so the float32 peak is 16 flops/cycle,
 * ~44-47 GFLOP/s per core at the ~2.8-2.95 GHz observed (fma_peak_gflops).  In L1 this
 * kernel runs 39-43 GFLOP/s, 85-93% of that.  Inline-asm variants (FMAs alone; + 2
 * vector loads; + 6 broadcasts; both, as here; B as the FMA memory operand; broadcasts
 * by vpermilps) all ran 37-40 GFLOP/s in one run where FMAs alone ran 39-40, except B as
 * memory operand (29): loads are not the limit, the FMA pipe is.  An earlier "78.7
 * GFLOP/s" peak came from ten identical chains a = a*m + c that GCC merged into one, so
 * it timed one FMA latency per iteration, not ten FMAs.
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

/* Column-major stores of a float tile (rs_c == 1: the GEMM computed C^T, see gemm.c's
 * fnn_gemm_prefer_swap): column j of the 6 x 16 tile is 6 contiguous floats at
 * c + j*cs_c.  Four 4 x 4 SSE transposes (rows 0-3) and unpack pairs (rows 4-5) give
 * each column as one 16-byte and one 8-byte store: 32 stores and 40 shuffles instead of
 * 96 scalar loads and stores, which cost as much as the FMAs of a k = 16 tile.  The
 * values and the single C + tile addition are the same as the scalar path's.  SSE
 * shuffles, because this core (Zen 1) splits 256-bit shuffles, and vperm2f128 is slow. */
static inline void fnn_store4_f32(float *dst, __m128 v, int accumulate)
{
    if (accumulate)
        v = _mm_add_ps(_mm_loadu_ps(dst), v);
    _mm_storeu_ps(dst, v);
}

static inline void fnn_store2_f32(float *dst, __m128 v, int high, int accumulate)
{
    /* the 2 values in the low (high = 0) or high half of v */
    if (high)
        v = _mm_movehl_ps(v, v);
    if (accumulate)
        v = _mm_add_ps(_mm_castpd_ps(_mm_load_sd((const double *)dst)), v);
    _mm_store_sd((double *)dst, _mm_castps_pd(v));
}

static inline void fnn_store_block4_f32(float *c, ptrdiff_t cs_c, int accumulate, __m128 r0,
                                        __m128 r1, __m128 r2, __m128 r3, __m128 r4,
                                        __m128 r5)
{
    const __m128 lo = _mm_unpacklo_ps(r4, r5); /* columns 0, 1 of rows 4-5 */
    const __m128 hi = _mm_unpackhi_ps(r4, r5); /* columns 2, 3 */
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    fnn_store4_f32(c + 0 * cs_c, r0, accumulate);
    fnn_store2_f32(c + 0 * cs_c + 4, lo, 0, accumulate);
    fnn_store4_f32(c + 1 * cs_c, r1, accumulate);
    fnn_store2_f32(c + 1 * cs_c + 4, lo, 1, accumulate);
    fnn_store4_f32(c + 2 * cs_c, r2, accumulate);
    fnn_store2_f32(c + 2 * cs_c + 4, hi, 0, accumulate);
    fnn_store4_f32(c + 3 * cs_c, r3, accumulate);
    fnn_store2_f32(c + 3 * cs_c + 4, hi, 1, accumulate);
}

#define FNN_LO(v) _mm256_castps256_ps128(v)
#define FNN_HI(v) _mm256_extractf128_ps(v, 1)
#define FNN_STORE_COLS_f32(c, cs_c, accumulate)                                            \
    do {                                                                                \
        fnn_store_block4_f32(c + 0 * cs_c, cs_c, accumulate, FNN_LO(c00), FNN_LO(c10),  \
                             FNN_LO(c20), FNN_LO(c30), FNN_LO(c40), FNN_LO(c50));       \
        fnn_store_block4_f32(c + 4 * cs_c, cs_c, accumulate, FNN_HI(c00), FNN_HI(c10),  \
                             FNN_HI(c20), FNN_HI(c30), FNN_HI(c40), FNN_HI(c50));       \
        fnn_store_block4_f32(c + 8 * cs_c, cs_c, accumulate, FNN_LO(c01), FNN_LO(c11),  \
                             FNN_LO(c21), FNN_LO(c31), FNN_LO(c41), FNN_LO(c51));       \
        fnn_store_block4_f32(c + 12 * cs_c, cs_c, accumulate, FNN_HI(c01), FNN_HI(c11), \
                             FNN_HI(c21), FNN_HI(c31), FNN_HI(c41), FNN_HI(c51));       \
    } while (0)
/* float64 has no such path (it is not the training dtype): the generic scatter. */
#define FNN_HAVE_STORE_COLS_f32 1
#define FNN_HAVE_STORE_COLS_f64 0
#define FNN_STORE_COLS_f64(c, cs_c, accumulate) ((void)0)

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
        } else if (FNN_HAVE_STORE_COLS_##SFX && rs_c == 1) {                            \
            FNN_STORE_COLS_##SFX(c, cs_c, accumulate);                                  \
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

/* The FMA peak probe behind fma_peak_gflops (gemm.c): iters x 12 independent
 * float32 ymm FMA chains (12 x 16 flops per iteration).  Twelve chains cover the FMA
 * latency (4-5 cycles) times two FMAs per cycle.  Each chain starts from its own value
 * and the multiplier and addend are read through volatile, so the compiler can neither
 * merge the chains (identical chains would be computed once: a loop of ten copies of
 * a = a*m + c from one start value measures one FMA latency, not the throughput) nor
 * fold the loop.  Returns a value derived from every chain, for the caller to keep. */
float fnn_fma_probe_avx2(long iters)
{
    volatile float vm = 0.999999f, vc = 1e-7f;
    const __m256 m = _mm256_set1_ps(vm), c = _mm256_set1_ps(vc);
    __m256 a0 = _mm256_set1_ps(1.00f), a1 = _mm256_set1_ps(1.01f);
    __m256 a2 = _mm256_set1_ps(1.02f), a3 = _mm256_set1_ps(1.03f);
    __m256 a4 = _mm256_set1_ps(1.04f), a5 = _mm256_set1_ps(1.05f);
    __m256 a6 = _mm256_set1_ps(1.06f), a7 = _mm256_set1_ps(1.07f);
    __m256 a8 = _mm256_set1_ps(1.08f), a9 = _mm256_set1_ps(1.09f);
    __m256 a10 = _mm256_set1_ps(1.10f), a11 = _mm256_set1_ps(1.11f);
    __m256 s;
    float out[8];
    long i;
    for (i = 0; i < iters; ++i) {
        a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c);
        a2 = _mm256_fmadd_ps(a2, m, c); a3 = _mm256_fmadd_ps(a3, m, c);
        a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c);
        a8 = _mm256_fmadd_ps(a8, m, c); a9 = _mm256_fmadd_ps(a9, m, c);
        a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
    }
    s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                      _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    _mm256_storeu_ps(out, s);
    return out[0];
}
