/* exp for the element-wise kernels, written so that GCC vectorises it (internal header).
 *
 * Why not libm: without -ffast-math a call to exp/expf is an opaque scalar call, so every
 * loop that contains one (sigmoid, softmax, the cross-entropies, ...) stays scalar, while
 * NumPy's own exp is SIMD.  These versions are straight-line code: branch-free selects,
 * integer bit tricks and a polynomial, which the auto-vectoriser turns into SSE2.
 *
 * Method (the classic Cody-Waite reduction): exp(x) = 2^n * exp(r) with n = round(x/ln2)
 * and r = x - n*ln2 split into a high part (exact product) and a low part, so
 * |r| <= ln2/2; exp(r) by its Taylor polynomial (degree 7 for float, 13 for double: the
 * truncation error r^(d+1)/(d+1)! is below half an ulp), then 2^n built in the exponent
 * bits.  Rounding to the nearest integer adds and subtracts 1.5*2^(mantissa bits), which
 * works without SSE4.1's round instruction.  Accuracy: within 2 ulp over the whole range
 * (checked against libm in tests/kernels/test_elementwise_native.py).
 *
 * Range: results below 2e-38 (float) / 3.3e-308 (double) flush to 0, an absolute error
 * no kernel here can see; overflow gives +inf and NaN stays NaN.
 */
#ifndef FNN_MATH_H
#define FNN_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline int32_t fnn_f32_bits(float x) {
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i;
}

static inline float fnn_f32_from_bits(int32_t i) {
    float x;
    memcpy(&x, &i, sizeof x);
    return x;
}

static inline int64_t fnn_f64_bits(double x) {
    int64_t i;
    memcpy(&i, &x, sizeof i);
    return i;
}

static inline double fnn_f64_from_bits(int64_t i) {
    double x;
    memcpy(&x, &i, sizeof x);
    return x;
}

/* 2^n is built as 2 * 2^(n-1), so that n = 128 (x just below log(FLT_MAX)) needs no
 * special case; the price is flushing to 0 from x < -86.9 (results below 2e-38) rather
 * than from log(FLT_MIN) = -87.34.  NaN needs no select: it propagates through the
 * arithmetic. */
static inline float fnn_exp_f32(float x) {
    const float lo = -86.9f;       /* below: 0 (2^(n-1) must stay a normal number) */
    const float hi = 88.72283f;    /* log(FLT_MAX): above, +inf */
    const float magic = 12582912.0f; /* 1.5 * 2^23: x + magic rounds x to an integer */
    const float ln2_hi = 0.693359375f;    /* 9 significant bits: n*ln2_hi is exact */
    const float ln2_lo = -2.12194440e-4f; /* ln2 - ln2_hi */
    float xc = x < lo ? lo : x, t, n, r, p, res;
    int32_t ni;
    xc = xc > hi ? hi : xc;
    t = xc * 1.44269504088896341f + magic;
    n = t - magic;
    ni = fnn_f32_bits(t) - fnn_f32_bits(magic);
    r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    res = (p + p) * fnn_f32_from_bits((ni + 126) << 23);
    res = x > hi ? (float)INFINITY : res;
    return x < lo ? 0.0f : res;
}

static inline double fnn_exp_f64(double x) {
    const double lo = -708.0;            /* below: 0 (results under 3.3e-308) */
    const double hi = 709.782712893384;  /* log(DBL_MAX) */
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    const double ln2_hi = 6.93147180369123816490e-01; /* trailing zero bits: exact n*hi */
    const double ln2_lo = 1.90821492927058770002e-10;
    double xc = x < lo ? lo : x, t, n, r, p, res;
    int64_t ni;
    xc = xc > hi ? hi : xc;
    t = xc * 1.4426950408889634074 + magic;
    n = t - magic;
    ni = fnn_f64_bits(t) - fnn_f64_bits(magic);
    r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    p = 1.0 / 6227020800.0;           /* 1/13! */
    p = p * r + 1.0 / 479001600.0;    /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    res = (p + p) * fnn_f64_from_bits((ni + 1022) << 52);
    res = x > hi ? (double)INFINITY : res;
    return x < lo ? 0.0 : res;
}

/* tanh: |x| >= 0.625 as 1 - 2/(exp(2|x|) + 1), which has no cancellation there (the result
 * is >= 0.55); below, the odd minimax polynomial of Cephes' tanhf (S. Moshier), where the
 * exp form would lose digits to 1 - (1 - small).  Within 2 ulp; vectorises. */
static inline float fnn_tanh_f32(float x) {
    float a = fabsf(x), z = x * x, big, small;
    big = 1.0f - 2.0f / (fnn_exp_f32(a + a) + 1.0f);
    big = x < 0 ? -big : big;
    small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
              1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    return a >= 0.625f ? big : small;
}

