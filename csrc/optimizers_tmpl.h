/* Optimizer kernels, written once for both dtypes (see optimizers.c).
 *
 * Included with FNN_T (element type) and FNN_F(name) (dtype-suffixed name) defined.  Each
 * *_range function updates elements [0, len) of already-offset pointers; each *_block
 * function runs it on elements [lo, lo + len) of one variable; each *_vars function runs
 * that over every variable of a call through FNN_OPT_FOR_VARS (one parallel region for
 * the whole step).  optimizers.c picks the dtype's *_vars for the public entries.  Every
 * operation on an element is in FNN_T: float32 variables get float32 arithmetic.
 */

/* The shared first steps, on one element: clip, scale (both exact no-ops when off). */
static inline FNN_T FNN_F(fnn_prep_grad)(FNN_T g, FNN_T clip, FNN_T scale) {
    g = g < -clip ? -clip : g; /* NaN fails both tests and stays NaN, as in np.clip */
    g = g > clip ? clip : g;
    return g * scale;
}

/* Decoupled weight decay p - (lr*wd)*p, as a select so the loop stays branch-free. */
static inline FNN_T FNN_F(fnn_decay)(FNN_T p, FNN_T decay, int on) {
    FNN_T pd = p - decay * p;
    return on ? pd : p;
}

/* The constants of one variable's update (its clip, scale and decay), rounded to FNN_T
 * once. */
typedef struct {
    FNN_T clip, scale, decay;
    int decay_on;
} FNN_F(fnn_prep);

static FNN_F(fnn_prep) FNN_F(fnn_make_prep)(const fnn_opt_var *x, const fnn_opt_step *s) {
    FNN_F(fnn_prep) c;
    c.clip = s->clipvalue != 0.0 ? (FNN_T)s->clipvalue : (FNN_T)INFINITY;
    c.scale = (FNN_T)x->grad_scale;
    c.decay = (FNN_T)(s->lr * x->weight_decay);
    c.decay_on = x->weight_decay != 0.0;
    return c;
}

/* ------------------------------------------------------------------ SGD */

static void FNN_F(fnn_sgd_range)(FNN_T *p, const FNN_T *grad, FNN_T *vel, ptrdiff_t len,
                                 FNN_F(fnn_prep) c, FNN_T lr, FNN_T mom, int nesterov) {
    ptrdiff_t i;
    if (!vel) {
        for (i = 0; i < len; i++) {
            FNN_T g = FNN_F(fnn_prep_grad)(grad[i], c.clip, c.scale);
            FNN_T pi = FNN_F(fnn_decay)(p[i], c.decay, c.decay_on);
            p[i] = pi - lr * g;
        }
    } else if (nesterov) {
        for (i = 0; i < len; i++) {
            FNN_T g = FNN_F(fnn_prep_grad)(grad[i], c.clip, c.scale);
            FNN_T pi = FNN_F(fnn_decay)(p[i], c.decay, c.decay_on);
            FNN_T v = vel[i] * mom - lr * g;
            vel[i] = v;
            p[i] = pi + (mom * v - lr * g);
        }
    } else {
        for (i = 0; i < len; i++) {
            FNN_T g = FNN_F(fnn_prep_grad)(grad[i], c.clip, c.scale);
            FNN_T pi = FNN_F(fnn_decay)(p[i], c.decay, c.decay_on);
            FNN_T v = vel[i] * mom - lr * g;
            vel[i] = v;
            p[i] = pi + v;
        }
    }
}

static void FNN_F(fnn_sgd_block)(const fnn_opt_var *x, ptrdiff_t lo, ptrdiff_t len,
                                 const fnn_sgd_params *hp, const fnn_opt_step *s) {
    FNN_T *param = x->param, *vel = hp->momentum != 0.0 ? x->slot[0] : NULL;
    const FNN_T *grad = x->grad;
    FNN_F(fnn_sgd_range)(param + lo, grad + lo, vel ? vel + lo : NULL, len,
                         FNN_F(fnn_make_prep)(x, s), (FNN_T)s->lr, (FNN_T)hp->momentum,
                         hp->nesterov);
}

