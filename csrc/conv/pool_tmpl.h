/* Pooling kernels, written once for both dtypes (instantiated by conv.c like
 * conv_tmpl.h).  Channels are the innermost axis, so every window cell is a contiguous
 * run of C values and the inner loops run over channels (vectorised).
 *
 * A window's real cells are rows [i_lo, i_hi) x columns [j_lo, j_hi) of the pool;
 * fnn_pool_window clips them (padded cells are never read).  The entry guarantees every
 * window holds one (pads smaller than the pool size).
 */

void FNN_F(fnn_pool2d_forward)(const fnn_conv_geom *g, int mode, const FNN_T *x, FNN_T *y,
                               int *index, int nthreads)
{
    const ptrdiff_t c = g->c, rows = g->n * g->oh;
    const int nt = fnn_conv_threads((double)rows * (double)(g->ow * c * g->kh * g->kw),
                                    rows, nthreads);
    ptrdiff_t r;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (r = 0; r < rows; ++r) { /* one output row (n, oh) */
        const ptrdiff_t n = r / g->oh, oh = r - n * g->oh;
        const FNN_T *xn = x + n * g->h * g->w * c;
        fnn_window win;
        ptrdiff_t ow, i, j, q;
        for (ow = 0; ow < g->ow; ++ow) {
            FNN_T *yo = y + (r * g->ow + ow) * c;
            fnn_pool_window(g, oh, ow, &win);
            if (mode == FNN_POOL_MAX && g->kh == 2 && g->kw == 2 && win.i_lo == 0
                && win.i_hi == 2 && win.j_lo == 0 && win.j_hi == 2) {
                /* a whole 2x2 window (LeNet's): as a tree, (cell 0 vs 1) and (2 vs 3)
                 * independent, then the later pair only when strictly greater (or a
                 * NaN over a number): the same first maximum as the walk in order,
                 * each channel's values in registers, written once */
                int *restrict io = index + (r * g->ow + ow) * c;
                const FNN_T *restrict s0 = xn + (win.ih0 * g->w + win.iw0) * c;
                const FNN_T *restrict s2 = s0 + g->w * c;
                for (q = 0; q < c; ++q) {
                    const FNN_T v0 = s0[q], v1 = s0[c + q], v2 = s2[q], v3 = s2[c + q];
                    const int t1 = (v1 > v0) | ((v1 != v1) & (v0 == v0));
                    const int t3 = (v3 > v2) | ((v3 != v3) & (v2 == v2));
                    const FNN_T m01 = FNN_F(fnn_pool_select)(0 - (uint64_t)t1, v1, v0);
                    const FNN_T m23 = FNN_F(fnn_pool_select)(0 - (uint64_t)t3, v3, v2);
                    const int t = (m23 > m01) | ((m23 != m23) & (m01 == m01));
                    yo[q] = FNN_F(fnn_pool_select)(0 - (uint64_t)t, m23, m01);
                    io[q] = t ? 2 + t3 : t1;
                }
            } else if (mode == FNN_POOL_MAX) {
                int *restrict io = index + (r * g->ow + ow) * c;
                FNN_T *restrict ym = yo;
                const int cell0 = (int)(win.i_lo * g->kw + win.j_lo);
                const FNN_T *s0 = xn + ((win.ih0 + win.i_lo) * g->w + win.iw0 + win.j_lo) * c;
                for (q = 0; q < c; ++q) {
                    ym[q] = s0[q];
                    io[q] = cell0;
                }
                /* the window's cells in order, each over the C channels (C independent
                 * chains), as selects without a branch on the data: take a cell when it
                 * is strictly greater (the first maximum wins ties) or when it is a NaN
                 * and the best so far is not (np.argmax's choice: the first NaN wins).
                 * Branches on random data mispredict about once a window (1.0 ms for
                 * LeNet's 28x28x6 pool); a channel-outer loop made one long select chain
                 * per channel (~15 cycles a cell, no faster). */
                for (i = win.i_lo; i < win.i_hi; ++i)
                    for (j = i == win.i_lo ? win.j_lo + 1 : win.j_lo; j < win.j_hi; ++j) {
                        const FNN_T *restrict sv = xn + ((win.ih0 + i) * g->w + win.iw0 + j) * c;
                        const int cell = (int)(i * g->kw + j);
                        for (q = 0; q < c; ++q) {
                            const FNN_T v = sv[q], m = ym[q];
                            const int take = (v > m) | ((v != v) & (m == m));
                            ym[q] = FNN_F(fnn_pool_select)(0 - (uint64_t)take, v, m);
                            io[q] ^= (io[q] ^ cell) & -take;
                        }
                    }
            } else {
                const FNN_T count = (FNN_T)((win.i_hi - win.i_lo) * (win.j_hi - win.j_lo));
                for (q = 0; q < c; ++q)
                    yo[q] = 0;
                for (i = win.i_lo; i < win.i_hi; ++i)
                    for (j = win.j_lo; j < win.j_hi; ++j) {
                        const FNN_T *s = xn + ((win.ih0 + i) * g->w + win.iw0 + j) * c;
                        for (q = 0; q < c; ++q)
                            yo[q] += s[q];
                    }
                for (q = 0; q < c; ++q)
                    yo[q] /= count;
            }
        }
    }
}

/* Whether every max index names a real cell of its window (0 when one does not). */
static int FNN_F(fnn_pool_index_valid)(const fnn_conv_geom *g, const int *index, int nt)
{
    const ptrdiff_t c = g->c, rows = g->n * g->oh;
    ptrdiff_t r;
    int bad = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1) reduction(| : bad)
