/* Activation kernels, written once for both dtypes (see activations.c).
 *
 * Included twice by activations.c with
 *   FNN_T      the element type (float, double);
 *   FNN_F(n)   the name with the dtype suffix (n##_f32, n##_f64).
 * exp, expm1, log1p and tanh are fnn_math.h's vectorisable FNN_F(fnn_exp) etc., so every
 * loop but GELU's vectorises; GELU's erfc is libm's, in double (see fnn_norm_cdf).  Every
 * literal goes through K() so that float code is never silently promoted to double.
 * Reductions (softmax sums) accumulate in double for both dtypes.
 *
 * Every loop reads element i before it writes element i, so an output may alias an input
 * exactly (out=x in place); partial overlaps are refused in Python.
 */

#define K(v) ((FNN_T)(v))

/* Sigmoid in two branches so that exp never overflows: e = exp(-|x|) is always <= 1. */
static inline FNN_T FNN_F(fnn_sigmoid1)(FNN_T x) {
    FNN_T e = FNN_F(fnn_exp)(-fabs(x));
    return x >= 0 ? K(1) / (K(1) + e) : e / (K(1) + e);
}

/* Standard normal CDF, 0.5 * (1 + erf(x / sqrt 2)) written as 0.5 * erfc(-x / sqrt 2): the
 * same value, without the cancellation 1 + erf suffers for x < 0 (in float32 the erf form
 * has ~1 correct digit left at x = -5).  Computed in double for float32 too: erfc(z) for
 * large z magnifies the rounding of its argument ~2z^2 times (100+ ulp in float32 at
 * x = -11), as NumPy's float64 reference does not. */
static inline FNN_T FNN_F(fnn_norm_cdf)(FNN_T x) {
    return (FNN_T)(0.5 * erfc((double)x * -FNN_INV_SQRT2));
}

/* ------------------------------------------------------------------ forward, serial */

/* IN x[n]; OUT y_out[n] (may alias x).  One loop per activation: the switch stays outside
 * the loops, so each is a plain loop the compiler vectorises. */
static void FNN_F(fnn_act_forward_serial)(int act, FNN_T alpha, const FNN_T *x,
                                          FNN_T *y_out, ptrdiff_t n) {
    ptrdiff_t i;
    switch (act) {
    case FNN_ACT_LINEAR:
        if (y_out != x)
            for (i = 0; i < n; i++) y_out[i] = x[i];
        break;
    case FNN_ACT_RELU:
        /* "x < 0 ? 0 : x" keeps NaN as NaN, like np.maximum. */
        for (i = 0; i < n; i++) y_out[i] = x[i] < 0 ? K(0) : x[i];
        break;
    case FNN_ACT_SIGMOID:
        for (i = 0; i < n; i++) y_out[i] = FNN_F(fnn_sigmoid1)(x[i]);
        break;
    case FNN_ACT_TANH:
        for (i = 0; i < n; i++) y_out[i] = FNN_F(fnn_tanh)(x[i]);
        break;
    case FNN_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++) y_out[i] = x[i] > 0 ? x[i] : alpha * x[i];
        break;
    case FNN_ACT_ELU:
        for (i = 0; i < n; i++) {
            FNN_T v = x[i];
            y_out[i] = v > 0 ? v : alpha * FNN_F(fnn_expm1)(v < 0 ? v : K(0));
        }
        break;
    case FNN_ACT_SELU:
        for (i = 0; i < n; i++) {
            FNN_T v = x[i];
            FNN_T neg = K(FNN_SELU_ALPHA) * FNN_F(fnn_expm1)(v < 0 ? v : K(0));
            y_out[i] = K(FNN_SELU_SCALE) * (v > 0 ? v : neg);
        }
        break;
    case FNN_ACT_GELU:
        for (i = 0; i < n; i++) {
            FNN_T v = x[i];
            y_out[i] = v * FNN_F(fnn_norm_cdf)(v);
        }
        break;
    case FNN_ACT_SOFTPLUS:
        /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large x and no
         * lost digits for very negative x. */
        for (i = 0; i < n; i++) {
            FNN_T v = x[i];
            y_out[i] = (v > 0 ? v : K(0)) + FNN_F(fnn_log1p)(FNN_F(fnn_exp)(-fabs(v)));
        }
        break;
    case FNN_ACT_SWISH:
        for (i = 0; i < n; i++) {
            FNN_T v = x[i];
            y_out[i] = v * FNN_F(fnn_sigmoid1)(v);
        }
        break;
    default: /* softmax is row-wise: callers use fnn_softmax_* */
        break;
    }
}

void FNN_F(fnn_act_forward_inplace)(int act, FNN_T alpha, FNN_T *x, ptrdiff_t n) {
    FNN_F(fnn_act_forward_serial)(act, alpha, x, x, n);
}

/* ------------------------------------------------------------------ backward, serial */

/* IN dy[n], y[n] (the forward output), x[n] (pre-activation, only read for gelu and
 * swish; may be NULL otherwise); OUT dx_out[n] (may alias dy, y or x). */
