/* Convolution kernels, written once for both dtypes: conv.c includes this file through
 * fnn_instantiate.h with FNN_T (float / double) and FNN_F(name) (name_f32 / name_f64).
 * The design and its measurements are the block at the top of conv.c.
 *
 * Pixels are numbered flat over (N, OH, OW), so that a tile of output pixels may run
 * across images: small images (a 10x10 LeNet map) still fill a tile.
 */

/* The kernel row at input row xrow for one pixel whose window starts at column iw0:
 * KW*C values into dst, zeros for the columns outside the image.  Without dilation
 * that is three runs: zeros left of the image, one contiguous run of C*(columns
 * inside) inputs, zeros right of it. */
static inline void FNN_F(fnn_im2col_row)(const fnn_conv_geom *g, const FNN_T *xrow,
                                         ptrdiff_t iw0, FNN_T *restrict dst)
{
    const ptrdiff_t c = g->c, kwc = g->kw * c;
    const size_t es = sizeof(FNN_T);
    ptrdiff_t j;
    if (g->dw == 1) {
        /* columns jlo..jhi-1 of the kernel row lie inside the image */
        ptrdiff_t jlo = iw0 < 0 ? -iw0 : 0;
        ptrdiff_t jhi = g->w - iw0 < g->kw ? g->w - iw0 : g->kw;
        if (jhi < 0) /* the whole row right of the image (a large pad) */
            jhi = 0;
        if (jlo > jhi) /* ... or left of it */
            jlo = jhi;
        fnn_conv_zero(dst, (size_t)(jlo * c) * es);
        fnn_conv_copy(dst + jlo * c, xrow + (iw0 + jlo) * c, (size_t)((jhi - jlo) * c) * es);
        fnn_conv_zero(dst + jhi * c, (size_t)(kwc - jhi * c) * es);
        return;
    }
    for (j = 0; j < g->kw; ++j) {
        const ptrdiff_t iw = iw0 + j * g->dw;
        if (iw < 0 || iw >= g->w)
            fnn_conv_zero(dst + j * c, (size_t)c * es);
        else
            fnn_conv_copy(dst + j * c, xrow + iw * c, (size_t)c * es);
    }
}

/* The patches of output pixels [p0, p1): one row of k = KH*KW*C values per pixel, in
 * the kernel's (KH, KW, C) order, zeros for padded cells.  OUT cols (p1-p0) x k.
 *
 * The pixels are walked one output-row segment at a time (n, oh fixed), so a pixel's
 * position is divided out once per segment, not per pixel, and the segment is cut
 * once into border pixels (a window reaching into the left or right padding, or any
 * pixel with dilation: fnn_im2col_row) and interior ones, whose kernel rows are whole
 * contiguous runs of KW*C inputs copied by fnn_conv_copy_rows. */
static void FNN_F(fnn_im2col)(const fnn_conv_geom *g, const FNN_T *x, ptrdiff_t p0,
                              ptrdiff_t p1, FNN_T *restrict cols)
{
    const ptrdiff_t c = g->c, kwc = g->kw * c, k = g->kh * kwc, ohw = g->oh * g->ow;
    const size_t es = sizeof(FNN_T);
    /* interior output columns [ow_lo, ow_hi): iw0 >= 0 and iw0 + KW <= W */
    const ptrdiff_t ow_lo = (g->pad_left + g->sw - 1) / g->sw;
    const ptrdiff_t ow_hi = g->dw != 1 || g->w + g->pad_left - g->kw < 0
                                ? ow_lo
                                : (g->w + g->pad_left - g->kw) / g->sw + 1;
    ptrdiff_t p = p0, i, q;
    while (p < p1) {
        const ptrdiff_t n = p / ohw, r = p - n * ohw, oh = r / g->ow, ow0 = r - oh * g->ow;
        const ptrdiff_t count = p1 - p < g->ow - ow0 ? p1 - p : g->ow - ow0;
        const ptrdiff_t ih0 = oh * g->sh - g->pad_top;
        const FNN_T *xn = x + n * g->h * g->w * c;
        /* this segment's interior pixels: [q_lo, q_hi) */
        ptrdiff_t q_lo = ow_lo - ow0, q_hi = ow_hi - ow0;
        q_lo = q_lo < 0 ? 0 : q_lo > count ? count : q_lo;
        q_hi = q_hi < q_lo ? q_lo : q_hi > count ? count : q_hi;
        for (i = 0; i < g->kh; ++i) {
            const ptrdiff_t ih = ih0 + i * g->dh;
            FNN_T *dst = cols + i * kwc;
            const FNN_T *xrow;
            if (ih < 0 || ih >= g->h) {
                for (q = 0; q < count; ++q, dst += k)
                    fnn_conv_zero(dst, (size_t)kwc * es);
                continue;
            }
            xrow = xn + ih * g->w * c;
            for (q = 0; q < q_lo; ++q)
                FNN_F(fnn_im2col_row)(g, xrow, (ow0 + q) * g->sw - g->pad_left, dst + q * k);
            if (q_hi > q_lo)
                fnn_conv_copy_rows(dst + q_lo * k, k * (ptrdiff_t)es,
                                   xrow + ((ow0 + q_lo) * g->sw - g->pad_left) * c,
                                   g->sw * c * (ptrdiff_t)es, q_hi - q_lo, (size_t)kwc * es);
            for (q = q_hi; q < count; ++q)
                FNN_F(fnn_im2col_row)(g, xrow, (ow0 + q) * g->sw - g->pad_left, dst + q * k);
        }
        p += count;
        cols += count * k;
    }
}

