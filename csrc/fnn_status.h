/* The one status enum of fastnn's native layer.
 *
 * Every kernel that can fail and every Cython entry returns one of these; Python sees
 * the same numbers through fastnn/_native/_status.pxi, so a code means one thing
 * everywhere.  Kernels that cannot fail return void.
 */
#ifndef FNN_STATUS_H
#define FNN_STATUS_H

typedef enum {
    FNN_OK = 0,
    /* A kernel could not allocate its scratch memory (the GEMM's packing buffers). */
    FNN_NO_MEMORY = -1,
    /* A sparse label lies outside [0, k): nothing was written. */
    FNN_BAD_LABEL = -2,
    /* An entry refused its arguments (dtype, layout, shape or overlap it does not take):
     * nothing was computed, and the caller takes its general path. */
    FNN_NOT_TAKEN = -3
} fnn_status;

#endif