static void FNN_F(fnn_act_backward_serial)(int act, FNN_T alpha, const FNN_T *dy,
                                           const FNN_T *y, const FNN_T *x, FNN_T *dx_out,
                                           ptrdiff_t n) {
    ptrdiff_t i;
    switch (act) {
    case FNN_ACT_LINEAR:
        if (dx_out != dy)
            for (i = 0; i < n; i++) dx_out[i] = dy[i];
        break;
    case FNN_ACT_RELU:
        /* dy * (y > 0), not a select, so that a NaN in dy propagates as in NumPy. */
        for (i = 0; i < n; i++) dx_out[i] = dy[i] * (y[i] > 0 ? K(1) : K(0));
        break;
    case FNN_ACT_SIGMOID:
        for (i = 0; i < n; i++) dx_out[i] = dy[i] * y[i] * (K(1) - y[i]);
        break;
    case FNN_ACT_TANH:
        for (i = 0; i < n; i++) dx_out[i] = dy[i] * (K(1) - y[i] * y[i]);
        break;
    case FNN_ACT_LEAKY_RELU:
        /* for alpha >= 0, y > 0 exactly when x > 0 */
        for (i = 0; i < n; i++) dx_out[i] = y[i] > 0 ? dy[i] : alpha * dy[i];
        break;
    case FNN_ACT_ELU:
        /* y = alpha*(e^x - 1) for x <= 0, so f'(x) = alpha*e^x = y + alpha */
        for (i = 0; i < n; i++) dx_out[i] = y[i] > 0 ? dy[i] : dy[i] * (y[i] + alpha);
        break;
    case FNN_ACT_SELU:
        for (i = 0; i < n; i++)
            dx_out[i] = y[i] > 0 ? dy[i] * K(FNN_SELU_SCALE)
                                 : dy[i] * (y[i] + K(FNN_SELU_SCALE * FNN_SELU_ALPHA));
        break;
    case FNN_ACT_SOFTPLUS:
        /* sigmoid(x) = 1 - exp(-softplus(x)) = -expm1(-y) */
        for (i = 0; i < n; i++) dx_out[i] = dy[i] * -FNN_F(fnn_expm1)(-y[i]);
        break;
    case FNN_ACT_GELU:
        for (i = 0; i < n; i++) {
            FNN_T v = x[i];
            FNN_T pdf = FNN_F(fnn_exp)(K(-0.5) * v * v) * K(FNN_INV_SQRT_2PI);
            dx_out[i] = dy[i] * (FNN_F(fnn_norm_cdf)(v) + v * pdf);
        }
        break;
    case FNN_ACT_SWISH:
        for (i = 0; i < n; i++) {
            FNN_T v = x[i], s = FNN_F(fnn_sigmoid1)(v);
            dx_out[i] = dy[i] * (s * (K(1) + v * (K(1) - s)));
        }
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ parallel drivers */

void FNN_F(fnn_act_forward)(int act, FNN_T alpha, const FNN_T *x, FNN_T *y_out,
                            ptrdiff_t n, int n_threads) {
    FNN_EW_FOR_BLOCKS(n, fnn_act_cost(act), n_threads, lo, len,
                      FNN_F(fnn_act_forward_serial)(act, alpha, x + lo, y_out + lo, len));
}

void FNN_F(fnn_act_backward)(int act, FNN_T alpha, const FNN_T *dy, const FNN_T *y,
                             const FNN_T *x, FNN_T *dx_out, ptrdiff_t n, int n_threads) {
    FNN_EW_FOR_BLOCKS(n, fnn_act_cost(act), n_threads, lo, len,
                      FNN_F(fnn_act_backward_serial)(act, alpha, dy + lo, y + lo,
                                                     x ? x + lo : NULL, dx_out + lo, len));
}

/* ------------------------------------------------------------------ softmax (row-wise) */

/* One row: IN x[cols]; OUT y_out[cols] (may alias x).  Shifted by the row maximum so
 * that exp never overflows; the sum is taken in double so that long float32 rows keep
 * their digits. */
static void FNN_F(fnn_softmax_row)(const FNN_T *x, FNN_T *y_out, ptrdiff_t cols) {
    ptrdiff_t j;
    FNN_T m = x[0], st;
    double s = 0.0;
#pragma omp simd reduction(max : m)
    for (j = 1; j < cols; j++) m = x[j] > m ? x[j] : m;
#pragma omp simd reduction(+ : s)
    for (j = 0; j < cols; j++) {
        FNN_T e = FNN_F(fnn_exp)(x[j] - m);
        y_out[j] = e;
        s += (double)e;
    }
    st = (FNN_T)s;
    for (j = 0; j < cols; j++) y_out[j] /= st;
}

/* One row: IN dy[cols], y[cols]; OUT dx_out[cols] (may alias dy or y):
 * dx = y * (dy - sum(dy * y)). */
static void FNN_F(fnn_softmax_backward_row)(const FNN_T *dy, const FNN_T *y, FNN_T *dx_out,
                                            ptrdiff_t cols) {
    ptrdiff_t j;
    double s = 0.0;
    FNN_T st;
    /* omp simd: several partial sums in a fixed, compile-time order (deterministic) */
#pragma omp simd reduction(+ : s)
    for (j = 0; j < cols; j++) s += (double)(dy[j] * y[j]);
    st = (FNN_T)s;
    for (j = 0; j < cols; j++) dx_out[j] = y[j] * (dy[j] - st);
}

void FNN_F(fnn_softmax)(const FNN_T *x, FNN_T *y_out, ptrdiff_t rows, ptrdiff_t cols,
                        int n_threads) {
    int nt = fnn_ew_threads(rows * cols * FNN_EW_COST_TRANSC, n_threads);
    ptrdiff_t r;
    if (cols <= 0) return;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (r = 0; r < rows; r++) FNN_F(fnn_softmax_row)(x + r * cols, y_out + r * cols, cols);
}

void FNN_F(fnn_softmax_backward)(const FNN_T *dy, const FNN_T *y, FNN_T *dx_out,
                                 ptrdiff_t rows, ptrdiff_t cols, int n_threads) {
    int nt = fnn_ew_threads(rows * cols, n_threads);
    ptrdiff_t r;
    if (cols <= 0) return;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (r = 0; r < rows; r++)
        FNN_F(fnn_softmax_backward_row)(dy + r * cols, y + r * cols, dx_out + r * cols, cols);
}

#undef K