/* The patch matrix of output pixels [pix0, pix0 + m) as a GEMM's virtual A (gemm.h):
 * fnn_im2col_pack writes its values straight into the GEMM's packed panels, so the
 * forward needs neither a patch tile nor the GEMM's pass packing it. */
typedef struct {
    const fnn_conv_geom *g;
    const FNN_T *x;
    ptrdiff_t pix0;
} FNN_F(fnn_im2col_ctx);

/* Values [off, off + len) of one pixel's kernel row at input row xrow, window starting
 * at column iw0, into dst: copied where the column lies inside the image, zero outside
 * (fnn_im2col_row's values, for any part of the row). */
static void FNN_F(fnn_im2col_row_part)(const fnn_conv_geom *g, const FNN_T *xrow,
                                       ptrdiff_t iw0, ptrdiff_t off, ptrdiff_t len,
                                       FNN_T *restrict dst)
{
    const ptrdiff_t c = g->c;
    const size_t es = sizeof(FNN_T);
    ptrdiff_t t = 0;
    if (g->dw == 1) {
        /* The columns inside the image are one contiguous run of inputs: values
         * [in_lo, in_hi) of the kernel row (as in fnn_im2col_row). */
        const ptrdiff_t jlo = iw0 < 0 ? -iw0 : 0;
        const ptrdiff_t jhi = g->w - iw0 < g->kw ? g->w - iw0 : g->kw;
        const ptrdiff_t in_lo = jlo * c > off ? jlo * c : off;
        const ptrdiff_t in_hi = jhi * c < off + len ? jhi * c : off + len;
        if (in_hi <= in_lo) {
            fnn_conv_zero(dst, (size_t)len * es);
            return;
        }
        fnn_conv_zero(dst, (size_t)(in_lo - off) * es);
        fnn_conv_copy(dst + (in_lo - off), xrow + iw0 * c + in_lo, (size_t)(in_hi - in_lo) * es);
        fnn_conv_zero(dst + (in_hi - off), (size_t)(off + len - in_hi) * es);
        return;
    }
    while (t < len) {
        const ptrdiff_t j = (off + t) / c, ch = off + t - j * c, iw = iw0 + j * g->dw;
        const ptrdiff_t run = c - ch < len - t ? c - ch : len - t;
        if (iw < 0 || iw >= g->w)
            fnn_conv_zero(dst + t, (size_t)run * es);
        else
            fnn_conv_copy(dst + t, xrow + iw * c + ch, (size_t)run * es);
        t += run;
    }
}

/* Patch values handled per transposing copy: what a line that is not a pointer into x
 * is gathered into, on the stack.  Patches up to this long (3x3x3 = 27, 5x5x6 = 150,
 * 7x7x3 = 147) are built whole per panel by fnn_im2col: copied kernel row by kernel
 * row, rows of 9 values cost more in setup than in moves (VGG's first conv, 3x3x3,
 * counted 74M instructions against 50M for im2col then packing; 50M this way). */
#define FNN_IM2COL_CHUNK 256

/* The packer (gemm.h's contract) of the patch matrix.  Short patches: a few panels'
 * patches are built whole into a stack buffer, whose rows are the lines.  Long ones:
 * the panel's mr pixels are placed once, then its k range is walked in chunks within
 * one kernel row each, where a pixel's line is a pointer into x when it is interior
 * (its kernel row is KW*C contiguous inputs), a run of zeros when its row lies in the
 * padding or it is past the tile, else its values gathered into the buffer.
 * fnn_pack_lines transposes the lines into the panel. */
