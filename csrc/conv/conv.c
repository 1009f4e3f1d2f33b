/* Convolution and pooling on channels-last images: the kernels behind NativeOps'
 * conv2d_forward / conv2d_backward / pool2d_forward / pool2d_backward.
 *
 * Design (the direct path for few channels, which takes LeNet's convolutions, is the
 * second part below)
 * - Forward is a GEMM of the patch matrix by the kernel, which in Keras's (KH, KW, C,
 *   F) layout already is the (KH*KW*C) x F matrix, with bias + activation in the GEMM's
 *   epilogue (as Dense does); the patch matrix is never stored.  The output pixels,
 *   numbered flat over (N, OH, OW), are cut into tiles of T rows (the GEMM's MC:
 *   fnn_conv_forward_tile), and each tile's GEMM takes the patches from a packer
 *   (fnn_im2col_pack, gemm.h's virtual A) that writes them straight into the GEMM's
 *   packed panels.  The working memory is the GEMM's own packing buffers and a few KiB
 *   of stack per thread.  The tiles are the parallel split; each GEMM runs on one
 *   thread.  A 1x1 convolution with stride 1 and no padding needs no packer: x is the
 *   patch matrix, and one GEMM threads itself.
 * - Backward splits the batch into a fixed number of chunks of whole images
 *   (fnn_conv_chunks: min(N, 16), from N only, never from the thread count).  A chunk
 *   walks its tiles in order: dz = dy * act'(y) on the tile (activations' serial
 *   kernel), db += column sums of dz, dw += patches^T dz (a GEMM with k = tile rows,
 *   patches read transposed through strides), and dx: dcols = dz w^T, scattered back
 *   with col2im.  Chunk 0 writes dw and db directly, the others into partials that are
 *   then added in chunk order, so dw and db have one summation order whatever the
 *   thread count; dx needs no reduction, since a chunk owns whole images.  Extra memory:
 *   two tiles per thread (patches and dcols) plus a dz tile, and (chunks - 1) partial
 *   kernels (16 x K x F at most: 2.3 MiB for a 3x3, 64 -> 64 layer).
 * - Every output element of the forward is one GEMM chain over k, cut into KC blocks
 *   from k alone (gemm_tmpl.h), so forward results depend neither on the thread count
 *   nor on T; backward results depend on T and the chunks, which come from the shapes.
 * - Pooling (pool_tmpl.h): threads split output rows (forward) or whole images
 *   (backward, where windows overlap); the inner loops run over the C contiguous
 *   channels.  Max keeps an int32 argmax per output (the first maximum; padded cells are
 *   never read); average divides by the count of real cells, as TF/Keras.
 *
 * What was tried and measured on the im2col path: callgrind instructions per call, 1 thread, float32,
 * batch 64, `python benchmarks/profile_conv.py --model lenet --callgrind` (each primitive
 * counted alone with --toggle-collect on its C entry; the machine was shared, so no
 * wall-clock figure is quoted):
 *
 *                                   before    after
 *   conv1 28x28x1->6 5x5 fwd        33.03M   18.61M
 *   conv1 bwd (no dx)               28.53M   14.12M
 *   conv2 14x14x6->16 5x5 fwd        9.42M    9.06M
 *   conv2 bwd (with dx)             20.82M   20.46M
 *   pool 28x28x6 fwd / bwd           5.04M / 5.30M   (unchanged)
 *
 * - Before, im2col divided each pixel's flat index into (n, oh, ow), and copied a
 *   kernel row of KW*C values with a loop that gcc turns into a libc memcpy call:
 *   for conv1 (runs of 5 floats) 11.9M of the 33.0M instructions were in
 *   __memcpy_avx_unaligned_erms and 2.6M in memset, around a 16M im2col.
 * - Now (fnn_im2col in conv_tmpl.h): the position is divided out once per output-row
 *   segment; the segment is split once into border pixels and interior ones; interior
 *   kernel rows are copied by fnn_conv_copy_rows, which picks the size class once for
 *   the segment, so a 5-float run is two overlapping 16-byte moves.  im2col + copies
 *   fell from ~62.7M to ~19.0M over three conv1 calls and one conv2 call.  Backward
 *   gains the same (it re-runs im2col per tile).
 * - Then (the next biggest by that profile): for conv1 forward the GEMM itself was
 *   most of the count (F = 6 fills 6 of the micro-kernel's 16 columns, an edge path
 *   every tile), and by thread CPU time LeNet's first pool (~1.0 ms) was above conv1's
 *   forward.  Both were taken up next (below).
 *
 * The forward's packer, measured: thread CPU time per call, 1 thread, float32, batch 64,
 * best of 3 runs alternating with the previous build (`python benchmarks/profile_conv.py
 * --model vgg`'s forward shapes), AMD EPYC family 25 model 1 (Zen 3, AVX2 kernel):
 *
 *                                   tile + pack   packer
 *   conv1 32x32x3->32 3x3 fwd        3.37 ms      3.40 ms
 *   conv2 32x32x32->32 3x3 fwd      21.00        18.27
 *   conv3 16x16x32->64 3x3 fwd       9.81         8.11
 *   conv4 16x16x64->64 3x3 fwd      17.27        15.17
 *   the four (3.13 GFLOP)           51.45        44.95   (61 -> 70 GFLOP/s, 64 -> 73%
 *                                                          of the 1-thread FMA peak)
 *
 * - Before, each tile was built as a T x K matrix (T = 64 KiB / K: 56 rows for K =
 *   288, so every tile ended in a 2-row padded panel) and the GEMM then packed it
 *   again: perf put the pack at 19% and the patch copies at 9% of conv2's samples,
 *   because with F = 32 each packed A value serves only two 16-column panels.
 * - Long patches (K > 256) go kernel row by kernel row: an interior pixel's row is read
 *   in place by fnn_pack_lines.  Short ones are built whole for a few panels at a time
 *   by fnn_im2col into a stack buffer and transposed from there (conv1's rows are 9
 *   values: one transposing copy per kernel row counted 74M instructions against 50M
 *   for the old path; this way 54M, and the same time).
 * - B (the kernel matrix, F columns) is read in place; F = 512 or 1024 would be
 *   packed (gemm.c's fnn_gemm_direct_stride_ok).
 *
 * The direct path (direct_tmpl.h; direct.h; one template compiled three times:
 * portable in this file, direct_avx2.c under -mavx2 -mfma, direct_avx512.c under
 * -mavx512f; the copy that runs is the one matching the GEMM's kernel, fnn_direct_isa,
 * so CPUID, FASTNN_DISABLE_SIMD and FASTNN_GEMM_KERNEL choose for both; never
 * -march=native).
 * - Selection rule (fnn_conv_direct_ok / fnn_conv_direct_backward_ok, inside the
 *   existing entries, so NativeOps and the layers do not change): F <= 16 (the output
 *   channels are one 16-lane vector), C <= 16, no dilation.  Forward: y = conv + b
 *   per output row, the activation then applied in place (the GEMM epilogue's kernel).
 *   Backward: dw and db direct; dx for C <= 4 as the direct forward of dz by the
 *   flipped, transposed kernel (stride 1, pads <= K-1) or else a scalar scatter, for
 *   C > 4 by the GEMM path's dz w^T + col2im.  Everything else is im2col + GEMM.
 * - Forward: each output row's KH input rows are copied into a zero-padded band, so
 *   every pixel is interior; 8 pixels at a time keep 8 accumulators (one vector each)
 *   in registers, one broadcast x times one kernel-row vector per window term.  Border
 *   pixels computed singly (one latency-bound FMA chain) cost more than the 24
 *   interior pixels of a 'same' conv1 row; the band removed them.  Accumulators as C
 *   arrays (GCC vectorised the lane loop but kept the 8 x 16 block in memory and
 *   copied outputs with memcpy calls) measured 1.01 ms; the lane-vector helpers keep
 *   them in registers.
 * - Backward dw: term-major.  Per output row, blocks of 8 window terms accumulate over
 *   the row's pixels in registers, then join the chunk's padded dw; the image is first
 *   copied with its padding as zeros.  Pixel-major (dw rows loaded, FMA'd, stored per
 *   pixel and term) measured 1.1-1.6 ms for conv1; with its accumulators 16-byte
 *   aligned (vectors split over cache lines) 2.6 ms; dz spread to lanes by scalar
 *   stores read back as a vector (a missed store forwarding) cost 40% more.
 * - Determinism: a forward output starts from its bias and adds its window terms in
 *   (i, j, c) order, whatever the thread or its block (a pixel computed twice by the
 *   moved-back last block gets the same value).  Backward keeps the GEMM path's chunks
 *   (from N only); each chunk's sums run in pixel order, and the chunks are added in
 *   order.  Results differ from the GEMM path's by rounding only (other orders, FMA).
 * - Max pooling forward (pool_tmpl.h): the window's cells outer, the C channels inner
 *   (C independent chains), the compare-and-update as bit selects (fnn_pool_select:
 *   GCC turned `take ? v : m` into a branch, which mispredicts about once a window on
 *   real data).  Channel-outer with selects made one long chain per channel, no
 *   faster.  (An earlier try of selects counted more instructions, 16.3M -> 19.2M, and
 *   was dropped on that count; by time the selects win.)  A whole 2x2 window (LeNet's)
 *   is a tree: cells (0 vs 1) and (2 vs 3) independent, then the later pair only when
 *   strictly greater (or a NaN over a number), the same first maximum, each channel's
 *   values in registers and written once: 0.23 -> 0.14 ms for 28x28x6.
 * - Max pooling backward with stride == pool size (windows tile the image: each cell in
 *   at most one window): dx zeroed, then each dy stored (not added) to its argmax cell
 *   through a table of window offsets, no division by KW per value; the index check
 *   skips the division for windows wholly inside the image (one unsigned compare).
 *   Writing every covered cell once (dy or 0 by a select) without the zeroing measured
 *   0.52 ms against 0.34 (4 unvectorised writes per dy at C = 6); by a `? :` that GCC
 *   made a branch, 1.3 ms.
 *
 * Measured: thread CPU time per call, 1 thread, float32, batch 64, best of 5 samples in
 * each of 3 runs (`python benchmarks/profile_conv.py --model lenet`), AMD EPYC family 26
 * model 2 (Zen 5, AVX-512 kernel), on a shared 2-core machine (load 2-5):
 *
 *                                   before    after
 *   conv1 28x28x1->6 5x5 fwd        0.947    0.349   direct
 *   conv1 bwd (no dx)               0.985    0.467   direct dw, db
 *   pool 28x28x6 fwd                1.145    0.142   selects, the 2x2 tree
 *   pool 28x28x6 bwd                0.327    0.097   tiled table store
 *   conv2 14x14x6->16 5x5 fwd       0.517    0.283   direct (F = 16: every lane used)
 *   conv2 bwd (with dx)             0.730    0.697   direct dw, GEMM dx (0.49 -> 0.42 in
 *                                                    a 50-call loop, best of 3)
 *   pool 10x10x16 fwd / bwd         0.337 / 0.117    0.026 / 0.027
 *   sum of the eight                5.105    2.088
 *
 *   The whole training step (Sequential.fit over 16 batches of 64, Adam, 1 thread,
 *   thread CPU per step, best of 7, three runs alternating with main): 5.36 ms before,
 *   2.53 ms after (2.1x).
 * - Not done: conv2's dx through the transposed direct forward fills only C = 6 of 16
 *   lanes (0.78 ms, slower than the GEMM's dx); two pixels per vector, or F-major dx,
 *   would fix it.  Max pooling for C < 16 is not vectorised (a 2x2-specialised or
 *   pixels-in-lanes kernel is next there).  In the whole step the rest is the dense
 *   layers, Adam and per-layer Python (~18% of the samples in libpython).
 *
 * The GEMM is linked into this extension as its own copy (setup.py), so _gemm's test
 * hooks (select_table, select_kernel) do not reach it; it picks its kernel and table at
 * import the same way (fnn_gemm_init, called by _conv.pyx).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../activations.h"
#include "../gemm/gemm.h"
#include "../gemm/ukernel.h"
#include "conv.h"
#include "direct.h"

#ifndef FNN_HAVE_AVX2_BUILD
#define FNN_HAVE_AVX2_BUILD 0
#endif
#ifndef FNN_HAVE_AVX512_BUILD
#define FNN_HAVE_AVX512_BUILD 0
#endif

/* Bytes of one thread's backward patch tile (a dcols tile of the same size goes with
 * it).  The tile's rows are the k of the weight-gradient GEMM and the m of the input
 * gradient's, so short tiles pay C's load and store for little work: on a Zen 3 (one
 * thread, best of 3 runs alternating builds, VGG block at batch 64) 64 KiB gave 105 ms
 * for the four backward convolutions, 256 KiB 95 ms (conv4 38.8 -> 33.4 ms); 128 KiB
 * was slower and 512 KiB within the noise of 256. */
