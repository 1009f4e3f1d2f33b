/* Optimizer updates, in place, one fused pass over each variable (Keras 3 rules).
 *
 * One entry per rule updates every variable of a model in one call:
 *
 *     fnn_status fnn_<rule>_update(fnn_dtype dtype, const fnn_opt_var *vars,
 *                                  ptrdiff_t count, const fnn_<rule>_params *hp,
 *                                  const fnn_opt_step *step, int n_threads);
 *
 * hp holds the rule's hyperparameters, filled from the rule's record
 * (fastnn/optimizers/rules.py) by its Cython entry; step what the call shares (learning
 * rate, clipping, step number); each fnn_opt_var one variable: its arrays, their length
 * and its own weight decay and gradient scale.  All arrays of one call hold dtype
 * elements, C order, each of its variable's n elements.
 *
 * Every update does, per element and in this order: clip the gradient to
 * [-clipvalue, clipvalue] (clipvalue 0 = off), multiply it by grad_scale (clipnorm's
 * factor; 1 = off), apply decoupled weight decay p -= lr*weight_decay*p (0 = off), then
 * the rule.  param and the slots are IN/OUT; grad is IN and never written.
 * Hyperparameters are double and rounded to the element type where NumPy would round
 * them; every operation on an element is in the element type (float32 arithmetic for
 * float32 variables), in NumpyOps' order.  Elements are independent: splitting them over
 * n_threads never changes a result.
 *
 * An entry returns FNN_NOT_TAKEN, having updated nothing, when a variable lacks a slot
 * its hyperparameters use (momentum buffer, v_hat, ...); else FNN_OK.
 */
#ifndef FNN_OPTIMIZERS_H
#define FNN_OPTIMIZERS_H

#include <stddef.h>

#include "fnn_dispatch.h"

/* The most state arrays a rule keeps per variable (RMSprop's and Adam's three). */
#define FNN_OPT_MAX_SLOTS 3

/* One variable of an update.  slot[i] is the rule's i-th state array (the order of its
 * record's SLOTS), NULL where the rule does not use it. */
typedef struct {
    void *param;
    const void *grad;
    void *slot[FNN_OPT_MAX_SLOTS];
    ptrdiff_t n;
    double weight_decay; /* 0 = off */
    double grad_scale;   /* 1 = off */
} fnn_opt_var;

/* What every variable of one step shares. */
typedef struct {
    double lr;
    double clipvalue; /* 0 = off */
    double step;      /* the step number, from 1: Adam's bias correction */
} fnn_opt_step;

/* SGD: v = momentum*v - lr*g; p += v (nesterov: p += momentum*v - lr*g).  Without
 * momentum p -= lr*g and no slot is read.  Slots: velocity (when momentum != 0). */
typedef struct {
    double momentum;
    int nesterov;
} fnn_sgd_params;

/* Adagrad: acc += g^2; p -= lr*g / sqrt(acc + epsilon).  Slots: accumulator. */
typedef struct {
    double epsilon;
} fnn_adagrad_params;

/* RMSprop: v = rho*v + (1-rho)*g^2; centered: a = rho*a + (1-rho)*g and the denominator
 * is v - a^2; step = lr*g / sqrt(denominator + epsilon); with momentum != 0:
 * b = momentum*b + step, p -= b; else p -= step.
 * Slots: velocity, momentum buffer (when momentum != 0), average gradient (centered). */
typedef struct {
    double rho, momentum, epsilon;
    int centered;
} fnn_rmsprop_params;

/* Adam (AdamW = weight_decay > 0): m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
 * p -= m / (sqrt(v) + epsilon) * alpha with alpha = lr*sqrt(1 - beta_2^step) /
 * (1 - beta_1^step).  amsgrad uses v_hat = max(v_hat, v) in the denominator.
 * Slots: m, v, v_hat (amsgrad). */
typedef struct {
    double beta_1, beta_2, epsilon;
    int amsgrad;
} fnn_adam_params;

fnn_status fnn_sgd_update(fnn_dtype dtype, const fnn_opt_var *vars, ptrdiff_t count,
                          const fnn_sgd_params *hp, const fnn_opt_step *step,
                          int n_threads);
fnn_status fnn_adagrad_update(fnn_dtype dtype, const fnn_opt_var *vars,
                              ptrdiff_t count, const fnn_adagrad_params *hp,
                              const fnn_opt_step *step, int n_threads);
fnn_status fnn_rmsprop_update(fnn_dtype dtype, const fnn_opt_var *vars,
                              ptrdiff_t count, const fnn_rmsprop_params *hp,
                              const fnn_opt_step *step, int n_threads);
fnn_status fnn_adam_update(fnn_dtype dtype, const fnn_opt_var *vars, ptrdiff_t count,
                           const fnn_adam_params *hp, const fnn_opt_step *step,
                           int n_threads);

/* sum(x^2) in double, for clipnorm.  The array is cut into at most FNN_SUMSQ_MAX_BLOCKS
 * blocks whose size depends on n only, and the block sums are added in order, so the
 * result is the same for every thread count. */
double fnn_sum_squares_f32(const float *x, ptrdiff_t n, int n_threads);
double fnn_sum_squares_f64(const double *x, ptrdiff_t n, int n_threads);
/* Its dtype-generic entry (fnn_dispatch.h): the sum into *out. */
fnn_status fnn_sum_squares(fnn_dtype dtype, const void *x, ptrdiff_t n, double *out,
                           int n_threads);

#endif
