/* Shared plumbing for the element-wise, loss and optimizer kernels (internal header).
 *
 * Threading policy.  These loops are memory-bound (a few flops per 8-16 bytes moved), so a
 * thread only pays for its start-up and for the cache traffic it adds when it gets a large
 * slice: below FNN_EW_GRAIN "units of work" per thread the work stays on the caller's
 * thread.  A unit is one cheap element (a load, a few flops, a store); kernels that call a
 * transcendental per element count FNN_EW_COST_TRANSC units each, because there the
 * arithmetic, not the memory, is the limit and threads pay off sooner.
 *
 * Determinism.  Work is split into fixed-size blocks (FNN_EW_BLOCK elements) and, for
 * reductions, each block's partial result is combined in block order.  Block boundaries do
 * not depend on the thread count, so neither do the results.
 */
#ifndef FNN_EW_COMMON_H
#define FNN_EW_COMMON_H

#include <stddef.h>

/* Including this header lets GCC if-convert selects such as "y > 0 ? dy : alpha * dy"
 * into vector blends in the rest of the file.  Under the default -ftrapping-math it will
 * not evaluate both arms (one might raise an FP exception flag, which nothing here
 * reads), and such loops stay scalar with a data-dependent branch.  Results are
 * unchanged; Clang behaves this way by default.  (-fno-math-errno, which would also let
 * sqrt vectorise in the optimizers, only works as a command-line flag.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* ~32K cheap elements per thread (128 KiB of float32 in, 128 KiB out) before a second thread
 * is worth waking: the usual break-even for memory-bound loops, where the wake-up and
 * barrier of a parallel region cost a few microseconds.  (Re-measure on a quiet multicore
 * machine; the 2-core development box was too contended to resolve it.) */
#define FNN_EW_GRAIN ((ptrdiff_t)32768)
/* An element that needs exp/log/erf/tanh costs roughly this many cheap elements. */
#define FNN_EW_COST_TRANSC ((ptrdiff_t)8)
/* Elements per parallel block: a multiple of every SIMD width, small enough to balance. */
#define FNN_EW_BLOCK ((ptrdiff_t)8192)

/* Threads to use for `work` units given at most `n_threads`; 1 means "stay serial". */
static inline int fnn_ew_threads(ptrdiff_t work, int n_threads) {
    ptrdiff_t t;
    if (n_threads <= 1 || work < 2 * FNN_EW_GRAIN) return 1;
    t = work / FNN_EW_GRAIN;
    return t < (ptrdiff_t)n_threads ? (int)t : n_threads;
}

/* Blocks of FNN_EW_BLOCK covering n elements. */
static inline ptrdiff_t fnn_ew_nblocks(ptrdiff_t n) {
    return (n + FNN_EW_BLOCK - 1) / FNN_EW_BLOCK;
}

/* Length of block b of n elements. */
static inline ptrdiff_t fnn_ew_block_len(ptrdiff_t b, ptrdiff_t n) {
    ptrdiff_t rest = n - b * FNN_EW_BLOCK;
    return rest < FNN_EW_BLOCK ? rest : FNN_EW_BLOCK;
}

/* Runs STMT over [0, n) with the names LO and LEN bound to a range: the whole array on
 * one thread when the work is small, else fixed FNN_EW_BLOCK blocks on up to n_threads
 * OpenMP threads.  STMT must only touch elements [LO, LO + LEN). */
#define FNN_EW_FOR_BLOCKS(n, cost, n_threads, LO, LEN, STMT)                          \
    do {                                                                              \
        const ptrdiff_t fnn_n_ = (n);                                                 \
        const int fnn_nt_ = fnn_ew_threads(fnn_n_ * (cost), (n_threads));             \
        if (fnn_nt_ <= 1) {                                                           \
            const ptrdiff_t LO = 0, LEN = fnn_n_;                                     \
            STMT;                                                                     \
        } else {                                                                      \
            const ptrdiff_t fnn_nb_ = fnn_ew_nblocks(fnn_n_);                         \
            ptrdiff_t fnn_b_;                                                         \
            _Pragma("omp parallel for schedule(static) num_threads(fnn_nt_)")         \
            for (fnn_b_ = 0; fnn_b_ < fnn_nb_; fnn_b_++) {                            \
                const ptrdiff_t LO = fnn_b_ * FNN_EW_BLOCK;                           \
                const ptrdiff_t LEN = fnn_ew_block_len(fnn_b_, fnn_n_);               \
                STMT;                                                                 \
            }                                                                         \
        }                                                                             \
    } while (0)

#endif