#define FNN_CONV_TILE_BYTES ((size_t)262144)
/* The most backward chunks: enough to balance 16 threads, few enough that the partial
 * kernels stay small. */
#define FNN_CONV_MAX_CHUNKS 16
/* Below this many flops (or pool cell reads) a call stays on one thread: a parallel
 * region costs a few microseconds. */
#define FNN_CONV_SERIAL_WORK 4.0e5

/* Rows of a patch tile for patches of k values: ~FNN_CONV_TILE_BYTES, a multiple of 8,
 * between 16 and 512. */
static ptrdiff_t fnn_conv_tile_rows(ptrdiff_t k, size_t elem)
{
    ptrdiff_t t = (ptrdiff_t)(FNN_CONV_TILE_BYTES / (elem * (size_t)(k > 0 ? k : 1)));
    t = t / 8 * 8;
    return t < 16 ? 16 : t > 512 ? 512 : t;
}

/* Output pixels per GEMM of the forward: the GEMM's MC, a whole number of MR-row
 * panels (so only the last tile ends in a zero-padded panel) and small enough that
 * the GEMM reads the kernel matrix in place; fewer when that leaves less than four
 * tiles per thread.  Forward results do not depend on it (fnn_conv2d_forward). */
static ptrdiff_t fnn_conv_forward_tile(fnn_dtype dtype, ptrdiff_t npix, int nthreads)
{
    int mr = 1, nr, kc, mc = 1, nc;
    ptrdiff_t t, per;
    if (fnn_gemm_block_sizes(dtype, &mr, &nr, &kc, &mc, &nc) != FNN_OK || mr < 1 || mc < mr)
        return 256;
    t = mc;
    if (nthreads > 1) {
        per = (npix + 4 * (ptrdiff_t)nthreads - 1) / (4 * (ptrdiff_t)nthreads);
        per = (per + mr - 1) / mr * mr;
        if (per < t)
            t = per;
    }
    return t;
}