static void FNN_F(fnn_im2col_pack)(const void *ctx_, ptrdiff_t i0, ptrdiff_t p0,
                                   ptrdiff_t mc, ptrdiff_t kc, int mr, FNN_T *dst)
{
    static const FNN_T zeros[FNN_IM2COL_CHUNK];
    const FNN_F(fnn_im2col_ctx) *ctx = (const FNN_F(fnn_im2col_ctx) *)ctx_;
    const fnn_conv_geom *g = ctx->g;
    const ptrdiff_t c = g->c, kwc = g->kw * c, k = g->kh * kwc, ohw = g->oh * g->ow;
    const ptrdiff_t hwc = g->h * g->w * c;
    FNN_T part[FNN_GEMM_MAX_MR * FNN_IM2COL_CHUNK];
    const FNN_T *lines[FNN_GEMM_MAX_MR];
    const FNN_T *xn[FNN_GEMM_MAX_MR];
    ptrdiff_t ih0[FNN_GEMM_MAX_MR], iw0[FNN_GEMM_MAX_MR];
    int interior[FNN_GEMM_MAX_MR];
    ptrdiff_t q, o, len;
    int i;
    if (k <= FNN_IM2COL_CHUNK) {
        /* as many whole panels' patches per fnn_im2col call as the buffer holds */
        const ptrdiff_t batch = FNN_IM2COL_CHUNK / k * mr;
        ptrdiff_t b0, r;
        for (b0 = 0; b0 < mc; b0 += batch) {
            const ptrdiff_t rows = mc - b0 < batch ? mc - b0 : batch;
            const ptrdiff_t padded = (rows + mr - 1) / mr * mr;
            FNN_F(fnn_im2col)(g, ctx->x, ctx->pix0 + i0 + b0, ctx->pix0 + i0 + b0 + rows, part);
            fnn_conv_zero(part + rows * k, (size_t)((padded - rows) * k) * sizeof(FNN_T));
            for (r = 0; r < rows; r += mr, dst += kc * mr)
                FNN_F(fnn_pack_transposed)(kc, part + r * k + p0, k, mr, dst);
        }
        return;
    }
    for (q = 0; q < mc; q += mr, dst += kc * mr) {
        const int valid = (int)(mc - q < mr ? mc - q : mr);
        const ptrdiff_t pix = ctx->pix0 + i0 + q;
        ptrdiff_t n = pix / ohw, oh = (pix - n * ohw) / g->ow, ow = pix - n * ohw - oh * g->ow;
        for (i = 0; i < valid; ++i) {
            xn[i] = ctx->x + n * hwc;
            ih0[i] = oh * g->sh - g->pad_top;
            iw0[i] = ow * g->sw - g->pad_left;
            interior[i] = g->dw == 1 && iw0[i] >= 0 && iw0[i] + g->kw <= g->w;
            if (++ow == g->ow) {
                ow = 0;
                if (++oh == g->oh) {
                    oh = 0;
                    ++n;
                }
            }
        }
        for (o = p0; o < p0 + kc; o += len) {
            const ptrdiff_t kr = o / kwc, off = o - kr * kwc;
            const ptrdiff_t end = (kr + 1) * kwc < p0 + kc ? (kr + 1) * kwc : p0 + kc;
            len = end - o < FNN_IM2COL_CHUNK ? end - o : FNN_IM2COL_CHUNK;
            for (i = 0; i < mr; ++i) {
                const ptrdiff_t ih = i < valid ? ih0[i] + kr * g->dh : -1;
                if (ih < 0 || ih >= g->h) {
                    lines[i] = zeros;
                } else if (interior[i]) {
                    lines[i] = xn[i] + (ih * g->w + iw0[i]) * c + off;
                } else {
                    FNN_F(fnn_im2col_row_part)(g, xn[i] + ih * g->w * c, iw0[i], off, len,
                                               part + i * FNN_IM2COL_CHUNK);
                    lines[i] = part + i * FNN_IM2COL_CHUNK;
                }
            }
            FNN_F(fnn_pack_lines)(len, lines, mr, dst + (o - p0) * mr);
        }
    }
}

/* The transpose of fnn_im2col: adds each row of cols (pixels [p0, p1)) back onto the
 * input cells it was read from, padded cells dropped.  IN cols; IN/OUT dx. */
static void FNN_F(fnn_col2im_add)(const fnn_conv_geom *g, const FNN_T *cols, ptrdiff_t p0,
                                  ptrdiff_t p1, FNN_T *dx)
{
    const ptrdiff_t c = g->c, kwc = g->kw * c, k = g->kh * kwc, ohw = g->oh * g->ow;
    ptrdiff_t p, i, j, q;
    for (p = p0; p < p1; ++p, cols += k) {
        const ptrdiff_t n = p / ohw, r = p - n * ohw, oh = r / g->ow, ow = r - oh * g->ow;
        const ptrdiff_t ih0 = oh * g->sh - g->pad_top, iw0 = ow * g->sw - g->pad_left;
        FNN_T *dxn = dx + n * g->h * g->w * c;
        for (i = 0; i < g->kh; ++i) {
            const ptrdiff_t ih = ih0 + i * g->dh;
            const FNN_T *src = cols + i * kwc;
            FNN_T *dxrow;
            if (ih < 0 || ih >= g->h)
                continue;
            dxrow = dxn + ih * g->w * c;
            if (g->dw == 1 && iw0 >= 0 && iw0 + g->kw <= g->w) {
                FNN_T *dst = dxrow + iw0 * c;
                for (q = 0; q < kwc; ++q)
                    dst[q] += src[q];
                continue;
            }
            for (j = 0; j < g->kw; ++j, src += c) {
                const ptrdiff_t iw = iw0 + j * g->dw;
                if (iw >= 0 && iw < g->w) {
                    FNN_T *dst = dxrow + iw * c;
                    for (q = 0; q < c; ++q)
                        dst[q] += src[q];
                }
            }
        }
    }
}

