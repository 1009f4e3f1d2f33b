/* The direct convolution for few channels (F <= 16, C <= 16, no dilation: LeNet's convs),
 * written once for both dtypes and compiled once per instruction set: conv.c includes it
 * for the portable build, direct_avx2.c and direct_avx512.c under -mavx2 -mfma and
 * -mavx512f.  The includer defines FNN_DIRECT_SUFFIX(name) (name with the set's suffix)
 * and, for each dtype DT (f32, f64), a lane vector type fnn_dvec_DT of FNN_DIRECT_LANES
 * values with these helpers, then instantiates this file through fnn_instantiate.h:
 *   fnn_direct_fma_DT(a, b, c)   a * b + c on scalars (fused where the set has FMA)
 *   fnn_dv_load_DT(p)            the LANES values at p (any alignment)
 *   fnn_dv_load_n_DT(p, n)       the first n (1 <= n <= LANES) values at p, zeros past
 *                                them; nothing past p[n-1] is read
 *   fnn_dv_zero_DT()             LANES zeros
 *   fnn_dv_fma_DT(s, w, acc)     acc + s * w, s broadcast (fused likewise)
 *   fnn_dv_add_DT(a, b)          a + b
 *   fnn_dv_store_DT(p, v)        all LANES values to p
 *   fnn_dv_store_n_DT(p, v, n)   the first n (1 <= n <= LANES) values to p, nothing past
 * The accumulators are such vectors (registers), not arrays: GCC vectorised array loops
 * over the lanes but kept the 8 x 16 block accumulators in memory and copied outputs
 * with memcpy calls (conv1 forward 1.01 ms, backward 6.7 ms thread CPU, Zen 5).  The selection rule and the measurements are in the
 * design block of conv.c; direct.h declares what this file defines.
 *
 * Every output channel vector is FNN_DIRECT_LANES wide: the kernel is repacked once per
 * call into wpad (K rows of LANES values, zeros past F), so a window term is whole
 * vector FMAs (one zmm for float32 under AVX-512, two ymm under AVX2, a loop of 16 in
 * the portable build).
 *
 * Summation order (determinism): an output starts from its bias and adds the terms of
 * its window in (i, j, c) order, cells outside the image skipped; the blocked interior
 * path and the clipped border path walk the same order, so an output's value depends on
 * neither its position in a block nor the thread that computes it.
 */

#define FNN_DK(name) FNN_DIRECT_SUFFIX(FNN_F(name))
#define FNN_DV FNN_F(fnn_dvec)

/* Output pixels computed together on the interior: independent accumulator chains to
 * cover the FMA latency (8 chains x 1 FMA each per window term). */
#define FNN_DIRECT_BLOCK 8

/* One output pixel whose window rows [i_lo, i_hi) and columns [j_lo, j_hi) lie inside
 * the image; xw points at the window's cell (0, 0) (it may lie outside the image: only
 * inside cells are read).  OUT out[0:f]. */
static inline void FNN_DK(fnn_direct_pixel)(const fnn_conv_geom *g, const FNN_T *xw,
                                            const FNN_T *wpad, const FNN_T *bpad,
                                            ptrdiff_t i_lo, ptrdiff_t i_hi, ptrdiff_t j_lo,
                                            ptrdiff_t j_hi, FNN_T *restrict out)
{
    const ptrdiff_t c = g->c, wc = g->w * c;
    FNN_DV acc = FNN_F(fnn_dv_load)(bpad);
    ptrdiff_t i, j, q;
    for (i = i_lo; i < i_hi; ++i)
        for (j = j_lo; j < j_hi; ++j)
            for (q = 0; q < c; ++q)
                acc = FNN_F(fnn_dv_fma)(
                    xw[i * wc + j * c + q],
                    FNN_F(fnn_dv_load)(wpad + ((i * g->kw + j) * c + q) * FNN_DIRECT_LANES),
                    acc);
    FNN_F(fnn_dv_store_n)(out, acc, g->f);
}

/* FNN_DIRECT_BLOCK interior pixels of one output row (columns ow .. ow+BLOCK-1, whole
 * windows in the columns; rows [i_lo, i_hi) inside the image).  xw: the first pixel's
 * window cell (0, 0); the next pixel's is sw * c values on.  OUT out[0 : BLOCK*f]. */
