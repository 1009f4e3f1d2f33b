/* Counter-based RNG and dropout masks (see rng.h).
 *
 * Design
 * - SplitMix64's finaliser is a good 64-bit mixer, so hashing a counter is enough; there
 *   is no state to carry between elements, which is what makes the mask independent of
 *   how the array is split over threads.
 * - A uniform keeps the top 24 bits, exact in float32 and float64 alike, and "keep" is
 *   u >= rate compared in double, the same comparison NumPy makes.
 * - The 64-bit multiplies do not vectorise on baseline SSE2, so a mask element costs a
 *   few ns; it counts as a transcendental element for the threading threshold.
 * - The mask is written once for both dtypes in rng_tmpl.h; fnn_dropout_mask, its
 *   dtype-generic entry (fnn_dispatch.h), is what fastnn/_native calls.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ew_common.h"
#include "rng.h"

#define FNN_GOLDEN UINT64_C(0x9E3779B97F4A7C15)
#define FNN_MIX1 UINT64_C(0xBF58476D1CE4E5B9)
#define FNN_MIX2 UINT64_C(0x94D049BB133111EB)
#define FNN_U24 (1.0 / 16777216.0) /* 2^-24 */

static inline uint64_t fnn_splitmix64(uint64_t z) {
    z ^= z >> 30;
    z *= FNN_MIX1;
    z ^= z >> 27;
    z *= FNN_MIX2;
    return z ^ (z >> 31);
}

uint64_t fnn_counter_key(uint64_t seed, uint64_t stream) {
    return fnn_splitmix64(fnn_splitmix64(seed * FNN_GOLDEN) ^ stream);
}

/* The uniform of global element index i (counting from 0; the counter starts at 1). */
static inline double fnn_counter_u(uint64_t key, ptrdiff_t i) {
    uint64_t z = fnn_splitmix64(key + (uint64_t)(i + 1) * FNN_GOLDEN);
    return (double)(z >> 40) * FNN_U24;
}

static void fnn_uniform_range(uint64_t key, double *u_out, ptrdiff_t lo, ptrdiff_t len) {
    ptrdiff_t i;
    for (i = 0; i < len; i++) u_out[i] = fnn_counter_u(key, lo + i);
}

void fnn_counter_uniform_f64(uint64_t seed, uint64_t stream, double *u_out, ptrdiff_t n,
                             int n_threads) {
    uint64_t key = fnn_counter_key(seed, stream);
    FNN_EW_FOR_BLOCKS(n, FNN_EW_COST_TRANSC, n_threads, lo, len,
                      fnn_uniform_range(key, u_out + lo, lo, len));
}

/* "u >= rate" with u = k * 2^-24 (k the top 24 bits) is exactly "k >= ceil(rate * 2^24)":
 * rate * 2^24 is exact in double, and k is an integer.  The mask loop then needs no
 * int -> double conversion.  The counter advances by addition, not a multiply. */
static uint64_t fnn_keep_threshold(double rate) {
    double t = ceil(rate * 16777216.0);
    return t <= 0.0 ? 0 : (uint64_t)t;
}

/* The dropout mask, one body for both dtypes (rng_tmpl.h). */
#define FNN_TEMPLATE "rng_tmpl.h"
#include "fnn_instantiate.h"

/* The dtype-generic entry (fnn_dispatch.h). */
fnn_status fnn_dropout_mask(fnn_dtype dtype, uint64_t seed, uint64_t stream, double rate,
                            void *mask_out, ptrdiff_t n, int n_threads)
{
    FNN_DISPATCH_VOID(dtype, fnn_dropout_mask, (seed, stream, rate, mask_out, n, n_threads));
}