/* ---- The direct path (C <= 4, F <= 16, no dilation; selection rule in conv.c). ---- */

/* The kernel (K x F) as K rows of FNN_DIRECT_LANES values, zeros past F, then the bias
 * the same way (zeros without one).  OUT wpad[(K + 1) * LANES]. */
static void FNN_F(fnn_direct_pack)(const fnn_conv_geom *g, const FNN_T *w, const FNN_T *b,
                                   FNN_T *wpad)
{
    const ptrdiff_t k = g->kh * g->kw * g->c, f = g->f;
    ptrdiff_t r, l;
    for (r = 0; r <= k; ++r)
        for (l = 0; l < FNN_DIRECT_LANES; ++l)
            wpad[r * FNN_DIRECT_LANES + l] =
                l >= f ? 0 : r < k ? w[r * f + l] : b ? b[l] : 0;
}

static void FNN_F(fnn_direct_row)(int isa, const fnn_conv_geom *g, const FNN_T *x,
                                  const FNN_T *wpad, const FNN_T *bpad, ptrdiff_t r,
                                  FNN_T *y_row, FNN_T *band)
{
#if FNN_HAVE_AVX512_BUILD
    if (isa == 2) {
        FNN_DIRECT_PASTE(FNN_F(fnn_direct_forward_row), _avx512)(g, x, wpad, bpad, r, y_row, band);
        return;
    }
#endif
#if FNN_HAVE_AVX2_BUILD
    if (isa == 1) {
        FNN_DIRECT_PASTE(FNN_F(fnn_direct_forward_row), _avx2)(g, x, wpad, bpad, r, y_row, band);
        return;
    }
#endif
    (void)isa;
    FNN_DIRECT_PASTE(FNN_F(fnn_direct_forward_row), _portable)(g, x, wpad, bpad, r, y_row, band);
}

static void FNN_F(fnn_direct_images)(int isa, const fnn_conv_geom *g, const FNN_T *x,
                                     const FNN_T *wpad, const FNN_T *dz, ptrdiff_t img0,
                                     ptrdiff_t img1, FNN_T *dx, FNN_T *dwacc, FNN_T *dbacc,
                                     FNN_T *xpad, FNN_T *dzpad)
{
#if FNN_HAVE_AVX512_BUILD
    if (isa == 2) {
        FNN_DIRECT_PASTE(FNN_F(fnn_direct_backward_images), _avx512)(
            g, x, wpad, dz, img0, img1, dx, dwacc, dbacc, xpad, dzpad);
        return;
    }
#endif
#if FNN_HAVE_AVX2_BUILD
    if (isa == 1) {
        FNN_DIRECT_PASTE(FNN_F(fnn_direct_backward_images), _avx2)(
            g, x, wpad, dz, img0, img1, dx, dwacc, dbacc, xpad, dzpad);
        return;
    }
#endif
    (void)isa;
    FNN_DIRECT_PASTE(FNN_F(fnn_direct_backward_images), _portable)(
        g, x, wpad, dz, img0, img1, dx, dwacc, dbacc, xpad, dzpad);
}

/* Forward: threads split the output rows (n, oh); each row is convolved, then its
 * activation applied in place while it is in cache (the kernel used by the GEMM's
 * epilogue).  Every output has one summation order (direct_tmpl.h), so the result does
 * not depend on the thread count. */
