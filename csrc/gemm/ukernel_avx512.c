/* AVX-512F micro-kernels: float32 8 x 32 and float64 8 x 16.
 *
 * This file alone is compiled with -mavx512f (setup.py; GCC's -mavx512f implies AVX2
 * and FMA, used by the 256-bit transposes below); gemm.c calls it only after CPUID said
 * the CPU has AVX-512F and XGETBV said the OS saves the zmm state, so a wheel built here
 * still runs on CPUs without it.
 *
 * Why 8 x 32 (8 x 16 for doubles): 8 rows x 2 zmm vectors = 16 accumulators, 2 zmm for
 * the B row; the A element is broadcast straight from memory into the FMA ({1toN}
 * operand), so 18 of the 32 zmm registers are live.  Each k step issues 16 FMAs
 * against 2 vector loads and 8 broadcast loads; 16 independent chains cover the FMA
 * latency (4 cycles) times two 512-bit FMAs per cycle (Zen 5, Skylake-SP Gold/Platinum,
 * Ice Lake-SP, Sapphire Rapids) twice over.  A taller tile (12 or 14 rows) would read
 * less B per flop, but the training products' batch sizes (32, 128, 256) are multiples of
 * 8 and not of 12 or 14: a 32-row product pads to 36 (12% waste) or 42 (31%).  The
 * float32 tile's 8 columns of 8 rows also transpose in whole 8 x 8 blocks for the
 * column-major stores (below).
 *
 * Edge tiles are the macro-kernel's job, as for every kernel (ukernel.h): this kernel
 * computes only full tiles, so the summation order of each element (one FMA chain over
 * k from zero, added to C at the end) is that of the contract, whatever the tile's
 * position, and results stay bit-identical for any thread count.  B is read with
 * unaligned loads because it may be the caller's row-major matrix (ukernel.h).
 */
#include <immintrin.h>

#include "ukernel.h"

#define FNN_AVX512_MR 8
#define FNN_AVX512_NR_F32 32
#define FNN_AVX512_NR_F64 16

/* One k step of the 8-row tile: b0/b1 hold the B row, each A element is broadcast. */
#define FNN_STEP512(VT, BCAST, FMA, LOAD, a, b, W)                                       \
    do {                                                                                \
        const VT b0 = LOAD(b);                                                          \
        const VT b1 = LOAD((b) + (W));                                                  \
        VT ai;                                                                          \
        ai = BCAST((a)[0]); c00 = FMA(ai, b0, c00); c01 = FMA(ai, b1, c01);             \
        ai = BCAST((a)[1]); c10 = FMA(ai, b0, c10); c11 = FMA(ai, b1, c11);             \
        ai = BCAST((a)[2]); c20 = FMA(ai, b0, c20); c21 = FMA(ai, b1, c21);             \
        ai = BCAST((a)[3]); c30 = FMA(ai, b0, c30); c31 = FMA(ai, b1, c31);             \
        ai = BCAST((a)[4]); c40 = FMA(ai, b0, c40); c41 = FMA(ai, b1, c41);             \
        ai = BCAST((a)[5]); c50 = FMA(ai, b0, c50); c51 = FMA(ai, b1, c51);             \
        ai = BCAST((a)[6]); c60 = FMA(ai, b0, c60); c61 = FMA(ai, b1, c61);             \
        ai = BCAST((a)[7]); c70 = FMA(ai, b0, c70); c71 = FMA(ai, b1, c71);             \
    } while (0)

/* Column-major stores of the float tile (rs_c == 1: the GEMM computed C^T, see gemm.c's
 * fnn_gemm_prefer_swap): column j of the 8 x 32 tile is 8 contiguous floats at
 * c + j*cs_c.  Each 8 x 8 block (8 rows, one 256-bit half of an accumulator) is
 * transposed in registers, giving each column as one 32-byte store instead of 8 scalar
 * ones.  The values and the single C + tile addition are those of the scalar path. */
static inline void fnn_store_col8_f32(float *dst, __m256 v, int accumulate)
{
    if (accumulate)
        v = _mm256_add_ps(_mm256_loadu_ps(dst), v);
    _mm256_storeu_ps(dst, v);
}

static inline void fnn_store_block8_f32(float *c, ptrdiff_t cs_c, int accumulate, __m256 r0,
                                        __m256 r1, __m256 r2, __m256 r3, __m256 r4,
                                        __m256 r5, __m256 r6, __m256 r7)
{
    /* the classic 8 x 8 transpose: unpack pairs, shuffle quads, swap 128-bit halves */
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
    fnn_store_col8_f32(c + 0 * cs_c, _mm256_permute2f128_ps(s0, s4, 0x20), accumulate);
    fnn_store_col8_f32(c + 1 * cs_c, _mm256_permute2f128_ps(s1, s5, 0x20), accumulate);
    fnn_store_col8_f32(c + 2 * cs_c, _mm256_permute2f128_ps(s2, s6, 0x20), accumulate);
    fnn_store_col8_f32(c + 3 * cs_c, _mm256_permute2f128_ps(s3, s7, 0x20), accumulate);
    fnn_store_col8_f32(c + 4 * cs_c, _mm256_permute2f128_ps(s0, s4, 0x31), accumulate);
    fnn_store_col8_f32(c + 5 * cs_c, _mm256_permute2f128_ps(s1, s5, 0x31), accumulate);
    fnn_store_col8_f32(c + 6 * cs_c, _mm256_permute2f128_ps(s2, s6, 0x31), accumulate);
    fnn_store_col8_f32(c + 7 * cs_c, _mm256_permute2f128_ps(s3, s7, 0x31), accumulate);
}

