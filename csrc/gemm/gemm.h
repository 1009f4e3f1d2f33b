/* fastnn GEMM: C = op(A) op(B) (+ C), then + bias per column, then an activation.
 *
 * One entry point per dtype.  Every matrix is addressed through a row stride and a
 * column stride (in elements, possibly negative or zero), so the three products of a
 * dense layer run through the same code:
 *
 *     x @ w    : A = x   (rs_a = k, cs_a = 1),  B = w   (rs_b = n, cs_b = 1)
 *     dz @ w.T : B = w.T (rs_b = 1, cs_b = k)
 *     x.T @ dz : A = x.T (rs_a = 1, cs_a = m)
 *
 * The packing routines absorb the transposes; the micro-kernels only ever see packed
 * panels.  Results do not depend on the thread count: threads split the rows and
 * columns of C, never the k reduction (see gemm.c).
 *
 * The kernels trust their inputs (the Cython entry, fastnn/_native/_gemm.pyx, checks
 * them): C must not overlap A, B or bias, and the strides must address valid memory.
 */
#ifndef FNN_GEMM_H
#define FNN_GEMM_H

#include <stddef.h>

#include "../fnn_dispatch.h"

/* C[m x n] = A[m x k] B[k x n] (+ C when accumulate), then C[i][j] += bias[j] (bias may
 * be NULL, else n contiguous values), then C = act(C) with fnn_act_forward_inplace_*
 * (act is an fnn_activation, never FNN_ACT_SOFTMAX; alpha is its parameter).
 * When accumulate is 0, C is write-only: it may hold garbage (NaN) on entry.
 * k == 0 gives C = act((accumulate ? C : 0) + bias).  m == 0 or n == 0 does nothing.
 * nthreads >= 1 is an upper bound; small products run on one thread.
 * Returns FNN_OK, or FNN_NO_MEMORY when a packing buffer could not be allocated (C is
 * then undefined).
 */
fnn_status fnn_gemm_f32(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                        const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                        const float *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
                        float *c, ptrdiff_t rs_c, ptrdiff_t cs_c, int accumulate,
                        const float *bias, int act, float alpha, int nthreads);
fnn_status fnn_gemm_f64(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                        const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                        const double *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
                        double *c, ptrdiff_t rs_c, ptrdiff_t cs_c, int accumulate,
                        const double *bias, int act, double alpha, int nthreads);

/* A GEMM whose A is never stored: a packer writes A's values straight into the
 * GEMM's packed panels, so an operand computed on the fly (a convolution's patches:
 * conv_tmpl.h) costs one pass instead of being built as a matrix and then packed.
 *
 * The packer fills rows [i0, i0 + mc) and columns [p0, p0 + kc) of the virtual m x k
 * matrix A as ceil(mc / mr) micro-panels of mr rows (ukernel.h's layout):
 *     dst[q*kc*mr + p*mr + i] = A[i0 + q*mr + i][p0 + p],  zero for rows >= mc.
 * It is called from the thread running the GEMM, for blocks chosen from the shapes
 * alone.  The product, epilogue and rules are fnn_gemm_*'s, never swapped to C^T, and
 * the bits equal fnn_gemm_* on the stored A. */
typedef void (*fnn_pack_a_f32)(const void *ctx, ptrdiff_t i0, ptrdiff_t p0, ptrdiff_t mc,
                               ptrdiff_t kc, int mr, float *dst);
typedef void (*fnn_pack_a_f64)(const void *ctx, ptrdiff_t i0, ptrdiff_t p0, ptrdiff_t mc,
                               ptrdiff_t kc, int mr, double *dst);
fnn_status fnn_gemm_packer_f32(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, fnn_pack_a_f32 pack_a,
                               const void *ctx, const float *b, ptrdiff_t rs_b,
                               ptrdiff_t cs_b, float *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                               int accumulate, const float *bias, int act, float alpha,
                               int nthreads);
fnn_status fnn_gemm_packer_f64(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, fnn_pack_a_f64 pack_a,
                               const void *ctx, const double *b, ptrdiff_t rs_b,
                               ptrdiff_t cs_b, double *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                               int accumulate, const double *bias, int act, double alpha,
                               int nthreads);

/* The packers' transposing copies: dst[p*width + i] = lines[i][p] for p < kc, i < width,
 * with line i at lines[i], or at src + i*s_x (width even, at most FNN_GEMM_MAX_NR; SSE2
 * 4 x 4 transposes where the build has SSE2; the strided form is the cheaper one). */
void fnn_pack_lines_f32(ptrdiff_t kc, const float *const *lines, int width,
                        float *dst);
void fnn_pack_lines_f64(ptrdiff_t kc, const double *const *lines, int width,
                        double *dst);
void fnn_pack_transposed_f32(ptrdiff_t kc, const float *src, ptrdiff_t s_x, int width,
                             float *dst);
void fnn_pack_transposed_f64(ptrdiff_t kc, const double *src, ptrdiff_t s_x, int width,
                             double *dst);

/* out[j] = sum_i x[i][j] (the bias gradient), summed in row order 0..m-1 for every
 * column whatever the thread count; threads split the columns. */
void fnn_col_sum_f32(ptrdiff_t m, ptrdiff_t n, const float *x, ptrdiff_t rs_x,
                     ptrdiff_t cs_x, float *out, int nthreads);