#endif
    for (r = 0; r < rows; ++r) {
        const ptrdiff_t oh = r % g->oh;
        fnn_window win;
        ptrdiff_t ow, q;
        for (ow = 0; ow < g->ow; ++ow) {
            const int *io = index + (r * g->ow + ow) * c;
            fnn_pool_window(g, oh, ow, &win);
            if (win.i_lo == 0 && win.i_hi == g->kh && win.j_lo == 0 && win.j_hi == g->kw) {
                /* a window wholly inside the image: any cell is real (one unsigned
                 * compare, no division; the check was ~0.1 ms of LeNet's pool backward) */
                const unsigned cells = (unsigned)(g->kh * g->kw);
                for (q = 0; q < c; ++q)
                    bad |= (unsigned)io[q] >= cells;
                continue;
            }
            for (q = 0; q < c; ++q) {
                const ptrdiff_t cell = io[q], i = cell / g->kw, j = cell - i * g->kw;
                bad |= cell < 0 || i < win.i_lo || i >= win.i_hi || j < win.j_lo
                       || j >= win.j_hi;
            }
        }
    }
    return !bad;
}

/* Max pooling's backward when the windows tile the image (stride == pool size, the
 * LeNet case): every input cell lies in at most one window, so after zeroing dx each dy
 * is stored (not added) to its argmax cell, found through a table of window offsets
 * (off[cell], no division by KW per value).  Tried first: writing every covered cell
 * once, dy or 0 by a select, without the zeroing: 4 writes per dy with C = 6 unvectorised
 * and 0.52 ms against the scatter's 0.34 (28x28x6, thread CPU, Zen 5).  Threads split
 * the images.  The indices were validated by the caller. */
static void FNN_F(fnn_max_pool_backward_tiled)(const fnn_conv_geom *g, const FNN_T *dy,
                                               const int *index, const ptrdiff_t *off,
                                               FNN_T *dx, int nt)
{
    const ptrdiff_t c = g->c, image = g->h * g->w * c, ohw = g->oh * g->ow;
    ptrdiff_t n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (n = 0; n < g->n; ++n) {
        FNN_T *dxn = dx + n * image;
        ptrdiff_t oh, ow, q;
        memset(dxn, 0, (size_t)image * sizeof(FNN_T));
        for (oh = 0; oh < g->oh; ++oh) {
            const ptrdiff_t ih0 = oh * g->sh - g->pad_top;
            for (ow = 0; ow < g->ow; ++ow) {
                const ptrdiff_t o = (n * ohw + oh * g->ow + ow) * c;
                const FNN_T *d = dy + o;
                const int *io = index + o;
                /* the window's cell (0, 0), perhaps in the padding: only real cells
                 * are argmaxes */
                const ptrdiff_t base = (ih0 * g->w + ow * g->sw - g->pad_left) * c;
                for (q = 0; q < c; ++q)
                    dxn[base + off[io[q]] + q] = d[q];
            }
        }
    }
}

fnn_status FNN_F(fnn_pool2d_backward)(const fnn_conv_geom *g, int mode, const FNN_T *dy,
                                      const int *index, FNN_T *dx, int nthreads)
{
    const ptrdiff_t c = g->c, image = g->h * g->w * c;
    /* threads split the images: windows of one image overlap, so each image's sums
     * stay on one thread, in one order */
    const int nt = fnn_conv_threads(
        (double)g->n * (double)(g->oh * g->ow * c * g->kh * g->kw), g->n, nthreads);
    ptrdiff_t n;
    if (mode == FNN_POOL_MAX && !FNN_F(fnn_pool_index_valid)(g, index, nt))
        return FNN_NOT_TAKEN;
    if (mode == FNN_POOL_MAX && g->sh == g->kh && g->sw == g->kw && g->kh * g->kw <= 64) {
        ptrdiff_t off[64], i, j;
        for (i = 0; i < g->kh; ++i)
            for (j = 0; j < g->kw; ++j)
                off[i * g->kw + j] = (i * g->w + j) * c;
        FNN_F(fnn_max_pool_backward_tiled)(g, dy, index, off, dx, nt);
        return FNN_OK;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (n = 0; n < g->n; ++n) {
        FNN_T *dxn = dx + n * image;
        fnn_window win;
        ptrdiff_t oh, ow, i, j, q;
        for (q = 0; q < image; ++q)
            dxn[q] = 0;
        for (oh = 0; oh < g->oh; ++oh)
            for (ow = 0; ow < g->ow; ++ow) {
                const ptrdiff_t o = ((n * g->oh + oh) * g->ow + ow) * c;
                const FNN_T *d = dy + o;
                fnn_pool_window(g, oh, ow, &win);
                if (mode == FNN_POOL_MAX) {
                    const int *io = index + o;
                    for (q = 0; q < c; ++q) {
                        const ptrdiff_t i1 = io[q] / g->kw, j1 = io[q] - i1 * g->kw;
                        dxn[((win.ih0 + i1) * g->w + win.iw0 + j1) * c + q] += d[q];
                    }
                } else {
                    const FNN_T count =
                        (FNN_T)((win.i_hi - win.i_lo) * (win.j_hi - win.j_lo));
                    for (i = win.i_lo; i < win.i_hi; ++i)
                        for (j = win.j_lo; j < win.j_hi; ++j) {
                            FNN_T *s = dxn + ((win.ih0 + i) * g->w + win.iw0 + j) * c;
                            for (q = 0; q < c; ++q)
                                s[q] += d[q] / count;
                        }
                }
            }
    }
    return FNN_OK;
}
