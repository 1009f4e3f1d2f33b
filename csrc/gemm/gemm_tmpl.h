/* The GEMM driver, written once for both dtypes: gemm.c instantiates it through
 * fnn_instantiate.h, which defines FNN_T (float / double) and FNN_F(name) (name_f32 /
 * name_f64), so float32 and float64 share one body and cannot drift apart.
 *
 * Loop order (BLIS): jc over NC columns of C, pc over KC of the shared dimension
 * (pack B[pc, jc] once), ic over MC rows (pack A[ic, pc]), then the macro-kernel: jr over
 * NR columns, ir over MR rows, one micro-kernel call per tile.  With jr outside ir, a
 * KC x NR micro-panel of B stays in L1 while the MC x KC block of A streams from L2.
 */

typedef struct {
    ptrdiff_t m, n, k;
    const FNN_T *a;
    ptrdiff_t rs_a, cs_a;
    const FNN_T *b;
    ptrdiff_t rs_b, cs_b;
    FNN_T *c;
    ptrdiff_t rs_c, cs_c;
    int accumulate;
    const FNN_T *bias;
    ptrdiff_t rs_bias, cs_bias; /* (0, 1): one value per column; (1, 0) when swapped */
    int act;
    FNN_T alpha;
    FNN_F(fnn_pack_a) pack_a; /* not NULL: A is virtual (gemm.h), a and its strides unused */
    const void *pack_a_ctx;
} FNN_F(fnn_gemm_args);

/* bias then activation on one finished row segment of C (len <= MAX_NR values);
 * bias[j * cs_bias] goes to value j (cs_bias = 0: one bias for the whole segment). */
static void FNN_F(fnn_epilogue_row)(FNN_T *row, ptrdiff_t cs, ptrdiff_t len,
                                    const FNN_T *bias, ptrdiff_t cs_bias, int act,
                                    FNN_T alpha)
{
    FNN_T buf[FNN_GEMM_MAX_NR];
    FNN_T *x = row;
    ptrdiff_t j;
    if (cs != 1) { /* the activation kernels want contiguous values */
        for (j = 0; j < len; ++j)
            buf[j] = row[j * cs];
        x = buf;
    }
    if (bias)
        for (j = 0; j < len; ++j)
            x[j] += bias[j * cs_bias];
    if (act != FNN_ACT_LINEAR)
        FNN_F(fnn_act_forward_inplace)(act, alpha, x, len);
    if (x != row)
        for (j = 0; j < len; ++j)
            row[j * cs] = x[j];
}

/* Copies kc slices of `width` values, slice p from src + p*s_k, value i of a slice at
 * i*s_x, into dst[p*width + i].  Called with a literal width below so that the
 * compiler unrolls the inner loop into a few vector moves (s_x == 1) or a fixed set of
 * strided loads (s_k == 1); a generic loop here ran at half the speed, and calling
 * memcpy per slice cost 14% of a 32 x 500 x 784 product. */
static inline void FNN_F(fnn_pack_slices)(ptrdiff_t kc, const FNN_T *src, ptrdiff_t s_k,
                                          ptrdiff_t s_x, int width, FNN_T *restrict dst)
{
    ptrdiff_t p;
    int i;
    if (s_x == 1) {
        for (p = 0; p < kc; ++p, dst += width)
            for (i = 0; i < width; ++i)
                dst[i] = src[p * s_k + i];
    } else if (s_k == 1) { /* a transpose (gemm.c) */
        FNN_F(fnn_pack_transposed)(kc, src, s_x, width, dst);
    } else {
        for (p = 0; p < kc; ++p, dst += width)
            for (i = 0; i < width; ++i)
                dst[i] = src[i * s_x + p * s_k];
    }
}

/* The full panels of an operand whose lines are contiguous (s_x == 1: row-major B, or
 * A^T), packed in the source's memory order: row p of all `npanels` panels, then row
 * p + 1.  Panel by panel (fnn_pack_slices), each step reads `width` values and jumps a
 * whole row (2000 bytes for a 784 x 500 weight), which the prefetchers follow badly:
 * packing the weight that way took 14% of a 256 x 784 x 500 forward product on a Zen 3
 * (perf), reading each row once, front to back, 10%.  Same values, same places. */
