/* The direct convolution (direct_tmpl.h) compiled for AVX-512F: setup.py compiles this
 * file alone with -mavx512f; conv.c calls it only when the GEMM runs its avx512 kernel,
 * which fnn_gemm_init picks after CPUID and XGETBV said the CPU and OS support it, so a
 * build made here still runs on CPUs without it.  A lane vector (16 values) is one zmm
 * for float32, two for float64; multiply-adds are fused (one rounding per window term,
 * as in the GEMM's SIMD kernels); a pixel's F < 16 outputs are one masked store.
 */
#include <immintrin.h>

#include "../activations.h"
#include "conv.h"
#include "direct.h"

typedef struct {
    __m512 a;
} fnn_dvec_f32;

typedef struct {
    __m512d a, b;
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
    fnn_dvec_f32 v;
    v.a = _mm512_loadu_ps(p);
    return v;
}

static inline fnn_dvec_f32 fnn_dv_load_n_f32(const float *p, ptrdiff_t n)
{
    fnn_dvec_f32 v;
    v.a = _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
    return v;
}

static inline fnn_dvec_f32 fnn_dv_zero_f32(void)
{
    fnn_dvec_f32 v;
    v.a = _mm512_setzero_ps();
    return v;
}

static inline fnn_dvec_f32 fnn_dv_fma_f32(float s, fnn_dvec_f32 w, fnn_dvec_f32 acc)
{
    acc.a = _mm512_fmadd_ps(_mm512_set1_ps(s), w.a, acc.a);
    return acc;
}

static inline fnn_dvec_f32 fnn_dv_add_f32(fnn_dvec_f32 x, fnn_dvec_f32 y)
{
    x.a = _mm512_add_ps(x.a, y.a);
    return x;
}

static inline void fnn_dv_store_f32(float *p, fnn_dvec_f32 v)
{
    _mm512_storeu_ps(p, v.a);
}

static inline void fnn_dv_store_n_f32(float *p, fnn_dvec_f32 v, ptrdiff_t n)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), v.a);
}

static inline fnn_dvec_f64 fnn_dv_load_f64(const double *p)
{
    fnn_dvec_f64 v;
    v.a = _mm512_loadu_pd(p);
    v.b = _mm512_loadu_pd(p + 8);
    return v;
}

static inline fnn_dvec_f64 fnn_dv_load_n_f64(const double *p, ptrdiff_t n)
{
    const unsigned lo = n >= 8 ? 0xffu : (1u << n) - 1u;
    const unsigned hi = n <= 8 ? 0u : (1u << (n - 8)) - 1u;
    fnn_dvec_f64 v;
    v.a = _mm512_maskz_loadu_pd((__mmask8)lo, p);
    v.b = _mm512_maskz_loadu_pd((__mmask8)hi, p + 8);
    return v;
}

static inline fnn_dvec_f64 fnn_dv_zero_f64(void)
{
    fnn_dvec_f64 v;
    v.a = v.b = _mm512_setzero_pd();
    return v;
}

static inline fnn_dvec_f64 fnn_dv_fma_f64(double s, fnn_dvec_f64 w, fnn_dvec_f64 acc)
{
    const __m512d sv = _mm512_set1_pd(s);
    acc.a = _mm512_fmadd_pd(sv, w.a, acc.a);
    acc.b = _mm512_fmadd_pd(sv, w.b, acc.b);
    return acc;
}

static inline fnn_dvec_f64 fnn_dv_add_f64(fnn_dvec_f64 x, fnn_dvec_f64 y)
{
    x.a = _mm512_add_pd(x.a, y.a);
    x.b = _mm512_add_pd(x.b, y.b);
    return x;
}

static inline void fnn_dv_store_f64(double *p, fnn_dvec_f64 v)
{
    _mm512_storeu_pd(p, v.a);
    _mm512_storeu_pd(p + 8, v.b);
}

static inline void fnn_dv_store_n_f64(double *p, fnn_dvec_f64 v, ptrdiff_t n)
{
    const unsigned lo = n >= 8 ? 0xffu : (1u << n) - 1u;
    const unsigned hi = n <= 8 ? 0u : (1u << (n - 8)) - 1u;
    _mm512_mask_storeu_pd(p, (__mmask8)lo, v.a);
    if (hi)
        _mm512_mask_storeu_pd(p + 8, (__mmask8)hi, v.b);
}

#define FNN_DIRECT_SUFFIX(name) FNN_DIRECT_PASTE(name, _avx512)
#define FNN_TEMPLATE "conv/direct_tmpl.h"
#include "../fnn_instantiate.h"