static fnn_status FNN_F(fnn_conv2d_forward_direct)(const fnn_conv_geom *g, const FNN_T *x,
                                                   const FNN_T *w, const FNN_T *b, FNN_T *y,
                                                   int act, FNN_T alpha, int nthreads)
{
    const ptrdiff_t k = g->kh * g->kw * g->c, rows = g->n * g->oh, owf = g->ow * g->f;
    const int isa = fnn_direct_isa();
    const int nt = fnn_conv_threads(2.0 * (double)rows * (double)owf * (double)k, rows,
                                    nthreads);
    const ptrdiff_t band_n = FNN_DIRECT_BAND_SIZE(g);
    void *block = malloc(((size_t)(k + 1) * FNN_DIRECT_LANES + (size_t)nt * (size_t)band_n)
                             * sizeof(FNN_T)
                         + 64);
    FNN_T *wpad;
    ptrdiff_t r;
    if (!block)
        return FNN_NO_MEMORY;
    wpad = (FNN_T *)(((uintptr_t)block + 63) & ~(uintptr_t)63); /* whole-line vectors */
    FNN_F(fnn_direct_pack)(g, w, b, wpad);
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (r = 0; r < rows; ++r) {
        FNN_T *band = wpad + (k + 1) * FNN_DIRECT_LANES
                      + (ptrdiff_t)fnn_conv_thread_num() * band_n;
        FNN_F(fnn_direct_row)(isa, g, x, wpad, wpad + k * FNN_DIRECT_LANES, r, y + r * owf,
                              band);
        if (act != FNN_ACT_LINEAR)
            FNN_F(fnn_act_forward_inplace)(act, alpha, y + r * owf, owf);
    }
    free(block);
    return FNN_OK;
}

/* The transposed kernel for dx as a direct forward (stride 1): row (i', j', f) of wt
 * holds w[KH-1-i', KW-1-j', :, f] over the lanes (C <= 16 of them), then a zero bias
 * row.  OUT wt[(KH*KW*F + 1) * LANES]. */
static void FNN_F(fnn_direct_pack_transposed)(const fnn_conv_geom *g, const FNN_T *w,
                                              FNN_T *wt)
{
    const ptrdiff_t c = g->c, f = g->f, k2 = g->kh * g->kw * f;
    ptrdiff_t i, j, fi, q;
    for (q = 0; q < (k2 + 1) * FNN_DIRECT_LANES; ++q)
        wt[q] = 0;
    for (i = 0; i < g->kh; ++i)
        for (j = 0; j < g->kw; ++j)
            for (fi = 0; fi < f; ++fi)
                for (q = 0; q < c; ++q)
                    wt[((i * g->kw + j) * f + fi) * FNN_DIRECT_LANES + q] =
                        w[(((g->kh - 1 - i) * g->kw + (g->kw - 1 - j)) * c + q) * f + fi];
}

/* Backward: the batch in fnn_conv_chunks(N) chunks of whole images as the GEMM path.  A
 * chunk computes its dz = dy * act'(y) in one call, adds its pixels in order into its
 * own padded dw / db accumulators, which are then summed in chunk order (one order
 * whatever the thread count), and writes dx for its images: with stride 1 as the
 * direct forward of dz by the flipped, transposed kernel (F input channels, C <= 16
 * output lanes; fnn_conv_direct_transposed_ok), else by the scalar scatter (C <= 4). */