static inline void FNN_F(fnn_pack_rows)(ptrdiff_t npanels, ptrdiff_t kc, const FNN_T *src,
                                        ptrdiff_t s_k, int width, FNN_T *restrict dst)
{
    const ptrdiff_t panel = kc * width;
    ptrdiff_t p, q;
    int i;
    for (p = 0; p < kc; ++p) {
        const FNN_T *row = src + p * s_k;
        FNN_T *d = dst + p * width;
        for (q = 0; q < npanels; ++q, row += width, d += panel)
            for (i = 0; i < width; ++i)
                d[i] = row[i];
    }
}

/* Packs `lines` x kc values (line i, step p at src[i*s_x + p*s_k]) into micro-panels of
 * `width` lines, zero-padding the last one: dst[panel][p*width + i].  One routine packs
 * both operands: A's MR-row panels (s_x = rs_a, s_k = cs_a) and B's NR-column panels
 * (s_x = cs_b, s_k = rs_b), so a transposed operand is only a swap of strides. */
static void FNN_F(fnn_pack)(ptrdiff_t lines, ptrdiff_t kc, const FNN_T *src, ptrdiff_t s_x,
                            ptrdiff_t s_k, int width, FNN_T *restrict dst)
{
    ptrdiff_t l = 0, p;
    int i;
    if (s_x == 1 && lines >= 2 * width) {
        const ptrdiff_t npanels = lines / width;
        switch (width) { /* the kernels' literal widths, unrolled as in fnn_pack */
        case 4: FNN_F(fnn_pack_rows)(npanels, kc, src, s_k, 4, dst); break;
        case 6: FNN_F(fnn_pack_rows)(npanels, kc, src, s_k, 6, dst); break;
        case 8: FNN_F(fnn_pack_rows)(npanels, kc, src, s_k, 8, dst); break;
        case 16: FNN_F(fnn_pack_rows)(npanels, kc, src, s_k, 16, dst); break;
        case 32: FNN_F(fnn_pack_rows)(npanels, kc, src, s_k, 32, dst); break;
        default: FNN_F(fnn_pack_rows)(npanels, kc, src, s_k, width, dst); break;
        }
        l = npanels * width;
        dst += npanels * kc * width;
    }
    for (; l < lines; l += width, dst += kc * width) {
        const int valid = (int)(lines - l < width ? lines - l : width);
        const FNN_T *s = src + l * s_x;
        if (valid == width) {
            switch (width) { /* the widths of the kernels in ukernel_*.c */
            case 4: FNN_F(fnn_pack_slices)(kc, s, s_k, s_x, 4, dst); continue;
            case 6: FNN_F(fnn_pack_slices)(kc, s, s_k, s_x, 6, dst); continue;
            case 8: FNN_F(fnn_pack_slices)(kc, s, s_k, s_x, 8, dst); continue;
            case 16: FNN_F(fnn_pack_slices)(kc, s, s_k, s_x, 16, dst); continue;
            case 32: FNN_F(fnn_pack_slices)(kc, s, s_k, s_x, 32, dst); continue;
            default: break;
            }
        }
        for (p = 0; p < kc; ++p) {
            FNN_T *d = dst + p * width;
            for (i = 0; i < valid; ++i)
                d[i] = s[i * s_x + p * s_k];
            for (; i < width; ++i)
                d[i] = 0;
        }
    }
}

/* One packed A block (mc x kc) times one B block (kc x nc) into C.  B is the packed
 * block bp, or, when b_direct is not NULL, B itself (row stride g->rs_b) for the full
 * NR-column panels and bp holding only the last, partial panel.  When last_k, each
 * tile gets its epilogue right after its final update, while it is hot. */
