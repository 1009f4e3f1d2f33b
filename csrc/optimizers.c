/* Optimizer updates (see optimizers.h), float32 and float64 from one source.
 *
 * Design
 * - One pass per update: each element's gradient is clipped, scaled, its parameter
 *   decayed and the rule applied while everything is in registers, instead of NumPy's
 *   five to ten full-array temporaries.
 * - The loop-invariant switches (clipping, momentum, nesterov, centered, amsgrad) are
 *   tested outside the element loops, so each inner loop is branch-free and vectorises.
 *   Clipping "off" is a clamp to +-inf and scale "off" a multiply by 1, both exact, so
 *   they need no switch at all; weight decay does, because p - 0*p is NaN for p = inf.
 * - Precision: every operation on an element is in the element type, so a float32
 *   variable gets float32 arithmetic throughout, as PyTorch's optimizers and Keras do.
 *   Hyper-parameters are rounded to the element type exactly where NumPy rounds a Python
 *   float (weak scalars in NumPy 2), and each element sees NumpyOps' operations in
 *   NumpyOps' order; Adam's bias-corrected step size is one scalar per step, computed in
 *   double and rounded once.  (It used to stay double, and with it a conversion and a
 *   double division per element: twice the instructions of the float32 loop.)
 *   tests/kernels/test_optimizer_precision.py bounds the float32 result against the
 *   exact one and docs/benchmarks.md ("Speed notes") derives the bound.
 * - sum_squares uses fixed blocks (sizes a function of n only), summed in block order.
 * - One entry per rule takes every variable of a step (fnn_opt_var) and the rule's
 *   parameter struct: a training step crosses from Python once, whatever the number of
 *   variables, and FNN_OPT_FOR_VARS runs all of them in one OpenMP region (one fork and
 *   one join per step, not one per variable).  The entry checks, before touching anything, that each variable has the
 *   slots the hyperparameters use (a NULL there would be a crash, not a fallback), then
 *   runs the dtype's kernel.
 * The kernels are in optimizers_tmpl.h, included once per dtype; the entries at the end
 * of this file pick the dtype, so nothing above C hand-writes a float32/float64 pair.
 */
#include <math.h>
#include <stddef.h>
#include <tgmath.h>

#include "ew_common.h"
#include "optimizers.h"

/* Block sums of sum_squares live on the stack: at most this many blocks, each at least
 * FNN_EW_BLOCK long. */
#define FNN_SUMSQ_MAX_BLOCKS 256

/* Cheap elements per update: an optimizer streams 3-6 arrays per element, so its
 * "element" is a few times the traffic of an activation's. */
#define FNN_OPT_COST ((ptrdiff_t)2)

/* Elements of all the variables of one call. */
static ptrdiff_t fnn_opt_total(const fnn_opt_var *vars, ptrdiff_t count) {
    ptrdiff_t t, total = 0;
    for (t = 0; t < count; t++) total += vars[t].n > 0 ? vars[t].n : 0;
    return total;
}

/* Adam's bias-corrected step size lr*sqrt(1 - beta_2^t) / (1 - beta_1^t), one scalar. */
static double fnn_adam_alpha(const fnn_adam_params *hp, const fnn_opt_step *s) {
    return s->lr * sqrt(1.0 - pow(hp->beta_2, s->step)) / (1.0 - pow(hp->beta_1, s->step));
}

/* Runs STMT over every variable X of vars[0:count], with LO and LEN bound to a range of
 * its elements.  Small steps stay on the caller's thread, one range per variable.  Else
 * one parallel region covers the whole step: each variable's fixed FNN_EW_BLOCK blocks
 * are shared out by a static "omp for" without a barrier between variables, so threads
 * do not wait on each other until the step ends.  The blocks do not depend on the
 * thread count and elements are independent, so neither do the results. */