static fnn_status FNN_F(fnn_conv2d_backward_direct)(const fnn_conv_geom *g, const FNN_T *x,
                                                    const FNN_T *w, const FNN_T *y,
                                                    const FNN_T *dy, int act, FNN_T alpha,
                                                    FNN_T *dx, FNN_T *dw, FNN_T *db,
                                                    int nthreads)
{
    const ptrdiff_t k = g->kh * g->kw * g->c, f = g->f, L = FNN_DIRECT_LANES;
    const ptrdiff_t ohwf = g->oh * g->ow * f, image = g->h * g->w * g->c;
    const ptrdiff_t nchunks = fnn_conv_chunks(g->n);
    const ptrdiff_t most = (g->n + nchunks - 1) / nchunks; /* images in a chunk, at most */
    /* dx's route (conv.c's selection rule): C <= 4 the transposed direct forward or the
     * scalar scatter; C > 4 the GEMM path's dcols = dz w^T tile by tile, then col2im */
    const int transposed = dx != NULL && g->c <= FNN_DIRECT_MAX_C
                           && fnn_conv_direct_transposed_ok(g);
    const int via_gemm = dx != NULL && g->c > FNN_DIRECT_MAX_C;
    const ptrdiff_t tile = fnn_conv_tile_rows(k, sizeof(FNN_T));
    const ptrdiff_t k2 = transposed ? g->kh * g->kw * f : 0;
    /* every piece a whole number of 64-byte lane vectors, from a 64-byte aligned start:
     * the accumulators are loaded and stored once per pixel and window term, and a
     * vector split over two cache lines made the backward 5x slower (2.6 ms against
     * 0.5 ms for conv1, thread CPU, Zen 5) */
    const ptrdiff_t per_chunk = (k + 1) * L; /* dw rows, then db */
    const ptrdiff_t hp = (g->oh - 1) * g->sh + g->kh, wp = (g->ow - 1) * g->sw + g->kw;
    const ptrdiff_t xpad_n = (hp * wp * g->c + L - 1) / L * L; /* one padded image */
    const ptrdiff_t dz_n = act != FNN_ACT_LINEAR ? (most * ohwf + L - 1) / L * L : 0;
    /* dx's band: KH rows of the transposed forward's output width (W) */
    const ptrdiff_t band_n = transposed ? g->kh * ((g->w - 1) + g->kw) * f : 0;
    const ptrdiff_t dcols_n = via_gemm ? tile * k : 0;
    /* dzpad, xpad, dz, band, dcols */
    const ptrdiff_t per_thread = g->ow * L + xpad_n + dz_n + band_n + dcols_n;
    const int isa = fnn_direct_isa();
    const int nt = fnn_conv_threads(2.0 * (double)(g->n * ohwf) * (double)k
                                        * (dx ? 2.0 : 1.0),
                                    nchunks, nthreads);
    FNN_T *scratch = (FNN_T *)malloc(
        ((size_t)(k + 1 + (transposed ? k2 + 1 : 0)) * (size_t)L
         + (size_t)nchunks * (size_t)per_chunk + (size_t)nt * (size_t)per_thread)
            * sizeof(FNN_T)
        + 64);
    FNN_T *wpad, *wt, *accs, *thr;
    fnn_conv_geom gt = *g; /* the transposed forward's geometry, set below */
    ptrdiff_t ci, e, l, cj;
    int failed = 0;
    if (!scratch)
        return FNN_NO_MEMORY;
    wpad = (FNN_T *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    wt = wpad + (k + 1) * L;
    accs = wt + (transposed ? k2 + 1 : 0) * L;
    thr = accs + nchunks * per_chunk;
    FNN_F(fnn_direct_pack)(g, w, NULL, wpad);
    if (transposed) { /* dx = conv(dz, flipped w^T), stride 1, pads KH-1-top, KW-1-left */
        FNN_F(fnn_direct_pack_transposed)(g, w, wt);
        gt.h = g->oh;
        gt.w = g->ow;
        gt.c = f;
        gt.f = g->c;
        gt.oh = g->h;
        gt.ow = g->w;
        gt.pad_top = g->kh - 1 - g->pad_top;
        gt.pad_left = g->kw - 1 - g->pad_left;
    }
    for (e = 0; e < nchunks * per_chunk; ++e)
        accs[e] = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1) reduction(| : failed)
#endif
    for (ci = 0; ci < nchunks; ++ci) {
        FNN_T *dzpad = thr + (ptrdiff_t)fnn_conv_thread_num() * per_thread;
        FNN_T *xpad = dzpad + g->ow * L, *dzbuf = xpad + xpad_n, *band = dzbuf + dz_n;
        FNN_T *dcols = band + band_n;
        FNN_T *acc = accs + ci * per_chunk;
        const ptrdiff_t img0 = g->n * ci / nchunks, img1 = g->n * (ci + 1) / nchunks;
        const FNN_T *dz = dy + img0 * ohwf;
        ptrdiff_t r;
        if (act != FNN_ACT_LINEAR) { /* dz = dy * act'(y) for the chunk's images */
            FNN_F(fnn_act_backward)(act, alpha, dz, y + img0 * ohwf, NULL, dzbuf,
                                    (img1 - img0) * ohwf, 1);
            dz = dzbuf;
        }
        FNN_F(fnn_direct_images)(isa, g, x, wpad, dz, img0, img1,
                                 transposed || via_gemm ? NULL : dx, acc, acc + k * L, xpad,
                                 dzpad);
        if (via_gemm) {
            const ptrdiff_t p_end = img1 * g->oh * g->ow;
            ptrdiff_t p0;
            for (r = img0 * image; r < img1 * image; ++r)
                dx[r] = 0;
            for (p0 = img0 * g->oh * g->ow; p0 < p_end; p0 += tile) {
                const ptrdiff_t rows = p_end - p0 < tile ? p_end - p0 : tile;
                /* dcols = dz @ w^T: (rows x f) @ (f x k), then col2im */
                failed |= FNN_F(fnn_gemm)(rows, k, f, dz + (p0 - img0 * g->oh * g->ow) * f,
                                          f, 1, w, 1, f, dcols, k, 1, 0, NULL,
                                          FNN_ACT_LINEAR, 0, 1) != FNN_OK;
                FNN_F(fnn_col2im_add)(g, dcols, p0, p0 + rows, dx);
            }
        }
        if (transposed) {
            fnn_conv_geom gc = gt; /* this chunk's images (a copy: gt is shared) */
            gc.n = img1 - img0;
            for (r = 0; r < (img1 - img0) * g->h; ++r)
                FNN_F(fnn_direct_row)(isa, &gc, dz, wt, wt + k2 * L, r,
                                      dx + img0 * image + r * g->w * g->c, band);
        }
    }
    /* dw, db = chunk 0 + chunk 1 + ... in chunk order (e = k rows, then the db row) */
    for (e = 0; e <= k; ++e) {
        FNN_T *out = e < k ? dw + e * f : db;
        if (!out)
            continue;
        for (l = 0; l < f; ++l) {
            FNN_T s = accs[e * L + l];
            for (cj = 1; cj < nchunks; ++cj)
                s += accs[cj * per_chunk + e * L + l];
            out[l] = s;
        }
    }
    free(scratch);
    return failed ? FNN_NO_MEMORY : FNN_OK;
}