static void FNN_F(fnn_macro_kernel)(const FNN_F(fnn_gemm_args) *g, FNN_F(fnn_ukernel) ukr,
                                    const fnn_blocksizes *bs, ptrdiff_t mc, ptrdiff_t nc,
                                    ptrdiff_t kc, const FNN_T *ap, const FNN_T *bp,
                                    const FNN_T *b_direct, FNN_T *c, const FNN_T *bias,
                                    int accumulate, int last_k)
{
    const int mr = bs->mr, nr = bs->nr;
    const ptrdiff_t rs_c = g->rs_c, cs_c = g->cs_c;
    const int epilogue = last_k && (bias != NULL || g->act != FNN_ACT_LINEAR);
    FNN_T tile[FNN_GEMM_MAX_MR * FNN_GEMM_MAX_NR];
    ptrdiff_t ir, jr;
    int i, j;
    for (jr = 0; jr < nc; jr += nr) {
        const int cols = (int)(nc - jr < nr ? nc - jr : nr);
        const int direct = b_direct != NULL && cols == nr;
        const FNN_T *bpj = direct ? b_direct + jr : b_direct != NULL ? bp : bp + jr * kc;
        const ptrdiff_t rs_b = direct ? g->rs_b : nr;
        const FNN_T *bias_j = bias ? bias + jr * g->cs_bias : NULL;
        for (ir = 0; ir < mc; ir += mr) {
            const int rows = (int)(mc - ir < mr ? mc - ir : mr);
            FNN_T *cij = c + ir * rs_c + jr * cs_c;
            if (rows == mr && cols == nr) {
                ukr(kc, ap + ir * kc, bpj, rs_b, cij, rs_c, cs_c, accumulate);
            } else {
                /* Edge tile: compute the full tile locally, copy the valid part.  The
                 * sum is formed exactly as in place, so the bits do not change. */
                ukr(kc, ap + ir * kc, bpj, rs_b, tile, nr, 1, 0);
                for (i = 0; i < rows; ++i) {
                    FNN_T *ci = cij + i * rs_c;
                    const FNN_T *ti = tile + i * nr;
                    if (accumulate)
                        for (j = 0; j < cols; ++j)
                            ci[j * cs_c] += ti[j];
                    else
                        for (j = 0; j < cols; ++j)
                            ci[j * cs_c] = ti[j];
                }
            }
            if (epilogue)
                for (i = 0; i < rows; ++i)
                    FNN_F(fnn_epilogue_row)(cij + i * rs_c, cs_c, cols,
                                            bias_j ? bias_j + (ir + i) * g->rs_bias : NULL,
                                            g->cs_bias, g->act, g->alpha);
        }
    }
}

/* The sequential five loops over the sub-block C[m0:m1, n0:n1], with the calling
 * thread's packing buffers.  Returns FNN_OK, or FNN_NO_MEMORY when the buffers cannot be
 * allocated. */
static fnn_status FNN_F(fnn_gemm_region)(const FNN_F(fnn_gemm_args) *g,
                                         const fnn_blocksizes *bs, FNN_F(fnn_ukernel) ukr,
                                         ptrdiff_t m0, ptrdiff_t m1, ptrdiff_t n0,
                                         ptrdiff_t n1)
{
    const ptrdiff_t m = m1 - m0, n = n1 - n0, k = g->k;
    /* Balanced blocks: a k of 784 with KC = 256 runs as 4 x 196, not 3 x 256 + 16,
     * so no pass is a sliver that pays the C load/store for little work.  The split
     * depends only on the shapes, never on the thread count. */
    const ptrdiff_t kc_max = fnn_balanced_block(k, bs->kc, 1);
    const ptrdiff_t mc_max = fnn_balanced_block(m, bs->mc, bs->mr);
    const ptrdiff_t nc_max = fnn_balanced_block(n, bs->nc, bs->nr);
    /* B is read in place, unpacked, when its rows are contiguous and one MC block covers
     * all rows of this region: each B value is then used by a single macro-kernel call,
     * so packing it would be a pure extra pass over the largest operand (25% of a
     * 32 x 500 x 784 product).  Only a last partial panel still needs packing (padding).
     * Not when B's row stride would evict the panel from L1 (fnn_gemm_direct_stride_ok). */
    const int direct_b = g->cs_b == 1 && m <= mc_max &&
                         fnn_gemm_direct_stride_ok(g->rs_b * (ptrdiff_t)sizeof(FNN_T));
    FNN_T *ap, *bp;
    ptrdiff_t jc, pc, ic;
    if (fnn_gemm_buffers((size_t)mc_max * (size_t)kc_max * sizeof(FNN_T),
                         (size_t)nc_max * (size_t)kc_max * sizeof(FNN_T), (void **)&ap,
                         (void **)&bp) != 0)
        return FNN_NO_MEMORY;
    for (jc = n0; jc < n1; jc += nc_max) {
        const ptrdiff_t nc = n1 - jc < nc_max ? n1 - jc : nc_max;
        for (pc = 0; pc < k; pc += kc_max) {
            const ptrdiff_t kc = k - pc < kc_max ? k - pc : kc_max;
            /* The first k block overwrites C (unless the caller accumulates); later
             * blocks add to it; the last one runs the epilogue. */
            const int accumulate = pc == 0 ? g->accumulate : 1;
            const int last_k = pc + kc == k;
            const FNN_T *b_block = g->b + pc * g->rs_b + jc * g->cs_b;
            const ptrdiff_t packed_from = direct_b ? nc / bs->nr * bs->nr : 0;
            if (packed_from < nc)
                FNN_F(fnn_pack)(nc - packed_from, kc, b_block + packed_from * g->cs_b,
                                g->cs_b, g->rs_b, bs->nr, bp);
            for (ic = m0; ic < m1; ic += mc_max) {
                const ptrdiff_t mc = m1 - ic < mc_max ? m1 - ic : mc_max;
                FNN_T *c_block = g->c + ic * g->rs_c + jc * g->cs_c;
                const FNN_T *bias_block =
                    g->bias ? g->bias + ic * g->rs_bias + jc * g->cs_bias : NULL;
                if (g->pack_a)
                    g->pack_a(g->pack_a_ctx, ic, pc, mc, kc, bs->mr, ap);
                else
                    FNN_F(fnn_pack)(mc, kc, g->a + ic * g->rs_a + pc * g->cs_a, g->rs_a,
                                    g->cs_a, bs->mr, ap);
                FNN_F(fnn_macro_kernel)(g, ukr, bs, mc, nc, kc, ap, bp,
                                        direct_b ? b_block : NULL, c_block, bias_block,
                                        accumulate, last_k);
            }
        }
    }
    return FNN_OK;
}