static inline void FNN_DK(fnn_direct_block)(const fnn_conv_geom *g, const FNN_T *xw,
                                            const FNN_T *wpad, const FNN_T *bpad,
                                            ptrdiff_t i_lo, ptrdiff_t i_hi,
                                            FNN_T *restrict out)
{
    const ptrdiff_t c = g->c, wc = g->w * c, s = g->sw * c, kwc = g->kw * c, f = g->f;
    FNN_DV a0, a1, a2, a3, a4, a5, a6, a7;
    ptrdiff_t i, t;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = FNN_F(fnn_dv_load)(bpad);
    for (i = i_lo; i < i_hi; ++i) {
        const FNN_T *xr = xw + i * wc;
        const FNN_T *wr = wpad + i * kwc * FNN_DIRECT_LANES;
        /* (j, c) of a kernel row in order: without dilation one contiguous run */
        for (t = 0; t < kwc; ++t) {
            const FNN_DV wv = FNN_F(fnn_dv_load)(wr + t * FNN_DIRECT_LANES);
            a0 = FNN_F(fnn_dv_fma)(xr[t], wv, a0);
            a1 = FNN_F(fnn_dv_fma)(xr[s + t], wv, a1);
            a2 = FNN_F(fnn_dv_fma)(xr[2 * s + t], wv, a2);
            a3 = FNN_F(fnn_dv_fma)(xr[3 * s + t], wv, a3);
            a4 = FNN_F(fnn_dv_fma)(xr[4 * s + t], wv, a4);
            a5 = FNN_F(fnn_dv_fma)(xr[5 * s + t], wv, a5);
            a6 = FNN_F(fnn_dv_fma)(xr[6 * s + t], wv, a6);
            a7 = FNN_F(fnn_dv_fma)(xr[7 * s + t], wv, a7);
        }
    }
    FNN_F(fnn_dv_store_n)(out, a0, f);
    FNN_F(fnn_dv_store_n)(out + f, a1, f);
    FNN_F(fnn_dv_store_n)(out + 2 * f, a2, f);
    FNN_F(fnn_dv_store_n)(out + 3 * f, a3, f);
    FNN_F(fnn_dv_store_n)(out + 4 * f, a4, f);
    FNN_F(fnn_dv_store_n)(out + 5 * f, a5, f);
    FNN_F(fnn_dv_store_n)(out + 6 * f, a6, f);
    FNN_F(fnn_dv_store_n)(out + 7 * f, a7, f);
}
/* Output row r (flat over N x OH) of the forward, without the activation: y_row[OW*f] =
 * conv + bias.  wpad, bpad as in the header comment.  band: scratch of
 * fnn_direct_band_size(g) values.
 *
 * The row's KH input rows are first copied into band with their padding as zeros
 * (KH x WB x C, WB = (OW-1)*sw + KW), so every pixel is an interior one: blocks of 8,
 * the last block moved back to end at OW when OW is not a multiple of 8 (the pixels it
 * computes twice get the same values: same terms, same order).  A clipped pixel alone
 * is one FMA chain, latency-bound: with 'same' padding the 4 border pixels of a conv1
 * row cost more than its 24 interior ones, and dx's transposed convolution (pads KH-1)
 * was 2.7 ms for conv2.  The padding's zeros add exact zeros (x * 0 = +-0), so results
 * are those of skipping the padded cells, but for infinities in w (NaN, as NumPy's
 * zero-padded im2col gives). */