fnn_status FNN_F(fnn_conv2d_forward)(const fnn_conv_geom *g, const FNN_T *x,
                                     const FNN_T *w, const FNN_T *b, FNN_T *y, int act,
                                     FNN_T alpha, int nthreads)
{
    const ptrdiff_t f = g->f, k = g->kh * g->kw * g->c, npix = g->n * g->oh * g->ow;
    ptrdiff_t tile, ntiles, t;
    int nt, failed = 0;
    if (npix <= 0 || f <= 0)
        return FNN_OK;
    if (fnn_conv_direct_ok(g, 0))
        return FNN_F(fnn_conv2d_forward_direct)(g, x, w, b, y, act, alpha, nthreads);
    if (fnn_conv_is_pointwise(g)) /* x itself is the patch matrix: one threaded GEMM */
        return FNN_F(fnn_gemm)(npix, f, k, x, k, 1, w, f, 1, y, f, 1, 0, b, act, alpha,
                               nthreads);
    tile = fnn_conv_forward_tile(sizeof(FNN_T) == 4 ? FNN_FLOAT32 : FNN_FLOAT64, npix,
                                 nthreads);
    ntiles = (npix + tile - 1) / tile;
    nt = fnn_conv_threads(2.0 * (double)npix * (double)k * (double)f, ntiles, nthreads);
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : failed) if (nt > 1)
#endif
    for (t = 0; t < ntiles; ++t) {
        const ptrdiff_t p0 = t * tile, p1 = p0 + tile < npix ? p0 + tile : npix;
        FNN_F(fnn_im2col_ctx) ctx;
        ctx.g = g; ctx.x = x; ctx.pix0 = p0;
        /* y[p0:p1] = act(patches @ w + b): the patches packed as the GEMM goes, bias and
         * activation in its epilogue; one thread per GEMM, the tiles are the split. */
        failed |= FNN_F(fnn_gemm_packer)(p1 - p0, f, k, FNN_F(fnn_im2col_pack), &ctx, w, f,
                                         1, y + p0 * f, f, 1, 0, b, act, alpha, 1) != FNN_OK;
    }
    return failed ? FNN_NO_MEMORY : FNN_OK;
}

/* The backward of one chunk (images [img0, img1)): its partial dw (k x f) and db (f, or
 * NULL), and the whole of dx for its images (dx NULL: not needed).  The chunk's
 * tiles run in order, so each partial sum has one fixed order.  Scratch: cols and dcols
 * (tile x k; dcols only with dx), dz (tile x f, only for an activation). */
static fnn_status FNN_F(fnn_conv2d_backward_chunk)(
    const fnn_conv_geom *g, const FNN_T *x, const FNN_T *w, const FNN_T *y,
    const FNN_T *dy, int act, FNN_T alpha, ptrdiff_t img0, ptrdiff_t img1, ptrdiff_t tile,
    FNN_T *dx, FNN_T *dw_part, FNN_T *db_part, FNN_T *cols, FNN_T *dcols, FNN_T *dzbuf)
{
    const ptrdiff_t f = g->f, k = g->kh * g->kw * g->c, ohw = g->oh * g->ow;
    const ptrdiff_t end = img1 * ohw;
    ptrdiff_t p0, r, j;
    int first = 1;
    if (dx) {
        const ptrdiff_t image = g->h * g->w * g->c;
        for (r = img0 * image; r < img1 * image; ++r)
            dx[r] = 0;
    }
    if (db_part)
        for (j = 0; j < f; ++j)
            db_part[j] = 0;
    for (p0 = img0 * ohw; p0 < end; p0 += tile, first = 0) {
        const ptrdiff_t rows = end - p0 < tile ? end - p0 : tile;
        const FNN_T *dz = dy + p0 * f;
        if (act != FNN_ACT_LINEAR) { /* dz = dy * act'(y), tile by tile */
            FNN_F(fnn_act_backward)(act, alpha, dz, y + p0 * f, NULL, dzbuf, rows * f, 1);
            dz = dzbuf;
        }
        if (db_part)
            for (r = 0; r < rows; ++r)
                for (j = 0; j < f; ++j)
                    db_part[j] += dz[r * f + j];
        FNN_F(fnn_im2col)(g, x, p0, p0 + rows, cols);
        /* dw (+)= cols^T @ dz: (k x rows) @ (rows x f), cols read through swapped strides */
        if (FNN_F(fnn_gemm)(k, f, rows, cols, 1, k, dz, f, 1, dw_part, f, 1, !first, NULL,
                            FNN_ACT_LINEAR, 0, 1) != FNN_OK)
            return FNN_NO_MEMORY;
        if (dx) { /* dcols = dz @ w^T: (rows x f) @ (f x k), then col2im */
            if (FNN_F(fnn_gemm)(rows, k, f, dz, f, 1, w, 1, f, dcols, k, 1, 0, NULL,
                                FNN_ACT_LINEAR, 0, 1) != FNN_OK)
                return FNN_NO_MEMORY;
            FNN_F(fnn_col2im_add)(g, dcols, p0, p0 + rows, dx);
        }
    }
    return FNN_OK;
}