/* k == 0: C = act((accumulate ? C : 0) + bias), row segment by row segment. */
static void FNN_F(fnn_gemm_k0)(const FNN_F(fnn_gemm_args) *g)
{
    ptrdiff_t i, j0, j;
    for (i = 0; i < g->m; ++i) {
        FNN_T *ci = g->c + i * g->rs_c;
        for (j0 = 0; j0 < g->n; j0 += FNN_GEMM_MAX_NR) {
            const ptrdiff_t len = g->n - j0 < FNN_GEMM_MAX_NR ? g->n - j0 : FNN_GEMM_MAX_NR;
            if (!g->accumulate)
                for (j = 0; j < len; ++j)
                    ci[(j0 + j) * g->cs_c] = 0;
            FNN_F(fnn_epilogue_row)(ci + j0 * g->cs_c, g->cs_c, len,
                                    g->bias ? g->bias + j0 : NULL, 1, g->act, g->alpha);
        }
    }
}

/* Runs the product g describes (its operands, C, epilogue and pack_a filled in). */
static fnn_status FNN_F(fnn_gemm_run)(FNN_F(fnn_gemm_args) *g, int nthreads)
{
    const fnn_gemm_kernel *kern = fnn_gemm_active();
    /* A copy: a test hook switching tables meanwhile cannot mix two tables' sizes. */
    const fnn_blocksizes bs_now = FNN_F(fnn_bs_in_use);
    const fnn_blocksizes *bs = &bs_now;
    const FNN_F(fnn_ukernel) ukr = kern->FNN_F(ukr);
    int status = 0;
    if (g->m <= 0 || g->n <= 0)
        return FNN_OK;
    if (g->k <= 0) {
        FNN_F(fnn_gemm_k0)(g);
        return FNN_OK;
    }
    if (!g->pack_a && fnn_gemm_prefer_swap(g->m, g->n, g->rs_a, g->cs_b, bs)) {
        /* Compute C^T = op(B)^T op(A)^T: the same products, summed in the same order,
         * so the same bits, with fewer padded lanes (see fnn_gemm_prefer_swap). */
        const FNN_T *a = g->a;
        const ptrdiff_t m = g->m, rs_a = g->rs_a, cs_a = g->cs_a, rs_c = g->rs_c;
        g->m = g->n; g->n = m;
        g->a = g->b; g->rs_a = g->cs_b; g->cs_a = g->rs_b;
        g->b = a; g->rs_b = cs_a; g->cs_b = rs_a;
        g->rs_c = g->cs_c; g->cs_c = rs_c;
        g->rs_bias = 1; g->cs_bias = 0;
    }
    nthreads = fnn_gemm_threads_for(g->m, g->n, g->k, bs, nthreads);
    if (nthreads <= 1)
        return FNN_F(fnn_gemm_region)(g, bs, ukr, 0, g->m, 0, g->n);
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) reduction(| : status)
    {
        /* Each thread runs the whole blocked GEMM on its own rectangle of C, with its
         * own packing buffers: no barriers, and nothing shared but read-only A and B. */
        fnn_region r;
        fnn_gemm_partition(g->m, g->n, bs, omp_get_thread_num(), omp_get_num_threads(), &r);
        if (r.m0 < r.m1 && r.n0 < r.n1)
            status |= FNN_F(fnn_gemm_region)(g, bs, ukr, r.m0, r.m1, r.n0, r.n1) != 0;
    }
