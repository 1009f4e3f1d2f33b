/* Optimizer updates, in place, one fused pass over the parameter each (Keras 3 rules).
 *
 * Every update does, per element and in this order: clip the gradient to
 * [-clipvalue, clipvalue] (clipvalue 0 = off), multiply it by grad_scale (clipnorm's
 * factor; 1 = off), apply decoupled weight decay p -= lr*weight_decay*p (0 = off), then
 * the rule.  param and the state arrays are IN/OUT; grad is IN and never written.  All
 * arrays hold n elements, C order.  Hyper-parameters are double and rounded to the
 * element type where NumPy would round them, so results match NumpyOps closely.
 * Elements are independent: splitting them over n_threads never changes a result.
 */
#ifndef FNN_OPTIMIZERS_H
#define FNN_OPTIMIZERS_H

#include <stddef.h>

/* SGD: v = momentum*v - lr*g; p += v (nesterov: p += momentum*v - lr*g).  Without
 * momentum p -= lr*g and velocity may be NULL. */
void fnn_sgd_update_f32(float *param, const float *grad, float *velocity, ptrdiff_t n,
                        double lr, double momentum, int nesterov, double weight_decay,
                        double grad_scale, double clipvalue, int n_threads);
void fnn_sgd_update_f64(double *param, const double *grad, double *velocity, ptrdiff_t n,
                        double lr, double momentum, int nesterov, double weight_decay,
                        double grad_scale, double clipvalue, int n_threads);

/* Adagrad: acc += g^2; p -= lr*g / sqrt(acc + epsilon). */
void fnn_adagrad_update_f32(float *param, const float *grad, float *accumulator,
                            ptrdiff_t n, double lr, double epsilon, double weight_decay,
                            double grad_scale, double clipvalue, int n_threads);
void fnn_adagrad_update_f64(double *param, const double *grad, double *accumulator,
                            ptrdiff_t n, double lr, double epsilon, double weight_decay,
                            double grad_scale, double clipvalue, int n_threads);

/* RMSprop: v = rho*v + (1-rho)*g^2; centered (average_grad != NULL): a = rho*a +
 * (1-rho)*g and the denominator is v - a^2; step = lr*g / sqrt(denominator + epsilon);
 * with momentum_buf != NULL: b = momentum*b + step, p -= b; else p -= step. */
void fnn_rmsprop_update_f32(float *param, const float *grad, float *velocity,
                            float *momentum_buf, float *average_grad, ptrdiff_t n,
                            double lr, double rho, double epsilon, double momentum,
                            double weight_decay, double grad_scale, double clipvalue,
                            int n_threads);
void fnn_rmsprop_update_f64(double *param, const double *grad, double *velocity,
                            double *momentum_buf, double *average_grad, ptrdiff_t n,
                            double lr, double rho, double epsilon, double momentum,
                            double weight_decay, double grad_scale, double clipvalue,
                            int n_threads);

/* Adam (AdamW = weight_decay > 0), step counts from 1: m += (g - m)(1 - beta_1);
 * v += (g^2 - v)(1 - beta_2); p -= alpha * m / (sqrt(v) + epsilon) with
 * alpha = lr*sqrt(1 - beta_2^step)/(1 - beta_1^step).  amsgrad (v_hat != NULL) uses
 * v_hat = max(v_hat, v) in the denominator. */
void fnn_adam_update_f32(float *param, const float *grad, float *m, float *v, float *v_hat,
                         ptrdiff_t n, double lr, double step, double beta_1,
                         double beta_2, double epsilon, double weight_decay,
                         double grad_scale, double clipvalue, int n_threads);
void fnn_adam_update_f64(double *param, const double *grad, double *m, double *v,
                         double *v_hat, ptrdiff_t n, double lr, double step,
                         double beta_1, double beta_2, double epsilon,
                         double weight_decay, double grad_scale, double clipvalue,
                         int n_threads);

/* sum(x^2) in double, for clipnorm.  The array is cut into at most FNN_SUMSQ_MAX_BLOCKS
 * blocks whose size depends on n only, and the block sums are added in order, so the
 * result is the same for every thread count. */
double fnn_sum_squares_f32(const float *x, ptrdiff_t n, int n_threads);
double fnn_sum_squares_f64(const double *x, ptrdiff_t n, int n_threads);

#endif