/* Backward chunks for a batch of n images (n >= 1 when there are pixels). */
static ptrdiff_t fnn_conv_chunks(ptrdiff_t n)
{
    return n < FNN_CONV_MAX_CHUNKS ? (n > 0 ? n : 1) : FNN_CONV_MAX_CHUNKS;
}

/* Threads for `work` flops split into `parts` independent pieces. */
static int fnn_conv_threads(double work, ptrdiff_t parts, int nthreads)
{
    if (nthreads <= 1 || work < FNN_CONV_SERIAL_WORK || parts <= 1)
        return 1;
    return parts < (ptrdiff_t)nthreads ? (int)parts : nthreads;
}

static int fnn_conv_thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Copies n bytes (a multiple of 4: whole float32 or float64 values) between buffers
 * that do not overlap.  im2col's runs are short (LeNet's conv1 copies 5 floats per
 * kernel row): a loop there is turned into a libc memcpy call by gcc, whose call and
 * dispatch cost more than the copy (11.9M of conv1's 33.0M instructions were in
 * __memcpy_avx_unaligned_erms).  Fixed-size memcpys compile to one or two unaligned
 * vector moves; the second may overlap the first, which rewrites the same values. */
static inline void fnn_conv_copy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    size_t q;
    if (n >= 256) { /* long runs (VGG's 3x64 values): libc's copy is the fast one */
        memcpy(d, s, n);
    } else if (n >= 32) {
        for (q = 0; q + 32 <= n; q += 32)
            memcpy(d + q, s + q, 32);
        if (q < n)
            memcpy(d + n - 32, s + n - 32, 32);
    } else if (n >= 16) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
    }
}