void FNN_DK(fnn_direct_forward_row)(const fnn_conv_geom *g, const FNN_T *x,
                                    const FNN_T *wpad, const FNN_T *bpad, ptrdiff_t r,
                                    FNN_T *y_row, FNN_T *restrict band)
{
    const ptrdiff_t n = r / g->oh, oh = r - n * g->oh, c = g->c, f = g->f;
    const ptrdiff_t ih0 = oh * g->sh - g->pad_top;
    const ptrdiff_t wb = (g->ow - 1) * g->sw + g->kw, wbc = wb * c;
    const FNN_T *xn = x + n * g->h * g->w * c;
    fnn_conv_geom gb = *g; /* the band as the image: KH rows, WB columns, no padding */
    ptrdiff_t i, jlo, jhi, l, ow;
    jlo = g->pad_left < wb ? g->pad_left : wb;          /* band columns [jlo, jhi) are */
    jhi = g->w + g->pad_left < wb ? g->w + g->pad_left : wb; /* image columns */
    if (jhi < jlo)
        jhi = jlo;
    for (i = 0; i < g->kh; ++i) {
        const ptrdiff_t ih = ih0 + i;
        FNN_T *b = band + i * wbc;
        if (ih < 0 || ih >= g->h) {
            for (l = 0; l < wbc; ++l)
                b[l] = 0;
            continue;
        }
        for (l = 0; l < jlo * c; ++l)
            b[l] = 0;
        memcpy(b + jlo * c, xn + (ih * g->w + jlo - g->pad_left) * c,
               (size_t)((jhi - jlo) * c) * sizeof(FNN_T));
        for (l = jhi * c; l < wbc; ++l)
            b[l] = 0;
    }
    gb.w = wb;
    if (g->ow < FNN_DIRECT_BLOCK) {
        for (ow = 0; ow < g->ow; ++ow)
            FNN_DK(fnn_direct_pixel)(&gb, band + ow * g->sw * c, wpad, bpad, 0, g->kh, 0,
                                     g->kw, y_row + ow * f);
        return;
    }
    for (ow = 0;; ow = ow + 2 * FNN_DIRECT_BLOCK <= g->ow ? ow + FNN_DIRECT_BLOCK
                                                          : g->ow - FNN_DIRECT_BLOCK) {
        FNN_DK(fnn_direct_block)(&gb, band + ow * g->sw * c, wpad, bpad, 0, g->kh,
                                 y_row + ow * f);
        if (ow + FNN_DIRECT_BLOCK == g->ow)
            break;
    }
}

/* 8 window terms' kernel-gradient sums over the OW pixels of one output row, added to
 * their dw rows: term m of pixel ow reads xb[ow * s + off[m]] (in the zero-padded image,
 * so every read is a real value or a zero) times the pixel's dz lanes.  The 8 sums stay
 * in registers over the row; row[m] < 0 marks a filler term (dropped). */
static inline void FNN_DK(fnn_direct_dw_terms)(const FNN_T *xb, ptrdiff_t s, ptrdiff_t ow,
                                               const ptrdiff_t *off, const ptrdiff_t *row,
                                               const FNN_T *dzpad, FNN_T *restrict dwacc)
{
    const ptrdiff_t o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4],
                    o5 = off[5], o6 = off[6], o7 = off[7];
    FNN_DV a[8];
    ptrdiff_t p, m;
    a[0] = a[1] = a[2] = a[3] = a[4] = a[5] = a[6] = a[7] = FNN_F(fnn_dv_zero)();
    for (p = 0; p < ow; ++p, xb += s) {
        const FNN_DV dv = FNN_F(fnn_dv_load)(dzpad + p * FNN_DIRECT_LANES);
        a[0] = FNN_F(fnn_dv_fma)(xb[o0], dv, a[0]);
        a[1] = FNN_F(fnn_dv_fma)(xb[o1], dv, a[1]);
        a[2] = FNN_F(fnn_dv_fma)(xb[o2], dv, a[2]);
        a[3] = FNN_F(fnn_dv_fma)(xb[o3], dv, a[3]);
        a[4] = FNN_F(fnn_dv_fma)(xb[o4], dv, a[4]);
        a[5] = FNN_F(fnn_dv_fma)(xb[o5], dv, a[5]);
        a[6] = FNN_F(fnn_dv_fma)(xb[o6], dv, a[6]);
        a[7] = FNN_F(fnn_dv_fma)(xb[o7], dv, a[7]);
    }
    for (m = 0; m < 8; ++m)
        if (row[m] >= 0) {
            FNN_T *d = dwacc + row[m] * FNN_DIRECT_LANES;
            FNN_F(fnn_dv_store)(d, FNN_F(fnn_dv_add)(FNN_F(fnn_dv_load)(d), a[m]));
        }
}

/* The kernel and bias gradients of images [img0, img1) for the direct path, added into
 * dwacc (K rows of LANES) and dbacc (LANES); and, when dx is not NULL, dx of those
 * images by scattering (zeroed here first; the caller's route for strides > 1, where the
 * transposed convolution is not a plain forward).  IN dz: the images' dz = dy * act'(y),
 * image img0 first.  Scratch: xpad (one image with its padding as zeros), dzpad (OW *
 * LANES, 64-byte aligned).
 *
 * The kernel gradient runs term-major: for each output row, blocks of 8 window terms
 * (i, j, c) accumulate over the row's pixels in registers (fnn_direct_dw_terms), then
 * join dwacc.  A pixel-major loop (dwacc rows loaded, FMA'd and stored per pixel and
 * term) measured 1.1-1.6 ms for conv1 (thread CPU, Zen 5), bound by the loads and
 * stores.  Every sum has one order, fixed by the shapes: per row, then rows in order. */