static void FNN_F(fnn_sgd_vars)(const fnn_opt_var *vars, ptrdiff_t count,
                                const fnn_sgd_params *hp, const fnn_opt_step *s,
                                int n_threads) {
    FNN_OPT_FOR_VARS(vars, count, n_threads, x, lo, len,
                     FNN_F(fnn_sgd_block)(x, lo, len, hp, s));
}

/* ------------------------------------------------------------------ Adagrad */

static void FNN_F(fnn_adagrad_range)(FNN_T *p, const FNN_T *grad, FNN_T *acc, ptrdiff_t len,
                                     FNN_F(fnn_prep) c, FNN_T lr, FNN_T eps) {
    ptrdiff_t i;
    for (i = 0; i < len; i++) {
        FNN_T g = FNN_F(fnn_prep_grad)(grad[i], c.clip, c.scale);
        FNN_T pi = FNN_F(fnn_decay)(p[i], c.decay, c.decay_on);
        FNN_T a = acc[i] + g * g;
        acc[i] = a;
        p[i] = pi - lr * g / sqrt(a + eps);
    }
}

static void FNN_F(fnn_adagrad_block)(const fnn_opt_var *x, ptrdiff_t lo, ptrdiff_t len,
                                     const fnn_adagrad_params *hp, const fnn_opt_step *s) {
    FNN_T *param = x->param, *acc = x->slot[0];
    const FNN_T *grad = x->grad;
    FNN_F(fnn_adagrad_range)(param + lo, grad + lo, acc + lo, len,
                             FNN_F(fnn_make_prep)(x, s), (FNN_T)s->lr,
                             (FNN_T)hp->epsilon);
}

static void FNN_F(fnn_adagrad_vars)(const fnn_opt_var *vars, ptrdiff_t count,
                                    const fnn_adagrad_params *hp, const fnn_opt_step *s,
                                    int n_threads) {
    FNN_OPT_FOR_VARS(vars, count, n_threads, x, lo, len,
                     FNN_F(fnn_adagrad_block)(x, lo, len, hp, s));
}

/* ------------------------------------------------------------------ RMSprop */

/* One element of RMSprop; centered and has_mom are constants at each call site below, so
 * every combination compiles to its own branch-free loop (GCC vectorises no loop whose
 * stores sit under a condition, loop-invariant or not). */
static inline void FNN_F(fnn_rmsprop_elem)(FNN_T *p, const FNN_T *grad, FNN_T *vel,
                                           FNN_T *mbuf, FNN_T *avg, ptrdiff_t i,
                                           FNN_F(fnn_prep) c, FNN_T lr, FNN_T rho,
                                           FNN_T one_m_rho, FNN_T eps, FNN_T mom,
                                           const int centered, const int has_mom) {
    FNN_T g = FNN_F(fnn_prep_grad)(grad[i], c.clip, c.scale);
    FNN_T pi = FNN_F(fnn_decay)(p[i], c.decay, c.decay_on);
    FNN_T v = vel[i] * rho + one_m_rho * g * g, denom = v, step;
    vel[i] = v;
    if (centered) {
        FNN_T a = avg[i] * rho + one_m_rho * g;
        avg[i] = a;
        denom = v - a * a;
    }
    step = lr * g / sqrt(denom + eps);
    if (has_mom) {
        FNN_T b = mbuf[i] * mom + step;
        mbuf[i] = b;
        step = b;
    }
    p[i] = pi - step;
}