#define FNN_OPT_FOR_VARS(vars, count, n_threads, X, LO, LEN, STMT)                      \
    do {                                                                              \
        const int fnn_nt_ =                                                           \
            fnn_ew_threads(fnn_opt_total((vars), (count)) * FNN_OPT_COST, (n_threads)); \
        if (fnn_nt_ <= 1) {                                                           \
            ptrdiff_t fnn_v_;                                                         \
            for (fnn_v_ = 0; fnn_v_ < (count); fnn_v_++) {                            \
                const fnn_opt_var *X = &(vars)[fnn_v_];                               \
                const ptrdiff_t LO = 0, LEN = X->n;                                   \
                if (LEN > 0) STMT;                                                    \
            }                                                                         \
        } else {                                                                      \
            _Pragma("omp parallel num_threads(fnn_nt_)")                              \
            {                                                                         \
                ptrdiff_t fnn_v_, fnn_b_;                                             \
                for (fnn_v_ = 0; fnn_v_ < (count); fnn_v_++) {                        \
                    const fnn_opt_var *X = &(vars)[fnn_v_];                           \
                    const ptrdiff_t fnn_nb_ = X->n > 0 ? fnn_ew_nblocks(X->n) : 0;    \
                    _Pragma("omp for schedule(static) nowait")                        \
                    for (fnn_b_ = 0; fnn_b_ < fnn_nb_; fnn_b_++) {                    \
                        const ptrdiff_t LO = fnn_b_ * FNN_EW_BLOCK;                   \
                        const ptrdiff_t LEN = fnn_ew_block_len(fnn_b_, X->n);         \
                        STMT;                                                         \
                    }                                                                 \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    } while (0)

#define FNN_TEMPLATE "optimizers_tmpl.h"
#include "fnn_instantiate.h"

/* Whether every non-empty variable has each slot whose bit is set in `used`. */
static int fnn_opt_slots_present(const fnn_opt_var *vars, ptrdiff_t count, unsigned used) {
    ptrdiff_t t;
    int i;
    for (t = 0; t < count; t++) {
        if (vars[t].n <= 0) continue;
        if (!vars[t].param || !vars[t].grad) return 0;
        for (i = 0; i < FNN_OPT_MAX_SLOTS; i++)
            if ((used >> i & 1u) && !vars[t].slot[i]) return 0;
    }
    return 1;
}

/* The body of every entry: check the slots the rule uses, then run the dtype's kernel. */
#define FNN_OPT_ENTRY(rule, used)                                                      \
    do {                                                                               \
        if (!fnn_opt_slots_present(vars, count, (used))) return FNN_NOT_TAKEN;         \
        if (dtype == FNN_FLOAT64)                                                  \
            fnn_##rule##_vars_f64(vars, count, hp, step, n_threads);                   \
        else                                                                           \
            fnn_##rule##_vars_f32(vars, count, hp, step, n_threads);                   \
        return FNN_OK;                                                                 \
    } while (0)

fnn_status fnn_sgd_update(fnn_dtype dtype, const fnn_opt_var *vars, ptrdiff_t count,
                          const fnn_sgd_params *hp, const fnn_opt_step *step,
                          int n_threads) {
    FNN_OPT_ENTRY(sgd, hp->momentum != 0.0 ? 1u : 0u);
}

fnn_status fnn_adagrad_update(fnn_dtype dtype, const fnn_opt_var *vars,
                              ptrdiff_t count, const fnn_adagrad_params *hp,
                              const fnn_opt_step *step, int n_threads) {
    FNN_OPT_ENTRY(adagrad, 1u);
}

fnn_status fnn_rmsprop_update(fnn_dtype dtype, const fnn_opt_var *vars,
                              ptrdiff_t count, const fnn_rmsprop_params *hp,
                              const fnn_opt_step *step, int n_threads) {
    FNN_OPT_ENTRY(rmsprop, 1u | (hp->momentum != 0.0 ? 2u : 0u) | (hp->centered ? 4u : 0u));
}

fnn_status fnn_adam_update(fnn_dtype dtype, const fnn_opt_var *vars, ptrdiff_t count,
                           const fnn_adam_params *hp, const fnn_opt_step *step,
                           int n_threads) {
    FNN_OPT_ENTRY(adam, 3u | (hp->amsgrad ? 4u : 0u));
}

fnn_status fnn_sum_squares(fnn_dtype dtype, const void *x, ptrdiff_t n, double *out,
                           int n_threads) {
    switch (dtype) {
    case FNN_FLOAT32: *out = fnn_sum_squares_f32(x, n, n_threads); return FNN_OK;
    case FNN_FLOAT64: *out = fnn_sum_squares_f64(x, n, n_threads); return FNN_OK;
    }
    return FNN_NOT_TAKEN;
}
