/* Counter-based random numbers for dropout: SplitMix64 on (seed, stream, index).
 *
 * Element i of stream (seed, stream) is a pure function of the three, so a mask is the
 * same whatever the thread count or block split, and equal bit for bit to NumPy's
 * counter_uniform / dropout_mask in fastnn/backend/numpy_ops.py.  All arithmetic is
 * uint64 with wrap-around, exactly as NumPy's uint64 arrays compute it.
 */
#ifndef FNN_RNG_H
#define FNN_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "fnn_dispatch.h"

/* The 64-bit key of (seed, stream): splitmix64(splitmix64(seed*golden) ^ stream). */
uint64_t fnn_counter_key(uint64_t seed, uint64_t stream);

/* OUT u_out[n]: u_out[i] = (splitmix64(key + (i+1)*golden) >> 40) * 2^-24, in [0, 1). */
void fnn_counter_uniform_f64(uint64_t seed, uint64_t stream, double *u_out, ptrdiff_t n,
                             int n_threads);

/* Inverted-dropout multiplier.  OUT mask_out[n]: 1/(1-rate) (rounded to the element
 * type) where u_i >= rate, else 0.  rate must be < 1. */
void fnn_dropout_mask_f32(uint64_t seed, uint64_t stream, double rate, float *mask_out,
                          ptrdiff_t n, int n_threads);
void fnn_dropout_mask_f64(uint64_t seed, uint64_t stream, double rate, double *mask_out,
                          ptrdiff_t n, int n_threads);

/* The dtype-generic entry fastnn/_native calls (fnn_dispatch.h): the mask above with a
 * void pointer, dtype an fnn_dtype.  FNN_NOT_TAKEN for an unknown dtype, else FNN_OK. */
fnn_status fnn_dropout_mask(fnn_dtype dtype, uint64_t seed, uint64_t stream, double rate,
                            void *mask_out, ptrdiff_t n, int n_threads);

#endif