static void FNN_F(fnn_rmsprop_range)(FNN_T *p, const FNN_T *grad, FNN_T *vel, FNN_T *mbuf,
                                     FNN_T *avg, ptrdiff_t len, FNN_F(fnn_prep) c, FNN_T lr,
                                     FNN_T rho, FNN_T one_m_rho, FNN_T eps, FNN_T mom) {
    ptrdiff_t i;
#define FNN_RMSPROP_LOOP(centered, has_mom)                                              \
    for (i = 0; i < len; i++)                                                            \
        FNN_F(fnn_rmsprop_elem)(p, grad, vel, mbuf, avg, i, c, lr, rho, one_m_rho, eps,  \
                                mom, centered, has_mom)
    if (avg && mbuf)
        FNN_RMSPROP_LOOP(1, 1);
    else if (avg)
        FNN_RMSPROP_LOOP(1, 0);
    else if (mbuf)
        FNN_RMSPROP_LOOP(0, 1);
    else
        FNN_RMSPROP_LOOP(0, 0);
#undef FNN_RMSPROP_LOOP
}

static void FNN_F(fnn_rmsprop_block)(const fnn_opt_var *x, ptrdiff_t lo, ptrdiff_t len,
                                     const fnn_rmsprop_params *hp, const fnn_opt_step *s) {
    FNN_T *param = x->param, *vel = x->slot[0];
    FNN_T *mbuf = hp->momentum != 0.0 ? x->slot[1] : NULL;
    FNN_T *avg = hp->centered ? x->slot[2] : NULL;
    const FNN_T *grad = x->grad;
    FNN_F(fnn_rmsprop_range)(param + lo, grad + lo, vel + lo, mbuf ? mbuf + lo : NULL,
                             avg ? avg + lo : NULL, len, FNN_F(fnn_make_prep)(x, s),
                             (FNN_T)s->lr, (FNN_T)hp->rho, (FNN_T)(1.0 - hp->rho),
                             (FNN_T)hp->epsilon, (FNN_T)hp->momentum);
}

static void FNN_F(fnn_rmsprop_vars)(const fnn_opt_var *vars, ptrdiff_t count,
                                    const fnn_rmsprop_params *hp, const fnn_opt_step *s,
                                    int n_threads) {
    FNN_OPT_FOR_VARS(vars, count, n_threads, x, lo, len,
                     FNN_F(fnn_rmsprop_block)(x, lo, len, hp, s));
}

/* ------------------------------------------------------------------ Adam */

/* One element of Adam; amsgrad is a constant at each call site (see fnn_rmsprop_elem). */
static inline void FNN_F(fnn_adam_elem)(FNN_T *p, const FNN_T *grad, FNN_T *m, FNN_T *v,
                                        FNN_T *v_hat, ptrdiff_t i, FNN_F(fnn_prep) c,
                                        FNN_T alpha, FNN_T one_m_b1, FNN_T one_m_b2,
                                        FNN_T eps, const int amsgrad) {
    FNN_T g = FNN_F(fnn_prep_grad)(grad[i], c.clip, c.scale);
    FNN_T pi = FNN_F(fnn_decay)(p[i], c.decay, c.decay_on);
    FNN_T mi = m[i] + (g - m[i]) * one_m_b1;
    FNN_T vi = v[i] + (g * g - v[i]) * one_m_b2;
    m[i] = mi;
    v[i] = vi;
    if (amsgrad) {
        vi = v_hat[i] > vi ? v_hat[i] : vi;
        v_hat[i] = vi;
    }
    /* m / (sqrt(v) + eps) * alpha: NumpyOps' operations in its order, all in FNN_T */
    p[i] = pi - mi / (sqrt(vi) + eps) * alpha;
}

static void FNN_F(fnn_adam_range)(FNN_T *p, const FNN_T *grad, FNN_T *m, FNN_T *v,
                                  FNN_T *v_hat, ptrdiff_t len, FNN_F(fnn_prep) c,
                                  FNN_T alpha, FNN_T one_m_b1, FNN_T one_m_b2, FNN_T eps) {
    ptrdiff_t i;
    if (v_hat)
        for (i = 0; i < len; i++)
            FNN_F(fnn_adam_elem)(p, grad, m, v, v_hat, i, c, alpha, one_m_b1, one_m_b2, eps, 1);
    else
        for (i = 0; i < len; i++)
            FNN_F(fnn_adam_elem)(p, grad, m, v, v_hat, i, c, alpha, one_m_b1, one_m_b2, eps, 0);
}

