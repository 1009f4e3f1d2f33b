/* The direct convolution (direct_tmpl.h) compiled for AVX2 + FMA: setup.py compiles this
 * file alone with -mavx2 -mfma; conv.c calls it only when the GEMM runs its avx2-fma
 * kernel, which fnn_gemm_init picks after CPUID said the CPU has both, so a build made
 * here still runs on CPUs without them.  A lane vector (16 values) is two ymm for
 * float32, four for float64; multiply-adds are fused (one rounding per window term, as
 * in the GEMM's SIMD kernels); a pixel's F < 16 outputs are masked stores.
 */
#include <immintrin.h>

#include "../activations.h"
#include "conv.h"
#include "direct.h"

typedef struct {
    __m256 v[2];
} fnn_dvec_f32;

typedef struct {
    __m256d v[4];
} fnn_dvec_f64;

static inline float fnn_direct_fma_f32(float a, float b, float c)
{
    return __builtin_fmaf(a, b, c);
}

static inline double fnn_direct_fma_f64(double a, double b, double c)
{
    return __builtin_fma(a, b, c);
}

static inline fnn_dvec_f32 fnn_dv_load_f32(const float *p)
{
    fnn_dvec_f32 r;
    r.v[0] = _mm256_loadu_ps(p);
    r.v[1] = _mm256_loadu_ps(p + 8);
    return r;
}

static inline fnn_dvec_f32 fnn_dv_load_n_f32(const float *p, ptrdiff_t n)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    fnn_dvec_f32 r;
    r.v[0] = _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), iota));
    r.v[1] = _mm256_maskload_ps(p + 8,
                                _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8), iota));
    return r;
}

static inline fnn_dvec_f32 fnn_dv_zero_f32(void)
{
    fnn_dvec_f32 r;
    r.v[0] = r.v[1] = _mm256_setzero_ps();
    return r;
}

static inline fnn_dvec_f32 fnn_dv_fma_f32(float s, fnn_dvec_f32 w, fnn_dvec_f32 acc)
{
    const __m256 sv = _mm256_set1_ps(s);
    acc.v[0] = _mm256_fmadd_ps(sv, w.v[0], acc.v[0]);
    acc.v[1] = _mm256_fmadd_ps(sv, w.v[1], acc.v[1]);
    return acc;
}

static inline fnn_dvec_f32 fnn_dv_add_f32(fnn_dvec_f32 x, fnn_dvec_f32 y)
{
    x.v[0] = _mm256_add_ps(x.v[0], y.v[0]);
    x.v[1] = _mm256_add_ps(x.v[1], y.v[1]);
    return x;
}

static inline void fnn_dv_store_f32(float *p, fnn_dvec_f32 r)
{
    _mm256_storeu_ps(p, r.v[0]);
    _mm256_storeu_ps(p + 8, r.v[1]);
}

static inline void fnn_dv_store_n_f32(float *p, fnn_dvec_f32 r, ptrdiff_t n)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i nv = _mm256_set1_epi32((int)n);
    _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(nv, iota), r.v[0]);
    if (n > 8)
        _mm256_maskstore_ps(p + 8, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8), iota),
                            r.v[1]);
}

static inline fnn_dvec_f64 fnn_dv_load_f64(const double *p)
{
    fnn_dvec_f64 r;
    int i;
    for (i = 0; i < 4; ++i)
        r.v[i] = _mm256_loadu_pd(p + 4 * i);
    return r;
}

static inline fnn_dvec_f64 fnn_dv_load_n_f64(const double *p, ptrdiff_t n)
{
    const __m256i iota = _mm256_setr_epi64x(0, 1, 2, 3);
    fnn_dvec_f64 r;
    int i;
    for (i = 0; i < 4; ++i)
        r.v[i] = _mm256_maskload_pd(
            p + 4 * i, _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(n - 4 * i)), iota));
    return r;
}

static inline fnn_dvec_f64 fnn_dv_zero_f64(void)
{
    fnn_dvec_f64 r;
    r.v[0] = r.v[1] = r.v[2] = r.v[3] = _mm256_setzero_pd();
    return r;
}

static inline fnn_dvec_f64 fnn_dv_fma_f64(double s, fnn_dvec_f64 w, fnn_dvec_f64 acc)
{
    const __m256d sv = _mm256_set1_pd(s);
    int i;
    for (i = 0; i < 4; ++i)
        acc.v[i] = _mm256_fmadd_pd(sv, w.v[i], acc.v[i]);
    return acc;
}

static inline fnn_dvec_f64 fnn_dv_add_f64(fnn_dvec_f64 x, fnn_dvec_f64 y)
{
    int i;
    for (i = 0; i < 4; ++i)
        x.v[i] = _mm256_add_pd(x.v[i], y.v[i]);
    return x;
}

static inline void fnn_dv_store_f64(double *p, fnn_dvec_f64 r)
{
    int i;
    for (i = 0; i < 4; ++i)
        _mm256_storeu_pd(p + 4 * i, r.v[i]);
}

static inline void fnn_dv_store_n_f64(double *p, fnn_dvec_f64 r, ptrdiff_t n)
{
    const __m256i iota = _mm256_setr_epi64x(0, 1, 2, 3);
    int i;
    for (i = 0; i < 4 && n > 4 * i; ++i)
        _mm256_maskstore_pd(p + 4 * i,
                            _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(n - 4 * i)),
                                               iota),
                            r.v[i]);
}

#define FNN_DIRECT_SUFFIX(name) FNN_DIRECT_PASTE(name, _avx2)
#define FNN_TEMPLATE "conv/direct_tmpl.h"
#include "../fnn_instantiate.h"