fnn_status FNN_F(fnn_conv2d_backward)(const fnn_conv_geom *g, const FNN_T *x,
                                      const FNN_T *w, const FNN_T *y, const FNN_T *dy,
                                      int act, FNN_T alpha, FNN_T *dx, FNN_T *dw,
                                      FNN_T *db, int nthreads)
{
    const ptrdiff_t f = g->f, k = g->kh * g->kw * g->c;
    const ptrdiff_t npix = g->n * g->oh * g->ow, kf = k * f;
    const ptrdiff_t nchunks = fnn_conv_chunks(g->n);
    const ptrdiff_t tile = fnn_conv_tile_rows(k, sizeof(FNN_T));
    /* per thread: cols, dcols (with dx), dz (with an activation); per chunk but the
     * first (which writes into dw and db themselves): its partial dw and db */
    const ptrdiff_t per_thread = tile * k * (dx ? 2 : 1) + (act != FNN_ACT_LINEAR ? tile * f : 0);
    const ptrdiff_t per_chunk = kf + (db ? f : 0);
    ptrdiff_t c, i;
    FNN_T *scratch, *parts;
    int nt, failed = 0;
    if (kf <= 0)
        return FNN_OK;
    if (npix <= 0) { /* no pixels: zero gradients */
        for (i = 0; i < kf; ++i)
            dw[i] = 0;
        for (i = 0; db && i < f; ++i)
            db[i] = 0;
        for (i = 0; dx && i < g->n * g->h * g->w * g->c; ++i)
            dx[i] = 0;
        return FNN_OK;
    }
    if (fnn_conv_direct_backward_ok(g, dx != NULL))
        return FNN_F(fnn_conv2d_backward_direct)(g, x, w, y, dy, act, alpha, dx, dw, db,
                                                 nthreads);
    nt = fnn_conv_threads(2.0 * (double)npix * (double)kf * (dx ? 2.0 : 1.0), nchunks,
                          nthreads);
    scratch = (FNN_T *)malloc(((size_t)nt * (size_t)per_thread
                               + (size_t)(nchunks - 1) * (size_t)per_chunk + 1)
                              * sizeof(FNN_T));
    if (!scratch)
        return FNN_NO_MEMORY;
    parts = scratch + (ptrdiff_t)nt * per_thread;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(| : failed)
#endif
    {
        FNN_T *cols = scratch + (ptrdiff_t)fnn_conv_thread_num() * per_thread;
        FNN_T *dcols = dx ? cols + tile * k : NULL;
        FNN_T *dzbuf = cols + tile * k * (dx ? 2 : 1);
        ptrdiff_t ci, e, cj;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (ci = 0; ci < nchunks; ++ci) {
            FNN_T *dw_part = ci == 0 ? dw : parts + (ci - 1) * per_chunk;
            FNN_T *db_part = !db ? NULL : ci == 0 ? db : parts + (ci - 1) * per_chunk + kf;
            failed |= FNN_F(fnn_conv2d_backward_chunk)(
                g, x, w, y, dy, act, alpha, g->n * ci / nchunks, g->n * (ci + 1) / nchunks,
                tile, dx, dw_part, db_part, cols, dcols, dzbuf) != FNN_OK;
        }
        /* dw = part 0 + part 1 + ... in chunk order, element by element (implicit barrier
         * above: every part is complete) */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (e = 0; e < kf; ++e)
            for (cj = 1; cj < nchunks; ++cj)
                dw[e] += parts[(cj - 1) * per_chunk + e];
    }
    for (c = 1; db && c < nchunks; ++c)
        for (i = 0; i < f; ++i)
            db[i] += parts[(c - 1) * per_chunk + kf + i];
    free(scratch);
    return failed ? FNN_NO_MEMORY : FNN_OK;
}