/* Zeros n bytes (a multiple of 4), short runs inline as fnn_conv_copy. */
static inline void fnn_conv_zero(void *dst, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    size_t q;
    if (n >= 256) {
        memset(d, 0, n);
    } else if (n >= 32) {
        for (q = 0; q + 32 <= n; q += 32)
            memset(d + q, 0, 32);
        if (q < n)
            memset(d + n - 32, 0, 32);
    } else if (n >= 16) {
        memset(d, 0, 16);
        memset(d + n - 16, 0, 16);
    } else if (n >= 8) {
        memset(d, 0, 8);
        memset(d + n - 8, 0, 8);
    } else if (n >= 4) {
        memset(d, 0, 4);
    }
}

/* rows copies of n bytes (fnn_conv_copy) from src, src + sstride, ... to dst, dst +
 * dstride, ... (strides in bytes): the size class is chosen once for all the rows, so a
 * 5-float run costs two vector moves and the loop, not a cascade of size tests. */
static void fnn_conv_copy_rows(void *restrict dst, ptrdiff_t dstride,
                               const void *restrict src, ptrdiff_t sstride, ptrdiff_t rows,
                               size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    ptrdiff_t r;
    if (n >= 32) {
        for (r = 0; r < rows; ++r, d += dstride, s += sstride)
            fnn_conv_copy(d, s, n);
    } else if (n >= 16) {
        for (r = 0; r < rows; ++r, d += dstride, s += sstride) {
            memcpy(d, s, 16);
            memcpy(d + n - 16, s + n - 16, 16);
        }
    } else if (n >= 8) {
        for (r = 0; r < rows; ++r, d += dstride, s += sstride) {
            memcpy(d, s, 8);
            memcpy(d + n - 8, s + n - 8, 8);
        }
    } else if (n >= 4) {
        for (r = 0; r < rows; ++r, d += dstride, s += sstride)
            memcpy(d, s, 4);
    }
}