void fnn_col_sum_f64(ptrdiff_t m, ptrdiff_t n, const double *x, ptrdiff_t rs_x,
                     ptrdiff_t cs_x, double *out, int nthreads);

/* The dtype-generic entries fastnn/_native calls (fnn_dispatch.h): the two kernels above
 * with void pointers, dtype an fnn_dtype and alpha converted to the element type.
 * FNN_NOT_TAKEN for an unknown dtype, else the kernel's status. */
fnn_status fnn_gemm(fnn_dtype dtype, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                    const void *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                    const void *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
                    void *c, ptrdiff_t rs_c, ptrdiff_t cs_c, int accumulate,
                    const void *bias, int act, double alpha, int nthreads);
fnn_status fnn_col_sum(fnn_dtype dtype, ptrdiff_t m, ptrdiff_t n, const void *x,
                       ptrdiff_t rs_x, ptrdiff_t cs_x, void *out, int nthreads);

/* The float32 FMA peak of this CPU in GFLOP/s on nthreads threads (all together): the
 * best of a few timed runs of independent FMA chains (AVX2+FMA when this build has it
 * and the CPU runs it, else the portable multiply-add loop), each thread ~20 ms.
 * Serial builds measure one thread whatever nthreads says. */
double fnn_fma_peak_gflops(int nthreads);

/* The same with the FMA instructions of the kernel called kernel ("portable",
 * "avx2-fma", "avx512"; fnn_fma_peak_gflops uses the kernel in use), or -1 when this
 * build or CPU lacks that kernel. */
double fnn_fma_peak_gflops_of(const char *kernel, int nthreads);

/* 1 when the kernel called name is built and this CPU (and OS) can run it. */
int fnn_gemm_kernel_available(const char *name);

/* The SIMD kernel fnn_gemm_init picks for a CPU of this vendor, family and model with
 * AVX2+FMA, and with AVX-512F (has_avx512 != 0) or not: "avx512" or "avx2-fma". */
const char *fnn_gemm_kernel_for_cpu(const char *vendor, int family, int model,
                                    int has_avx512);

/* The row fnn_gemm_init uses for that CPU with that kernel, or NULL (the cache rule). */
const char *fnn_gemm_table_for_cpu_kernel(const char *vendor, int family, int model,
                                          const char *kernel);

/* Picks the micro-kernel once (CPUID, FASTNN_DISABLE_SIMD); called at import, and
 * lazily by the GEMM itself.  Idempotent. */
void fnn_gemm_init(void);

/* "avx512", "avx2-fma" or "portable": the micro-kernel the GEMM uses now. */
const char *fnn_gemm_kernel_name(void);

/* Test hook: use the kernel called name ("avx512", "avx2-fma" or "portable"), with the block-size
 * table fnn_gemm_init would choose for it.  Returns 0, or -1 when that kernel is not
 * built or this CPU cannot run it (nothing changes then).  Not thread-safe against
 * GEMMs running concurrently (nor are the other test hooks below). */
int fnn_gemm_select_kernel(const char *name);

/* What the GEMM knows of the CPU it runs on (gemm.c, filled once at init). */
typedef struct {
    char vendor[13];         /* CPUID leaf 0, e.g. "AuthenticAMD"; "" off x86 */
    char brand[49];          /* CPUID 0x80000002-4, e.g. "AMD EPYC 9354P ..."; or "" */
    int family, model;       /* CPUID leaf 1, extended fields folded in; -1 unknown */
    long l1d, l2, l3;        /* bytes of the caches core 0 sees; 0 when unknown */
    const char *cache_source; /* "cpuid", "sysfs" or "none" */
} fnn_cpu_facts;

const fnn_cpu_facts *fnn_gemm_cpu(void);

/* The block sizes the GEMM uses now for one dtype (MR, NR from the kernel; KC, MC, NC
 * from the table).  FNN_NOT_TAKEN for an unknown dtype, else FNN_OK. */
fnn_status fnn_gemm_block_sizes(fnn_dtype dtype, int *mr, int *nr, int *kc, int *mc,
                                int *nc);

/* The table in use: a row's name ("zen4", "portable", ...) or, for the cache-derived
 * rule, "from caches: L1d 32 KiB, L2 1 MiB, L3 32 MiB". */
const char *fnn_gemm_table_name(void);

/* The name of table i of the known rows (i = 0, 1, ...; NULL past the last).  The
 * names "caches" (this CPU's caches through the rule) and "auto" (the choice at init)
 * are accepted by fnn_gemm_select_table too. */
const char *fnn_gemm_table_row(int i);

/* The row fnn_gemm_init picks for a CPU of this CPUID vendor, family and model, or NULL
 * when none fits (it then uses the cache rule). */
const char *fnn_gemm_table_for_cpu(const char *vendor, int family, int model);

/* Test hook: use the table called name with the current kernel.  Returns 0, or -1 for
 * an unknown name (nothing changes then). */
int fnn_gemm_select_table(const char *name);

/* Test hook: block sizes from the cache rule with the given sizes in bytes (0: not
 * known) instead of the CPU's, as on a CPU with those caches. */
void fnn_gemm_table_from_caches(long l1d, long l2, long l3);

#endif
