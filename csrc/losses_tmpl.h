/* Loss kernels, written once for both dtypes (see losses.c).
 *
 * Included with FNN_T (element type) and FNN_F(name) (dtype-suffixed name) defined; exp and
 * log1p are fnn_math.h's vectorisable FNN_F(fnn_exp) / FNN_F(fnn_log1p); the one log per
 * row comes from <tgmath.h>.
 */

#define K(v) ((FNN_T)(v))

static inline FNN_T FNN_F(fnn_row_max)(const FNN_T *z, ptrdiff_t k) {
    FNN_T m = z[0];
    ptrdiff_t j;
#pragma omp simd reduction(max : m)
    for (j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
    return m;
}

/* Row sums use "omp simd" reductions: several partial sums, combined in an order fixed at
 * compile time, so results stay deterministic while the loops vectorise. */

/* One row of softmax + sparse cross-entropy.  IN z[k], label t in [0, k), scale (unused
 * when g_out is NULL); OUT *loss_out, g_out[k] (may alias z). */
static void FNN_F(fnn_xent_sparse_row)(const FNN_T *z, int64_t t, FNN_T scale,
                                       FNN_T *loss_out, FNN_T *g_out, ptrdiff_t k) {
    ptrdiff_t j;
    FNN_T m = FNN_F(fnn_row_max)(z, k);
    FNN_T zt = z[t] - m; /* read before g_out (maybe z itself) is written */
    FNN_T st, lse, e_t;
    double s = 0.0;
    if (!g_out) {
#pragma omp simd reduction(+ : s)
        for (j = 0; j < k; j++) s += (double)FNN_F(fnn_exp)(z[j] - m);
        *loss_out = (FNN_T)log(s) - zt;
        return;
    }
#pragma omp simd reduction(+ : s)
    for (j = 0; j < k; j++) {
        FNN_T e = FNN_F(fnn_exp)(z[j] - m);
        g_out[j] = e;
        s += (double)e;
    }
    lse = (FNN_T)log(s);
    *loss_out = lse - zt;
    /* softmax = e / sum; the target class gets (p_t - 1), scaled like NumPy's order. */
    st = (FNN_T)s;
    e_t = g_out[t];
    for (j = 0; j < k; j++) g_out[j] = g_out[j] / st * scale;
    g_out[t] = (e_t / st - K(1)) * scale;
}

/* One row of softmax + categorical cross-entropy.  IN z[k], tg[k]; OUT *loss_out,
 * g_out[k] (may alias z, not tg).  loss = sum(t) * lse - sum(t * (z - max)). */
static void FNN_F(fnn_xent_dense_row)(const FNN_T *z, const FNN_T *tg, FNN_T scale,
                                      FNN_T *loss_out, FNN_T *g_out, ptrdiff_t k) {
    ptrdiff_t j;
    FNN_T m = FNN_F(fnn_row_max)(z, k);
    FNN_T st, tsum_t;
    double s = 0.0, tz = 0.0, tsum = 0.0;
    if (!g_out) {
#pragma omp simd reduction(+ : s, tz, tsum)
        for (j = 0; j < k; j++) {
            FNN_T d = z[j] - m;
            s += (double)FNN_F(fnn_exp)(d);
            tz += (double)(tg[j] * d);
            tsum += (double)tg[j];
        }
        *loss_out = (FNN_T)(tsum * log(s) - tz);
        return;
    }
#pragma omp simd reduction(+ : s, tz, tsum)
    for (j = 0; j < k; j++) {
        FNN_T d = z[j] - m, e = FNN_F(fnn_exp)(d);
        tz += (double)(tg[j] * d);
        tsum += (double)tg[j];
        g_out[j] = e; /* z[j] has been read: safe when g_out aliases z */
        s += (double)e;
    }
    *loss_out = (FNN_T)(tsum * log(s) - tz);
    /* d/dz of -sum(t * log softmax(z)) = softmax(z) * sum(t) - t */
    st = (FNN_T)s;
    tsum_t = (FNN_T)tsum;
    for (j = 0; j < k; j++) g_out[j] = (g_out[j] / st * tsum_t - tg[j]) * scale;
}

/* One row of sigmoid + binary cross-entropy.  IN z[k], tg[k]; OUT *loss_out (the mean
 * over the row), g_out[k] (may alias z, not tg) = (sigmoid(z) - t) * scale. */
static void FNN_F(fnn_bce_row)(const FNN_T *z, const FNN_T *tg, FNN_T scale,
                               FNN_T *loss_out, FNN_T *g_out, ptrdiff_t k) {
    ptrdiff_t j;
    double acc = 0.0;
    if (!g_out) {
#pragma omp simd reduction(+ : acc)
        for (j = 0; j < k; j++) {
            FNN_T v = z[j];
            FNN_T e = FNN_F(fnn_exp)(-fabs(v)); /* <= 1: nothing below can overflow */
            acc += (double)((v > 0 ? v : K(0)) - v * tg[j] + FNN_F(fnn_log1p)(e));
        }
    } else {
#pragma omp simd reduction(+ : acc)
        for (j = 0; j < k; j++) {
            FNN_T v = z[j], t = tg[j];
            FNN_T e = FNN_F(fnn_exp)(-fabs(v));
            FNN_T sig = v >= 0 ? K(1) / (K(1) + e) : e / (K(1) + e);
            acc += (double)((v > 0 ? v : K(0)) - v * t + FNN_F(fnn_log1p)(e));
            g_out[j] = (sig - t) * scale; /* z[j] already read: g_out may alias z */
        }
    }
    *loss_out = (FNN_T)(acc / (double)k);
}

fnn_status FNN_F(fnn_softmax_xent_sparse)(const FNN_T *logits, const int64_t *labels,
                                          const FNN_T *grad_scale, FNN_T *loss_out,
                                          FNN_T *grad_out, ptrdiff_t n, ptrdiff_t k,
                                          int n_threads) {
    int nt = fnn_ew_threads(n * k * FNN_EW_COST_TRANSC, n_threads);
    ptrdiff_t i;
    /* Validate every label before writing anything, so the caller can fall back. */
    for (i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= (int64_t)k) return FNN_BAD_LABEL;
    if (k <= 0) return n > 0 ? FNN_BAD_LABEL : FNN_OK;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (i = 0; i < n; i++)
        FNN_F(fnn_xent_sparse_row)(logits + i * k, labels[i],
                                   grad_scale ? grad_scale[i] : K(0), loss_out + i,
                                   grad_scale ? grad_out + i * k : NULL, k);
    return FNN_OK;
}

void FNN_F(fnn_softmax_xent_dense)(const FNN_T *logits, const FNN_T *target,
                                   const FNN_T *grad_scale, FNN_T *loss_out,
                                   FNN_T *grad_out, ptrdiff_t n, ptrdiff_t k,
                                   int n_threads) {
    int nt = fnn_ew_threads(n * k * FNN_EW_COST_TRANSC, n_threads);
    ptrdiff_t i;
    if (k <= 0) return;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (i = 0; i < n; i++)
        FNN_F(fnn_xent_dense_row)(logits + i * k, target + i * k,
                                  grad_scale ? grad_scale[i] : K(0), loss_out + i,
                                  grad_scale ? grad_out + i * k : NULL, k);
}

void FNN_F(fnn_sigmoid_bce)(const FNN_T *logits, const FNN_T *target,
                            const FNN_T *grad_scale, FNN_T *loss_out, FNN_T *grad_out,
                            ptrdiff_t n, ptrdiff_t k, int n_threads) {
    int nt = fnn_ew_threads(n * k * FNN_EW_COST_TRANSC, n_threads);
    ptrdiff_t i;
    if (k <= 0) return;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (i = 0; i < n; i++)
        /* NumPy scales by grad_scale[i] / k, rounded once in FNN_T */
        FNN_F(fnn_bce_row)(logits + i * k, target + i * k,
                           grad_scale ? grad_scale[i] / (FNN_T)k : K(0), loss_out + i,
                           grad_scale ? grad_out + i * k : NULL, k);
}

#undef K