/* double: libm (a double minimax polynomial is not worth its risk for one activation). */
static inline double fnn_tanh_f64(double x) { return tanh(x); }

/* expm1 for the kernels' arguments (any x; accurate where it matters, |x| small): for
 * |x| < ln2/2 the Taylor polynomial (degree 8 / 14: truncation below half an ulp), which
 * keeps full relative accuracy near 0 where exp(x) - 1 would cancel; beyond, exp(x) - 1,
 * whose result is then >= 0.29 in magnitude, so within 3 ulp. */
static inline float fnn_expm1_f32(float x) {
    float p = 1.0f / 40320.0f;
    p = p * x + 1.0f / 5040.0f;
    p = p * x + 1.0f / 720.0f;
    p = p * x + 1.0f / 120.0f;
    p = p * x + 1.0f / 24.0f;
    p = p * x + 1.0f / 6.0f;
    p = p * x + 0.5f;
    p = p * x * x + x;
    return fabsf(x) < 0.34657359f ? p : fnn_exp_f32(x) - 1.0f;
}

static inline double fnn_expm1_f64(double x) {
    double p = 1.0 / 87178291200.0; /* 1/14! */
    p = p * x + 1.0 / 6227020800.0;
    p = p * x + 1.0 / 479001600.0;
    p = p * x + 1.0 / 39916800.0;
    p = p * x + 1.0 / 3628800.0;
    p = p * x + 1.0 / 362880.0;
    p = p * x + 1.0 / 40320.0;
    p = p * x + 1.0 / 5040.0;
    p = p * x + 1.0 / 720.0;
    p = p * x + 1.0 / 120.0;
    p = p * x + 1.0 / 24.0;
    p = p * x + 1.0 / 6.0;
    p = p * x + 0.5;
    p = p * x * x + x;
    return fabs(x) < 0.34657359027997264 ? p : fnn_exp_f64(x) - 1.0;
}

/* log1p for x >= 0 (softplus and the binary cross-entropy take it of exp(-|z|) in (0, 1]).
 * u = 1 + x is split as 2^k * m with m in [sqrt(1/2), sqrt(2)) by integer operations on
 * its bits; log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.172, by its odd series; and
 * (x - (u - 1)) / u adds back what rounding 1 + x lost, so tiny x keeps full relative
 * accuracy.  Within 2 ulp; +inf gives +inf, NaN stays NaN. */
static inline float fnn_log1p_f32(float x) {
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    float u = 1.0f + x;
    float c = (x - (u - 1.0f)) / u;
    int32_t iu = fnn_f32_bits(u) + (0x3f800000 - 0x3f3504f3);
    float k = (float)((iu >> 23) - 127);
    float m = fnn_f32_from_bits((iu & 0x007fffff) + 0x3f3504f3);
    float f = m - 1.0f, sv = f / (2.0f + f), z = sv * sv;
    float p = 1.0f / 9.0f;
    p = p * z + 1.0f / 7.0f;
    p = p * z + 1.0f / 5.0f;
    p = p * z + 1.0f / 3.0f;
    p = (sv + sv) + (sv + sv) * z * p;
    p = k * ln2_hi + (p + (k * ln2_lo + c));
    return x == (float)INFINITY ? x : p;
}

static inline double fnn_log1p_f64(double x) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double u = 1.0 + x;
    double c = (x - (u - 1.0)) / u;
    /* unsigned, so that >> is the logical shift SSE2 has for 64-bit lanes */
    uint64_t iu = (uint64_t)fnn_f64_bits(u) +
                  (UINT64_C(0x3ff0000000000000) - UINT64_C(0x3fe6a09e667f3bcd));
    /* (double)(iu >> 52) without an int64 -> double conversion (SSE2 has none): put the
     * integer in the mantissa of 2^52 and subtract 2^52. */
    double k = fnn_f64_from_bits((int64_t)((iu >> 52) | UINT64_C(0x4330000000000000))) -
               4503599627370496.0 - 1023.0;
    double m = fnn_f64_from_bits(
        (int64_t)((iu & UINT64_C(0x000fffffffffffff)) + UINT64_C(0x3fe6a09e667f3bcd)));
    double f = m - 1.0, sv = f / (2.0 + f), z = sv * sv;
    double p = 1.0 / 23.0;
    p = p * z + 1.0 / 21.0;
    p = p * z + 1.0 / 19.0;
    p = p * z + 1.0 / 17.0;
    p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    p = (sv + sv) + (sv + sv) * z * p;
    p = k * ln2_hi + (p + (k * ln2_lo + c));
    return x == (double)INFINITY ? x : p;
}

#endif