#endif
    return status ? FNN_NO_MEMORY : FNN_OK;
}

/* The arguments common to both entries; A is left unset. */
static void FNN_F(fnn_gemm_args_init)(FNN_F(fnn_gemm_args) *g, ptrdiff_t m, ptrdiff_t n,
                                      ptrdiff_t k, const FNN_T *b, ptrdiff_t rs_b,
                                      ptrdiff_t cs_b, FNN_T *c, ptrdiff_t rs_c,
                                      ptrdiff_t cs_c, int accumulate, const FNN_T *bias,
                                      int act, FNN_T alpha)
{
    g->m = m; g->n = n; g->k = k;
    g->a = NULL; g->rs_a = 0; g->cs_a = 0;
    g->b = b; g->rs_b = rs_b; g->cs_b = cs_b;
    g->c = c; g->rs_c = rs_c; g->cs_c = cs_c;
    g->accumulate = accumulate; g->bias = bias; g->act = act; g->alpha = alpha;
    g->rs_bias = 0; g->cs_bias = 1;
    g->pack_a = NULL; g->pack_a_ctx = NULL;
}

fnn_status FNN_F(fnn_gemm)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const FNN_T *a,
                           ptrdiff_t rs_a, ptrdiff_t cs_a, const FNN_T *b, ptrdiff_t rs_b,
                           ptrdiff_t cs_b, FNN_T *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                           int accumulate, const FNN_T *bias, int act, FNN_T alpha,
                           int nthreads)
{
    FNN_F(fnn_gemm_args) g;
    FNN_F(fnn_gemm_args_init)(&g, m, n, k, b, rs_b, cs_b, c, rs_c, cs_c, accumulate, bias,
                              act, alpha);
    g.a = a; g.rs_a = rs_a; g.cs_a = cs_a;
    return FNN_F(fnn_gemm_run)(&g, nthreads);
}

fnn_status FNN_F(fnn_gemm_packer)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                  FNN_F(fnn_pack_a) pack_a, const void *ctx, const FNN_T *b,
                                  ptrdiff_t rs_b, ptrdiff_t cs_b, FNN_T *c, ptrdiff_t rs_c,
                                  ptrdiff_t cs_c, int accumulate, const FNN_T *bias,
                                  int act, FNN_T alpha, int nthreads)
{
    FNN_F(fnn_gemm_args) g;
    FNN_F(fnn_gemm_args_init)(&g, m, n, k, b, rs_b, cs_b, c, rs_c, cs_c, accumulate, bias,
                              act, alpha);
    g.pack_a = pack_a; g.pack_a_ctx = ctx;
    return FNN_F(fnn_gemm_run)(&g, nthreads);
}

#define FNN_COL_CHUNK 256

void FNN_F(fnn_col_sum)(ptrdiff_t m, ptrdiff_t n, const FNN_T *x, ptrdiff_t rs_x,
                        ptrdiff_t cs_x, FNN_T *out, int nthreads)
{
    /* Columns are split in chunks of FNN_COL_CHUNK (1 KiB of floats): chunks never
     * share a cache line of out, and each column is summed over rows 0..m-1 in order,
     * so the result is the same for any thread count. */
    const ptrdiff_t nchunks = (n + FNN_COL_CHUNK - 1) / FNN_COL_CHUNK;
    ptrdiff_t t;
    if (n <= 0)
        return;
    if ((double)m * (double)n < 65536.0 || nchunks < 2)
        nthreads = 1;
    if (nthreads > nchunks)
        nthreads = (int)nchunks;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
#endif
    for (t = 0; t < nchunks; ++t) {
        const ptrdiff_t j0 = t * FNN_COL_CHUNK;
        const ptrdiff_t len = n - j0 < FNN_COL_CHUNK ? n - j0 : FNN_COL_CHUNK;
        FNN_T *o = out + j0;
        ptrdiff_t i, j;
        for (j = 0; j < len; ++j)
            o[j] = 0;
        for (i = 0; i < m; ++i) {
            const FNN_T *xi = x + i * rs_x + j0 * cs_x;
            if (cs_x == 1)
                for (j = 0; j < len; ++j)
                    o[j] += xi[j];
            else
                for (j = 0; j < len; ++j)
                    o[j] += xi[j * cs_x];
        }
    }
}

#undef FNN_COL_CHUNK