/* A 1x1 kernel with stride 1 and no padding: the patch of a pixel is its C values. */
static int fnn_conv_is_pointwise(const fnn_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pad_top == 0
           && g->pad_left == 0 && g->oh == g->h && g->ow == g->w;
}

/* a where mask is all ones, b where it is zero, on the bits: max pooling's select.  GCC
 * turned `take ? v : m` on floats into a compare and branch, which mispredicts about
 * once a window on real data; integer bit operations stay branch-free. */
static inline float fnn_pool_select_f32(uint32_t mask, float a, float b)
{
    uint32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    ia = (ia & mask) | (ib & ~mask);
    memcpy(&a, &ia, sizeof a);
    return a;
}

static inline double fnn_pool_select_f64(uint64_t mask, double a, double b)
{
    uint64_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    ia = (ia & mask) | (ib & ~mask);
    memcpy(&a, &ia, sizeof a);
    return a;
}

/* The real cells of one pooling window: the window starts at input cell (ih0, iw0) and
 * its rows i_lo..i_hi-1, columns j_lo..j_hi-1 lie inside the image. */
typedef struct {
    ptrdiff_t ih0, iw0, i_lo, i_hi, j_lo, j_hi;
} fnn_window;

static inline void fnn_pool_window(const fnn_conv_geom *g, ptrdiff_t oh, ptrdiff_t ow,
                                   fnn_window *win)
{
    win->ih0 = oh * g->sh - g->pad_top;
    win->iw0 = ow * g->sw - g->pad_left;
    win->i_lo = win->ih0 < 0 ? -win->ih0 : 0;
    win->i_hi = g->h - win->ih0 < g->kh ? g->h - win->ih0 : g->kh;
    win->j_lo = win->iw0 < 0 ? -win->iw0 : 0;
    win->j_hi = g->w - win->iw0 < g->kw ? g->w - win->iw0 : g->kw;
}

/* The direct convolution's portable copy (direct_tmpl.h on direct_vec_portable.h's
 * lane vectors); the SIMD copies are direct_avx2.c and direct_avx512.c. */
#include "direct_vec_portable.h"
#define FNN_DIRECT_SUFFIX(name) FNN_DIRECT_PASTE(name, _portable)
#define FNN_TEMPLATE "conv/direct_tmpl.h"
#include "../fnn_instantiate.h"
#undef FNN_DIRECT_SUFFIX

