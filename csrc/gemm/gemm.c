/* BLIS-style GEMM driver: blocking, packing, threading, epilogue and kernel dispatch.
 *
 * Design (see gemm_tmpl.h for the loops, ukernel.h for the micro-kernel contract):
 *
 * - Five loops NC / KC / MC around an MR x NR register micro-kernel.  A and B are
 *   packed into contiguous, 64-byte aligned micro-panels; the packing routines read
 *   any row/column strides, so transposed operands cost nothing extra downstream.
 * - Threads: C is cut into a tm x tn grid of rectangles (on MR / NR boundaries), one
 *   per thread, and each thread runs the sequential blocked GEMM on its rectangle.
 *   The grid is chosen to minimize redundant packing: splitting columns makes every
 *   thread pack all of A (m*k each), splitting rows makes every thread pack all of B
 *   (k*n each).  The k reduction is never split, and every element of C is one
 *   fixed-order chain (ukernel.h), so results are bit-identical for any thread count.
 * - Packing buffers are per thread (thread-local storage), allocated on first use and
 *   only ever grown: in steady state (same shapes each training step) a GEMM
 *   allocates nothing.  OpenMP keeps its worker threads alive, so their buffers live
 *   as long as the pool; they are released with the threads at exit.
 * - Two shape-driven shortcuts, neither of which changes a single bit of the result:
 *   a product whose padding to whole tiles wastes much (an output layer with n = 10)
 *   is computed transposed, C^T = B^T A^T (fnn_gemm_prefer_swap); and a row-major B
 *   that one MC block uses once is read in place instead of packed (gemm_tmpl.h).
 * - fastnn/_native calls fnn_gemm / fnn_col_sum, the dtype-generic entries at the end
 *   (fnn_dispatch.h), over the float32 and float64 instantiations of gemm_tmpl.h.
 * - The micro-kernel is picked once: AVX2+FMA when this build compiled it
 *   (FNN_HAVE_AVX2_BUILD) and CPUID reports both features, unless FASTNN_DISABLE_SIMD
 *   is set to a non-zero value; else the portable C kernel.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../activations.h"
#include "gemm.h"
#include "ukernel.h"

#ifndef FNN_HAVE_AVX2_BUILD
#define FNN_HAVE_AVX2_BUILD 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FNN_TLS __thread
#elif defined(_MSC_VER)
#define FNN_TLS __declspec(thread)
#else
#define FNN_TLS _Thread_local
#endif

/* Products below this many flops (2 m n k) run on one thread: starting a parallel
 * region and packing twice costs more than it saves (measured on a 2-core Zen). */
#define FNN_GEMM_PARALLEL_MIN_FLOPS 2.0e6

/* ------------------------------------------------------------------ dispatch */

static const fnn_gemm_kernel *fnn_gemm_kernel_in_use = NULL;

