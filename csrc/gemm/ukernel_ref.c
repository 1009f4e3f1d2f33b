/* Portable reference micro-kernels (plain C99), the fallback on every CPU and the
 * kernel FASTNN_DISABLE_SIMD=1 selects.
 *
 * Same contract as the SIMD kernels (ukernel.h).  The tile is a local array the
 * compiler keeps in vector registers: 4 x 8 floats / 4 x 4 doubles fill 8 SSE2
 * registers, leaving room for the broadcasts, so -O3 vectorizes the inner j loop on
 * baseline x86-64 and on 128-bit NEON alike.  One body serves both dtypes.
 */
#include "ukernel.h"

#define FNN_REF_MR 4
#define FNN_REF_NR_F32 8
#define FNN_REF_NR_F64 4

/* KC = 256: a 256 x 8 float B micro-panel is 8 KiB, well inside a 32 KiB L1 next to
 * the A micro-panel.  MC = 128: the packed A block (128 x 256 floats, 128 KiB) sits in
 * a 256-512 KiB L2.  NC = 2048 keeps the packed B block (2 MiB) inside a shared L3. */
#define FNN_REF_UKERNEL(T, SFX, NR)                                                     \
    static void fnn_ukr_ref_##SFX(ptrdiff_t k, const T *a, const T *b, ptrdiff_t rs_b,  \
                                  T *c, ptrdiff_t rs_c, ptrdiff_t cs_c, int accumulate) \
    {                                                                                   \
        T acc[FNN_REF_MR][NR];                                                          \
        ptrdiff_t p;                                                                    \
        int i, j;                                                                       \
        for (i = 0; i < FNN_REF_MR; ++i)                                                \
            for (j = 0; j < NR; ++j)                                                    \
                acc[i][j] = 0;                                                          \
        for (p = 0; p < k; ++p) {                                                       \
            for (i = 0; i < FNN_REF_MR; ++i) {                                          \
                const T ai = a[i];                                                      \
                for (j = 0; j < NR; ++j)                                                \
                    acc[i][j] += ai * b[j];                                             \
            }                                                                           \
            a += FNN_REF_MR;                                                            \
            b += rs_b;                                                                  \
        }                                                                               \
        for (i = 0; i < FNN_REF_MR; ++i) {                                              \
            T *ci = c + i * rs_c;                                                       \
            if (accumulate)                                                             \
                for (j = 0; j < NR; ++j)                                                \
                    ci[j * cs_c] += acc[i][j];                                          \
            else                                                                        \
                for (j = 0; j < NR; ++j)                                                \
                    ci[j * cs_c] = acc[i][j];                                           \
        }                                                                               \
    }

FNN_REF_UKERNEL(float, f32, FNN_REF_NR_F32)
FNN_REF_UKERNEL(double, f64, FNN_REF_NR_F64)

const fnn_gemm_kernel fnn_gemm_kernel_portable = {
    "portable",
    /* mr, nr, kc, mc, nc */
    {FNN_REF_MR, FNN_REF_NR_F32, 256, 128, 2048},
    fnn_ukr_ref_f32,
    {FNN_REF_MR, FNN_REF_NR_F64, 256, 64, 2048},
    fnn_ukr_ref_f64,
};

/* The portable FMA peak probe: 32 independent float chains a = a*m + c, which the
 * compiler vectorizes with the baseline ISA (SSE2: 8 vectors of 4 chains).  Distinct
 * start values and volatile constants keep the chains from being merged or folded. */
float fnn_fma_probe_ref(long iters)
{
    volatile float vm = 0.999999f, vc = 1e-7f;
    const float m = vm, c = vc;
    float acc[32], s = 0.0f;
    long it;
    int i;
    for (i = 0; i < 32; ++i)
        acc[i] = 1.0f + 0.01f * (float)i;
    for (it = 0; it < iters; ++it)
        for (i = 0; i < 32; ++i)
            acc[i] = acc[i] * m + c;
    for (i = 0; i < 32; ++i)
        s += acc[i];
    return s;
}