/* Which copy of the direct convolution runs: the one matching the GEMM's kernel, so
 * FASTNN_DISABLE_SIMD / FASTNN_GEMM_KERNEL choose for both and the CPU checks are the
 * GEMM's.  0 portable, 1 AVX2 + FMA, 2 AVX-512F. */
static int fnn_direct_isa(void)
{
    const char *k = fnn_gemm_kernel_name();
#if FNN_HAVE_AVX512_BUILD
    if (strcmp(k, "avx512") == 0)
        return 2;
#endif
#if FNN_HAVE_AVX2_BUILD
    if (strcmp(k, "avx2-fma") == 0)
        return 1;
#endif
    (void)k;
    return 0;
}

/* The direct path's selection rule (the design block above says why):
 * - forward: an output channel vector that fits FNN_DIRECT_LANES (F <= 16), C <= 16 (a
 *   window term is one vector FMA, however short the GEMM's inner dimension would be),
 *   no dilation;
 * - backward: the same shapes; dw and db direct; dx for C <= 4 as the direct forward of
 *   dz by the transposed kernel (stride 1, fnn_conv_direct_transposed_ok) or else
 *   scattered by scalar dot products, for C > 4 as the GEMM path's dz w^T + col2im (the
 *   transposed forward fills only C of the 16 lanes: LeNet's conv2, C = 6, took 0.78 ms
 *   that way against the GEMM path's 0.73). */
static int fnn_conv_direct_ok(const fnn_conv_geom *g, int backward)
{
    (void)backward;
    return g->c <= FNN_DIRECT_MAX_C_FWD && g->f <= FNN_DIRECT_LANES && g->dh == 1
           && g->dw == 1;
}

/* dx as a stride-1 direct forward of dz: needs stride 1 and pads no wider than the
 * kernel minus one (the transposed convolution's pads KH-1-top, KW-1-left >= 0). */
static int fnn_conv_direct_transposed_ok(const fnn_conv_geom *g)
{
    return g->sh == 1 && g->sw == 1 && g->pad_top <= g->kh - 1 && g->pad_left <= g->kw - 1
           && g->c <= FNN_DIRECT_LANES;
}

static int fnn_conv_direct_backward_ok(const fnn_conv_geom *g, int has_dx)
{
    if (!fnn_conv_direct_ok(g, 1))
        return 0;
    (void)has_dx; /* every dx has a route (conv_tmpl.h's fnn_conv2d_backward_direct) */
    return 1;
}

#define FNN_TEMPLATE "conv/conv_tmpl.h"
#include "../fnn_instantiate.h"

#define FNN_TEMPLATE "conv/pool_tmpl.h"
#include "../fnn_instantiate.h"

/* The dtype-generic entries (fnn_dispatch.h). */
fnn_status fnn_conv2d_forward(fnn_dtype dtype, const fnn_conv_geom *g, const void *x,
                              const void *w, const void *b, void *y, int act, double alpha,
                              int nthreads)
{
    FNN_DISPATCH(dtype, fnn_conv2d_forward, (g, x, w, b, y, act, alpha, nthreads));
}

fnn_status fnn_conv2d_backward(fnn_dtype dtype, const fnn_conv_geom *g, const void *x,
                               const void *w, const void *y, const void *dy, int act,
                               double alpha, void *dx, void *dw, void *db, int nthreads)
{
    FNN_DISPATCH(dtype, fnn_conv2d_backward,
                 (g, x, w, y, dy, act, alpha, dx, dw, db, nthreads));
}

fnn_status fnn_pool2d_forward(fnn_dtype dtype, const fnn_conv_geom *g, int mode,
                              const void *x, void *y, int *index, int nthreads)
{
    FNN_DISPATCH_VOID(dtype, fnn_pool2d_forward, (g, mode, x, y, index, nthreads));
}

fnn_status fnn_pool2d_backward(fnn_dtype dtype, const fnn_conv_geom *g, int mode,
                               const void *dy, const int *index, void *dx, int nthreads)
{
    FNN_DISPATCH(dtype, fnn_pool2d_backward, (g, mode, dy, index, dx, nthreads));
}