static int fnn_cpu_has_avx2_fma(void)
{
#if FNN_HAVE_AVX2_BUILD && (defined(__GNUC__) || defined(__clang__)) &&                  \
    (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int fnn_simd_disabled_by_env(void)
{
    const char *v = getenv("FASTNN_DISABLE_SIMD");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

void fnn_gemm_init(void)
{
    const fnn_gemm_kernel *kern = &fnn_gemm_kernel_portable;
    if (fnn_gemm_kernel_in_use != NULL)
        return;
#if FNN_HAVE_AVX2_BUILD
    if (!fnn_simd_disabled_by_env() && fnn_cpu_has_avx2_fma())
        kern = &fnn_gemm_kernel_avx2;
#else
    (void)fnn_simd_disabled_by_env;
    (void)fnn_cpu_has_avx2_fma;
#endif
    fnn_gemm_kernel_in_use = kern;
}

static const fnn_gemm_kernel *fnn_gemm_active(void)
{
    if (fnn_gemm_kernel_in_use == NULL)
        fnn_gemm_init();
    return fnn_gemm_kernel_in_use;
}

const char *fnn_gemm_kernel_name(void)
{
    return fnn_gemm_active()->name;
}

int fnn_gemm_select_kernel(const char *name)
{
    if (strcmp(name, fnn_gemm_kernel_portable.name) == 0) {
        fnn_gemm_kernel_in_use = &fnn_gemm_kernel_portable;
        return 0;
    }
#if FNN_HAVE_AVX2_BUILD
    if (strcmp(name, fnn_gemm_kernel_avx2.name) == 0 && fnn_cpu_has_avx2_fma()) {
        fnn_gemm_kernel_in_use = &fnn_gemm_kernel_avx2;
        return 0;
    }
#endif
    return -1;
}

/* ------------------------------------------------------------------ FMA peak */

static double fnn_wtime(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

typedef float (*fnn_fma_probe)(long iters);

double fnn_fma_peak_gflops(int nthreads)
{
    fnn_fma_probe probe = fnn_fma_probe_ref;
    double flops_per_iter = FNN_FMA_PROBE_REF_FLOPS, best = 0.0, dt = 0.0;
    volatile float sink = 0.0f;
    long iters = 1L << 14;
    int rep;
#if FNN_HAVE_AVX2_BUILD
    if (fnn_cpu_has_avx2_fma()) {
        probe = fnn_fma_probe_avx2;
        flops_per_iter = FNN_FMA_PROBE_AVX2_FLOPS;
    }
#endif
#ifndef _OPENMP
    nthreads = 1;
#endif
    if (nthreads < 1)
        nthreads = 1;
    /* Calibrate on one thread: about 20 ms per run. */
    while (iters < (1L << 40)) {
        const double t0 = fnn_wtime();
        sink = sink + probe(iters);
        dt = fnn_wtime() - t0;
        if (dt >= 0.02)
            break;
        iters = dt > 1e-4 ? (long)((double)iters * 0.025 / dt) : iters * 8;
    }
    for (rep = 0; rep < 5; ++rep) {
        double elapsed = 0.0;
        float s = 0.0f;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) reduction(+ : s)
        {
            double t0;
            /* Time from a common start to the last thread's end, wake-up excluded. */
#pragma omp barrier
            t0 = omp_get_wtime();
            s += probe(iters);
#pragma omp barrier
#pragma omp master
            elapsed = omp_get_wtime() - t0;
        }
#else
        {
            const double t0 = fnn_wtime();
            s += probe(iters);
            elapsed = fnn_wtime() - t0;
        }
#endif
        sink = sink + s;
        if (elapsed > 0.0) {
            const double g = (double)nthreads * (double)iters * flops_per_iter / elapsed / 1e9;
            if (g > best)
                best = g;
        }
    }
    (void)sink;
    return best;
}

/* ------------------------------------------------------------------ buffers */

typedef struct {
    void *raw;      /* what malloc returned */
    void *aligned;  /* raw rounded up to 64 bytes */
    size_t bytes;   /* usable bytes from aligned */
} fnn_buffer;

static FNN_TLS fnn_buffer fnn_tls_pack_a;
static FNN_TLS fnn_buffer fnn_tls_pack_b;

/* Grows buf to at least bytes (never shrinks).  Returns 0, or -1 on failure. */
static int fnn_buffer_reserve(fnn_buffer *buf, size_t bytes)
{
    void *raw;
    if (buf->bytes >= bytes)
        return 0;
    /* Round up so that small growth steps do not reallocate over and over. */
    bytes = (bytes + 4095) & ~(size_t)4095;
    raw = malloc(bytes + 64);
    if (raw == NULL)
        return -1;
    free(buf->raw);
    buf->raw = raw;
    buf->aligned = (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    buf->bytes = bytes;
    return 0;
}

static int fnn_gemm_buffers(size_t a_bytes, size_t b_bytes, void **a, void **b)
{
    if (fnn_buffer_reserve(&fnn_tls_pack_a, a_bytes) != 0 ||
        fnn_buffer_reserve(&fnn_tls_pack_b, b_bytes) != 0)
        return -1;
    *a = fnn_tls_pack_a.aligned;
    *b = fnn_tls_pack_b.aligned;
    return 0;
}

/* ------------------------------------------------------------------ blocking */

/* The block size for len split into ceil(len / max_block) nearly equal blocks,
 * rounded up to a multiple of unit (MR or NR; a multiple of unit never exceeds
 * max_block, which the tables keep a multiple of unit). */
static ptrdiff_t fnn_balanced_block(ptrdiff_t len, ptrdiff_t max_block, ptrdiff_t unit)
{
    const ptrdiff_t nblocks = (len + max_block - 1) / max_block;
    ptrdiff_t block;
    if (nblocks <= 1)
        block = len;
    else
        block = (len + nblocks - 1) / nblocks;
    block = (block + unit - 1) / unit * unit;
    return block > 0 ? block : unit;
}

/* Rough cost, in cycles per unit of k, of computing an m x n product in this orientation:
 * the micro-kernel runs on whole MR x NR tiles (8 multiply-adds per cycle with AVX2),
 * and packing costs about a cycle per value, for A always and for B unless the region
 * code reads B in place (row-major B, one MC block; see gemm_tmpl.h). */
static double fnn_gemm_cost(ptrdiff_t m, ptrdiff_t n, ptrdiff_t cs_b, const fnn_blocksizes *bs)
{
    const double padded = (double)((m + bs->mr - 1) / bs->mr * bs->mr) *
                          (double)((n + bs->nr - 1) / bs->nr * bs->nr);
    const int direct_b = cs_b == 1 && m <= bs->mc && n >= bs->nr;
    return padded / 8.0 + (double)m + (direct_b ? 0.0 : (double)n);
}

/* Whether to compute C^T = op(B)^T op(A)^T instead: same products, same summation
 * order, so the same bits, but the padding can be much smaller.  A 128 x 10 output layer
 * pads its 10 columns to 16 (37% wasted) but, transposed, only 10 rows to 12; a 500 x 10
 * weight gradient likewise.  Writing C^T stores C through its column stride, which costs
 * about 10% more per tile. */
static int fnn_gemm_prefer_swap(ptrdiff_t m, ptrdiff_t n, ptrdiff_t rs_a, ptrdiff_t cs_b,
                                const fnn_blocksizes *bs)
{
    return 1.1 * fnn_gemm_cost(n, m, rs_a, bs) < fnn_gemm_cost(m, n, cs_b, bs);
}

/* ------------------------------------------------------------------ threads */

typedef struct {
    ptrdiff_t m0, m1, n0, n1;
} fnn_region;

static int fnn_gemm_threads_for(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                const fnn_blocksizes *bs, int nthreads)
{
#ifdef _OPENMP
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    const double tiles = (double)((m + bs->mr - 1) / bs->mr) *
                         (double)((n + bs->nr - 1) / bs->nr);
    if (nthreads < 1 || flops < FNN_GEMM_PARALLEL_MIN_FLOPS)
        return 1;
    if ((double)nthreads > tiles)
        nthreads = (int)tiles;
    return nthreads;
#else
    (void)m; (void)n; (void)k; (void)bs; (void)nthreads;
    return 1;
#endif
}

#ifdef _OPENMP
/* The rectangle of C that thread t of nt computes.  Among the factorizations
 * nt = tm x tn, pick the one that packs the least in total (tn*m*k for A plus
 * tm*k*n for B) and still gives every thread at least one tile; rows go in whole MR
 * tiles, columns in whole NR tiles, spread as evenly as possible. */
static void fnn_gemm_partition(ptrdiff_t m, ptrdiff_t n, const fnn_blocksizes *bs, int t,
                               int nt, fnn_region *r)
{
    const ptrdiff_t mtiles = (m + bs->mr - 1) / bs->mr;
    const ptrdiff_t ntiles = (n + bs->nr - 1) / bs->nr;
    ptrdiff_t tm = 1, tn = nt, d, ti, tj;
    double best = -1.0;
    for (d = 1; d <= nt; ++d) {
        const ptrdiff_t dm = d, dn = nt / d;
        double cost;
        if (nt % d != 0 || dm > mtiles || dn > ntiles)
            continue;
        cost = (double)dn * (double)m + (double)dm * (double)n;
        if (best < 0.0 || cost < best) {
            best = cost;
            tm = dm;
            tn = dn;
        }
    }
    if (best < 0.0) { /* more threads than tiles along every split: give rows out */
        tm = nt;
        tn = 1;
    }
    ti = t / tn;
    tj = t % tn;
    r->m0 = ti * mtiles / tm * bs->mr;
    r->m1 = (ti + 1) * mtiles / tm * bs->mr;
    r->n0 = tj * ntiles / tn * bs->nr;
    r->n1 = (tj + 1) * ntiles / tn * bs->nr;
    if (r->m1 > m) r->m1 = m;
    if (r->n1 > n) r->n1 = n;
    if (r->m0 > m) r->m0 = m;
    if (r->n0 > n) r->n0 = n;
}
#endif

/* ------------------------------------------------------------------ transposing pack */

/* Packing an operand whose lines run along k (row-major x as A, or w.T as B) is a
 * transpose: dst[p*width + i] = src[i*s_x + p].  Element by element that is a load and
 * a store per value, about a cycle each, which is a third of a 128 x 10 x 500 output
 * layer.  With SSE2 (every x86-64 CPU) 4 x 4 float / 2 x 2 double blocks are transposed
 * in registers, so each store writes 4 (2) values.  Other CPUs use the scalar loop.
 * Both need width to be even (every kernel's MR and NR is). */
#if defined(__SSE2__)
#include <emmintrin.h>
#define FNN_HAVE_SSE2_PACK 1

static void fnn_pack_transposed_f32(ptrdiff_t kc, const float *src, ptrdiff_t s_x,
                                    int width, float *restrict dst)
{
    ptrdiff_t p;
    int i, q;
    for (p = 0; p + 4 <= kc; p += 4, dst += 4 * width) {
        for (i = 0; i + 4 <= width; i += 4) {
            __m128 r0 = _mm_loadu_ps(src + (i + 0) * s_x + p);
            __m128 r1 = _mm_loadu_ps(src + (i + 1) * s_x + p);
            __m128 r2 = _mm_loadu_ps(src + (i + 2) * s_x + p);
            __m128 r3 = _mm_loadu_ps(src + (i + 3) * s_x + p);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(dst + 0 * width + i, r0);
            _mm_storeu_ps(dst + 1 * width + i, r1);
            _mm_storeu_ps(dst + 2 * width + i, r2);
            _mm_storeu_ps(dst + 3 * width + i, r3);
        }
        if (i < width) { /* a last pair of lines (width 6) */
            const __m128 r0 = _mm_loadu_ps(src + (i + 0) * s_x + p);
            const __m128 r1 = _mm_loadu_ps(src + (i + 1) * s_x + p);
            const __m128 lo = _mm_unpacklo_ps(r0, r1); /* k = p, p+1 */
            const __m128 hi = _mm_unpackhi_ps(r0, r1); /* k = p+2, p+3 */
            _mm_storel_pi((__m64 *)(dst + 0 * width + i), lo);
            _mm_storeh_pi((__m64 *)(dst + 1 * width + i), lo);
            _mm_storel_pi((__m64 *)(dst + 2 * width + i), hi);
            _mm_storeh_pi((__m64 *)(dst + 3 * width + i), hi);
        }
    }
    for (; p < kc; ++p, dst += width)
        for (q = 0; q < width; ++q)
            dst[q] = src[q * s_x + p];
}

static void fnn_pack_transposed_f64(ptrdiff_t kc, const double *src, ptrdiff_t s_x,
                                    int width, double *restrict dst)
{
    ptrdiff_t p;
    int i, q;
    for (p = 0; p + 2 <= kc; p += 2, dst += 2 * width) {
        for (i = 0; i < width; i += 2) {
            const __m128d r0 = _mm_loadu_pd(src + (i + 0) * s_x + p);
            const __m128d r1 = _mm_loadu_pd(src + (i + 1) * s_x + p);
            _mm_storeu_pd(dst + 0 * width + i, _mm_unpacklo_pd(r0, r1));
            _mm_storeu_pd(dst + 1 * width + i, _mm_unpackhi_pd(r0, r1));
        }
    }
    for (; p < kc; ++p, dst += width)
        for (q = 0; q < width; ++q)
            dst[q] = src[q * s_x + p];
}
#else
#define FNN_HAVE_SSE2_PACK 0
#endif

/* ------------------------------------------------------------------ one body, two dtypes */

#define FNN_TEMPLATE "gemm/gemm_tmpl.h"
#include "../fnn_instantiate.h"

/* ------------------------------------------------------------------ dtype-generic entries */

fnn_status fnn_gemm(fnn_dtype dtype, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                    const void *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                    const void *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
                    void *c, ptrdiff_t rs_c, ptrdiff_t cs_c, int accumulate,
                    const void *bias, int act, double alpha, int nthreads)
{
    FNN_DISPATCH(dtype, fnn_gemm, (m, n, k, a, rs_a, cs_a, b, rs_b, cs_b, c, rs_c, cs_c,
                                   accumulate, bias, act, alpha, nthreads));
}

fnn_status fnn_col_sum(fnn_dtype dtype, ptrdiff_t m, ptrdiff_t n, const void *x,
                       ptrdiff_t rs_x, ptrdiff_t cs_x, void *out, int nthreads)
{
    FNN_DISPATCH_VOID(dtype, fnn_col_sum, (m, n, x, rs_x, cs_x, out, nthreads));
}