static void FNN_F(fnn_adam_block)(const fnn_opt_var *x, ptrdiff_t lo, ptrdiff_t len,
                                  const fnn_adam_params *hp, const fnn_opt_step *s,
                                  FNN_T alpha) {
    FNN_T *param = x->param, *m = x->slot[0], *v = x->slot[1];
    FNN_T *v_hat = hp->amsgrad ? x->slot[2] : NULL;
    const FNN_T *grad = x->grad;
    FNN_F(fnn_adam_range)(param + lo, grad + lo, m + lo, v + lo, v_hat ? v_hat + lo : NULL,
                          len, FNN_F(fnn_make_prep)(x, s), alpha,
                          (FNN_T)(1.0 - hp->beta_1), (FNN_T)(1.0 - hp->beta_2),
                          (FNN_T)hp->epsilon);
}

static void FNN_F(fnn_adam_vars)(const fnn_opt_var *vars, ptrdiff_t count,
                                 const fnn_adam_params *hp, const fnn_opt_step *s,
                                 int n_threads) {
    /* The bias-corrected step size is one scalar per step: computed in double, then
     * rounded to FNN_T once (NumpyOps' Python float, a weak scalar, rounds the same). */
    const FNN_T alpha = (FNN_T)fnn_adam_alpha(hp, s);
    FNN_OPT_FOR_VARS(vars, count, n_threads, x, lo, len,
                     FNN_F(fnn_adam_block)(x, lo, len, hp, s, alpha));
}

/* ------------------------------------------------------------------ sum of squares */

/* Squares are summed in FNN_T in FNN_SUMSQ_LANES independent lanes (several SIMD
 * registers, so the adds do not wait on each other's latency, and no conversions), over
 * runs of FNN_SUMSQ_RUN elements; each run's lane sums are then added in double, in order.
 * float32 keeps ~7 digits over a run's 8 terms per lane; the total gets double's range and
 * precision, and the order is fixed, so the result is deterministic. */
#define FNN_SUMSQ_LANES 16
#define FNN_SUMSQ_RUN 128
static double FNN_F(fnn_sumsq_range)(const FNN_T *x, ptrdiff_t len) {
    double s = 0.0;
    ptrdiff_t i = 0, j, l;
    for (; i + FNN_SUMSQ_RUN <= len; i += FNN_SUMSQ_RUN) {
        FNN_T acc[FNN_SUMSQ_LANES] = {0};
        for (j = 0; j < FNN_SUMSQ_RUN; j += FNN_SUMSQ_LANES)
            for (l = 0; l < FNN_SUMSQ_LANES; l++) acc[l] += x[i + j + l] * x[i + j + l];
        for (l = 0; l < FNN_SUMSQ_LANES; l++) s += (double)acc[l];
    }
    for (; i < len; i++) s += (double)x[i] * (double)x[i];
    return s;
}
#undef FNN_SUMSQ_LANES
#undef FNN_SUMSQ_RUN

double FNN_F(fnn_sum_squares)(const FNN_T *x, ptrdiff_t n, int n_threads) {
    double part[FNN_SUMSQ_MAX_BLOCKS], total = 0.0;
    ptrdiff_t bs = FNN_EW_BLOCK, nb, b;
    int nt;
    if (n <= 0) return 0.0;
    /* Block size from n alone: the block sums, and their order, ignore n_threads. */
    if (n > bs * FNN_SUMSQ_MAX_BLOCKS) {
        bs = (n + FNN_SUMSQ_MAX_BLOCKS - 1) / FNN_SUMSQ_MAX_BLOCKS;
        bs = (bs + 63) / 64 * 64;
    }
    nb = (n + bs - 1) / bs;
    nt = fnn_ew_threads(n, n_threads);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (b = 0; b < nb; b++) {
        ptrdiff_t lo = b * bs, len = n - lo < bs ? n - lo : bs;
        part[b] = FNN_F(fnn_sumsq_range)(x + lo, len);
    }
    for (b = 0; b < nb; b++) total += part[b];
    return total;
}
