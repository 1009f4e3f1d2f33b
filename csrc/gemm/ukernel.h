/* The micro-kernel contract, and the block-size table each micro-kernel carries.
 *
 * A micro-kernel computes one full MR x NR tile of C from packed panels:
 *
 *     C[MR x NR] = (accumulate ? C : 0) + A_panel B_panel
 *
 * a: MR x k packed column by column (a[p*MR + i] = A[i][p]), 64-byte aligned;
 * b: k x NR row by row, b[p*rs_b + j] = B[p][j]: a packed panel (rs_b = NR, 64-byte
 *    aligned), or, for a row-major B used by a single MC block, B itself (rs_b = its
 *    row stride, any alignment), which saves packing the big operand of a small-batch
 *    product;
 * c: element (i, j) at c[i*rs_c + j*cs_c], any strides.  With accumulate == 0, C is
 *    only written (it may hold NaN on entry).
 *
 * Every element of the tile is one sequential multiply-add chain over p = 0..k-1
 * starting from zero, added to C at the end.  The GEMM's bit-for-bit independence of
 * the thread count rests on that: which tile or thread computes an element never
 * changes its rounding.
 *
 * Edge tiles (m < MR or n < NR) are the macro-kernel's job (gemm_tmpl.h): it runs the
 * micro-kernel into a local MR x NR tile and copies the valid part, so each kernel
 * only has to be fast on full tiles.  Packed panels are zero-padded to MR / NR.
 */
#ifndef FNN_GEMM_UKERNEL_H
#define FNN_GEMM_UKERNEL_H

#include <stddef.h>

/* Upper bounds over every kernel's MR and NR (for local edge tiles). */
#define FNN_GEMM_MAX_MR 8
#define FNN_GEMM_MAX_NR 32

typedef void (*fnn_ukernel_f32)(ptrdiff_t k, const float *a, const float *b,
                                ptrdiff_t rs_b, float *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                                int accumulate);
typedef void (*fnn_ukernel_f64)(ptrdiff_t k, const double *a, const double *b,
                                ptrdiff_t rs_b, double *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                                int accumulate);

/* MR x NR: the register tile.  KC: the depth of a packed panel (B micro-panel KC x NR
 * stays in L1).  MC: rows of the packed A block (MC x KC stays in L2).  NC: columns
 * of the packed B block (KC x NC stays in L3).  MC is a multiple of MR, NC of NR.
 * A kernel's own MR and NR are always used; its KC, MC, NC are the ones gemm.c uses
 * for the portable kernel, while a SIMD kernel takes them from gemm.c's per-CPU
 * tables (its own serve only as the "zen1-2" row's origin). */
typedef struct {
    int mr, nr, kc, mc, nc;
} fnn_blocksizes;

typedef struct {
    const char *name;
    fnn_blocksizes bs_f32;
    fnn_ukernel_f32 ukr_f32;
    fnn_blocksizes bs_f64;
    fnn_ukernel_f64 ukr_f64;
} fnn_gemm_kernel;

/* ukernel_ref.c: plain C99, any CPU. */
extern const fnn_gemm_kernel fnn_gemm_kernel_portable;

/* FMA peak probes (fnn_fma_peak_gflops in gemm.c): iters iterations of independent
 * multiply-add chains, FNN_FMA_PROBE_*_FLOPS flops per iteration; the return value only
 * keeps the work alive. */
#define FNN_FMA_PROBE_REF_FLOPS 64   /* 32 float chains, a*m + c */
#define FNN_FMA_PROBE_AVX2_FLOPS 192 /* 12 ymm FMA chains x 8 lanes x 2 */
float fnn_fma_probe_ref(long iters);

#if FNN_HAVE_AVX2_BUILD
/* ukernel_avx2.c: AVX2 + FMA intrinsics, compiled alone with -mavx2 -mfma. */
extern const fnn_gemm_kernel fnn_gemm_kernel_avx2;
float fnn_fma_probe_avx2(long iters);
#endif

#if FNN_HAVE_AVX512_BUILD
/* ukernel_avx512.c: AVX-512F intrinsics, compiled alone with -mavx512f. */
#define FNN_FMA_PROBE_AVX512_FLOPS 512 /* 16 zmm FMA chains x 16 lanes x 2 */
extern const fnn_gemm_kernel fnn_gemm_kernel_avx512;
float fnn_fma_probe_avx512(long iters);
#endif

#endif