void FNN_DK(fnn_direct_backward_images)(const fnn_conv_geom *g, const FNN_T *x,
                                        const FNN_T *wpad, const FNN_T *dz, ptrdiff_t img0,
                                        ptrdiff_t img1, FNN_T *dx, FNN_T *restrict dwacc,
                                        FNN_T *restrict dbacc, FNN_T *restrict xpad,
                                        FNN_T *restrict dzpad)
{
    const ptrdiff_t c = g->c, f = g->f, wc = g->w * c, owf = g->ow * f;
    const ptrdiff_t k = g->kh * g->kw * c, kwc = g->kw * c;
    const ptrdiff_t hp = (g->oh - 1) * g->sh + g->kh, wp = (g->ow - 1) * g->sw + g->kw;
    const ptrdiff_t wpc = wp * c, s = g->sw * c;
    ptrdiff_t off[8], row[8];
    ptrdiff_t n, oh, ow, i, j, q, l, t0, m;
    if (dx)
        for (l = img0 * g->h * wc; l < img1 * g->h * wc; ++l)
            dx[l] = 0;
    for (n = img0; n < img1; ++n) {
        const FNN_T *xn = x + n * g->h * wc;
        FNN_T *dxn = dx ? dx + n * g->h * wc : NULL;
        /* the image inside its padding: rows -pad_top .. hp-pad_top-1, likewise columns */
        for (i = 0; i < hp; ++i) {
            const ptrdiff_t ih = i - g->pad_top;
            for (j = 0; j < wp; ++j) {
                const ptrdiff_t iw = j - g->pad_left;
                const int inside = ih >= 0 && ih < g->h && iw >= 0 && iw < g->w;
                for (q = 0; q < c; ++q)
                    xpad[(i * wp + j) * c + q] = inside ? xn[(ih * g->w + iw) * c + q] : 0;
            }
        }
        for (oh = 0; oh < g->oh; ++oh) {
            const FNN_T *dzr = dz + ((n - img0) * g->oh + oh) * owf;
            const FNN_T *xrow = xpad + oh * g->sh * wpc;
            FNN_DV db = FNN_F(fnn_dv_load)(dbacc);
            for (ow = 0; ow < g->ow; ++ow) { /* spread to whole lanes, zeros past f */
                /* one masked vector load, not scalar stores read back as a vector: that
                 * missed store forwarding and cost 40% of the backward */
                const FNN_DV d = FNN_F(fnn_dv_load_n)(dzr + ow * f, f);
                FNN_F(fnn_dv_store)(dzpad + ow * FNN_DIRECT_LANES, d);
                db = FNN_F(fnn_dv_add)(db, d);
            }
            FNN_F(fnn_dv_store)(dbacc, db);
            for (t0 = 0; t0 < k; t0 += 8) { /* terms t0 .. t0+7 in (i, j, c) order */
                for (m = 0; m < 8; ++m) {
                    const ptrdiff_t t = t0 + m < k ? t0 + m : t0;
                    const ptrdiff_t ti = t / kwc;
                    off[m] = ti * wpc + (t - ti * kwc);
                    row[m] = t0 + m < k ? t0 + m : -1;
                }
                FNN_DK(fnn_direct_dw_terms)(xrow, s, g->ow, off, row, dzpad, dwacc);
            }
            if (!dxn)
                continue;
            for (ow = 0; ow < g->ow; ++ow) { /* dx[cell, q] += w[i, j, q, :] . dz */
                const FNN_T *dv = dzpad + ow * FNN_DIRECT_LANES;
                const ptrdiff_t ih0 = oh * g->sh - g->pad_top, iw0 = ow * g->sw - g->pad_left;
                for (i = 0; i < g->kh; ++i)
                    for (j = 0; j < g->kw; ++j) {
                        const ptrdiff_t ih = ih0 + i, iw = iw0 + j;
                        const FNN_T *wv = wpad + (i * g->kw + j) * c * FNN_DIRECT_LANES;
                        if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w)
                            continue;
                        for (q = 0; q < c; ++q, wv += FNN_DIRECT_LANES) {
                            FNN_T acc = 0;
                            for (l = 0; l < f; ++l)
                                acc = FNN_F(fnn_direct_fma)(wv[l], dv[l], acc);
                            dxn[(ih * g->w + iw) * c + q] += acc;
                        }
                    }
            }
        }
    }
}

#undef FNN_DV
#undef FNN_DK