/* The 256-bit halves of a zmm of floats (AVX-512F has the 64x4 extract only). */
#define FNN_LO8(v) _mm512_castps512_ps256(v)
#define FNN_HI8(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
#define FNN_BLOCK8(c, cs_c, acc, H0, H1)                                                 \
    fnn_store_block8_f32(c, cs_c, acc, H0(c0##H1), H0(c1##H1), H0(c2##H1), H0(c3##H1),   \
                         H0(c4##H1), H0(c5##H1), H0(c6##H1), H0(c7##H1))
#define FNN_STORE_COLS512_f32(c, cs_c, accumulate)                                        \
    do {                                                                                \
        FNN_BLOCK8(c + 0 * cs_c, cs_c, accumulate, FNN_LO8, 0);                         \
        FNN_BLOCK8(c + 8 * cs_c, cs_c, accumulate, FNN_HI8, 0);                         \
        FNN_BLOCK8(c + 16 * cs_c, cs_c, accumulate, FNN_LO8, 1);                        \
        FNN_BLOCK8(c + 24 * cs_c, cs_c, accumulate, FNN_HI8, 1);                        \
    } while (0)
/* float64 has no such path (it is not the training dtype): the generic scatter. */
#define FNN_HAVE_STORE_COLS512_f32 1
#define FNN_HAVE_STORE_COLS512_f64 0
#define FNN_STORE_COLS512_f64(c, cs_c, accumulate) ((void)0)

/* The kernel body for one dtype: T scalar, VT vector, W lanes per vector. */
#define FNN_AVX512_UKERNEL(T, SFX, VT, W, SETZERO, BCAST, FMA, LOADU, STOREU, ADD, STORE) \
    static void fnn_ukr_avx512_##SFX(ptrdiff_t k, const T *a, const T *b,               \
                                     ptrdiff_t rs_b, T *c, ptrdiff_t rs_c,              \
                                     ptrdiff_t cs_c, int accumulate)                    \
    {                                                                                   \
        VT c00 = SETZERO(), c01 = SETZERO(), c10 = SETZERO(), c11 = SETZERO();          \
        VT c20 = SETZERO(), c21 = SETZERO(), c30 = SETZERO(), c31 = SETZERO();          \
        VT c40 = SETZERO(), c41 = SETZERO(), c50 = SETZERO(), c51 = SETZERO();          \
        VT c60 = SETZERO(), c61 = SETZERO(), c70 = SETZERO(), c71 = SETZERO();          \
        ptrdiff_t p;                                                                    \
        int i;                                                                          \
        for (i = 0; i < FNN_AVX512_MR; ++i) {                                           \
            _mm_prefetch((const char *)(c + i * rs_c), _MM_HINT_T0);                    \
            _mm_prefetch((const char *)(c + i * rs_c + (2 * W - 1) * cs_c),             \
                         _MM_HINT_T0);                                                  \
        }                                                                               \
        for (p = 0; p < k; ++p) {                                                       \
            FNN_STEP512(VT, BCAST, FMA, LOADU, a, b, W);                                \
            a += FNN_AVX512_MR;                                                         \
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
                c60 = ADD(c60, LOADU(c + 6 * rs_c));                                    \
                c61 = ADD(c61, LOADU(c + 6 * rs_c + W));                                \
                c70 = ADD(c70, LOADU(c + 7 * rs_c));                                    \
                c71 = ADD(c71, LOADU(c + 7 * rs_c + W));                                \
            }                                                                           \
            STOREU(c + 0 * rs_c, c00); STOREU(c + 0 * rs_c + W, c01);                   \
            STOREU(c + 1 * rs_c, c10); STOREU(c + 1 * rs_c + W, c11);                   \
            STOREU(c + 2 * rs_c, c20); STOREU(c + 2 * rs_c + W, c21);                   \
            STOREU(c + 3 * rs_c, c30); STOREU(c + 3 * rs_c + W, c31);                   \
            STOREU(c + 4 * rs_c, c40); STOREU(c + 4 * rs_c + W, c41);                   \
            STOREU(c + 5 * rs_c, c50); STOREU(c + 5 * rs_c + W, c51);                   \
            STOREU(c + 6 * rs_c, c60); STOREU(c + 6 * rs_c + W, c61);                   \
            STOREU(c + 7 * rs_c, c70); STOREU(c + 7 * rs_c + W, c71);                   \
        } else if (FNN_HAVE_STORE_COLS512_##SFX && rs_c == 1) {                         \
            FNN_STORE_COLS512_##SFX(c, cs_c, accumulate);                               \
        } else {                                                                        \
            /* General strides: spill the tile, then scatter element by element. */    \
            T tile[FNN_AVX512_MR * 2 * W] __attribute__((aligned(64)));                 \
            int j;                                                                      \
            STORE(tile + 0 * W, c00); STORE(tile + 1 * W, c01);                         \
            STORE(tile + 2 * W, c10); STORE(tile + 3 * W, c11);                         \
            STORE(tile + 4 * W, c20); STORE(tile + 5 * W, c21);                         \
            STORE(tile + 6 * W, c30); STORE(tile + 7 * W, c31);                         \
            STORE(tile + 8 * W, c40); STORE(tile + 9 * W, c41);                         \
            STORE(tile + 10 * W, c50); STORE(tile + 11 * W, c51);                       \
            STORE(tile + 12 * W, c60); STORE(tile + 13 * W, c61);                       \
            STORE(tile + 14 * W, c70); STORE(tile + 15 * W, c71);                       \
            for (i = 0; i < FNN_AVX512_MR; ++i) {                                       \
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

FNN_AVX512_UKERNEL(float, f32, __m512, 16, _mm512_setzero_ps, _mm512_set1_ps,
                   _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps,
                   _mm512_store_ps)
FNN_AVX512_UKERNEL(double, f64, __m512d, 8, _mm512_setzero_pd, _mm512_set1_pd,
                   _mm512_fmadd_pd, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_add_pd,
                   _mm512_store_pd)

/* KC, MC, NC here serve only when no per-CPU row names this kernel (gemm.c's tables):
 * KC 192 keeps the 192 x 32 float B micro-panel (24 KiB) and the 8 x 192 A panel (6
 * KiB) in a 48 KiB L1d; float64 KC 96 the same bytes. */
const fnn_gemm_kernel fnn_gemm_kernel_avx512 = {
    "avx512",
    /* mr, nr, kc, mc, nc */
    {FNN_AVX512_MR, FNN_AVX512_NR_F32, 192, 256, 4096},
    fnn_ukr_avx512_f32,
    {FNN_AVX512_MR, FNN_AVX512_NR_F64, 96, 256, 2048},
    fnn_ukr_avx512_f64,
};

/* The FMA peak probe for this kernel (fnn_fma_peak_gflops in gemm.c): iters x 16
 * independent float32 zmm FMA chains (16 x 32 flops per iteration).  Sixteen chains
 * cover a 4-cycle latency times two 512-bit FMAs per cycle with room to spare.  As in
 * the AVX2 probe, each chain has its own start value and the multiplier and addend come
 * through volatile, so the compiler can neither merge the chains nor fold the loop. */
float fnn_fma_probe_avx512(long iters)
{
    volatile float vm = 0.999999f, vc = 1e-7f;
    const __m512 m = _mm512_set1_ps(vm), c = _mm512_set1_ps(vc);
    __m512 a0 = _mm512_set1_ps(1.00f), a1 = _mm512_set1_ps(1.01f);
    __m512 a2 = _mm512_set1_ps(1.02f), a3 = _mm512_set1_ps(1.03f);
    __m512 a4 = _mm512_set1_ps(1.04f), a5 = _mm512_set1_ps(1.05f);
    __m512 a6 = _mm512_set1_ps(1.06f), a7 = _mm512_set1_ps(1.07f);
    __m512 a8 = _mm512_set1_ps(1.08f), a9 = _mm512_set1_ps(1.09f);
    __m512 a10 = _mm512_set1_ps(1.10f), a11 = _mm512_set1_ps(1.11f);
    __m512 a12 = _mm512_set1_ps(1.12f), a13 = _mm512_set1_ps(1.13f);
    __m512 a14 = _mm512_set1_ps(1.14f), a15 = _mm512_set1_ps(1.15f);
    __m512 s;
    float out[16];
    long i;
    for (i = 0; i < iters; ++i) {
        a0 = _mm512_fmadd_ps(a0, m, c); a1 = _mm512_fmadd_ps(a1, m, c);
        a2 = _mm512_fmadd_ps(a2, m, c); a3 = _mm512_fmadd_ps(a3, m, c);
        a4 = _mm512_fmadd_ps(a4, m, c); a5 = _mm512_fmadd_ps(a5, m, c);
        a6 = _mm512_fmadd_ps(a6, m, c); a7 = _mm512_fmadd_ps(a7, m, c);
        a8 = _mm512_fmadd_ps(a8, m, c); a9 = _mm512_fmadd_ps(a9, m, c);
        a10 = _mm512_fmadd_ps(a10, m, c); a11 = _mm512_fmadd_ps(a11, m, c);
        a12 = _mm512_fmadd_ps(a12, m, c); a13 = _mm512_fmadd_ps(a13, m, c);
        a14 = _mm512_fmadd_ps(a14, m, c); a15 = _mm512_fmadd_ps(a15, m, c);
    }
    s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                      _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9),
                                                     _mm512_add_ps(a10, a11)),
                                       _mm512_add_ps(_mm512_add_ps(a12, a13),
                                                     _mm512_add_ps(a14, a15))));
    _mm512_storeu_ps(out, s);
    return out[0];
}
