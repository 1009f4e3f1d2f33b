/* The dtype-generic entry of each kernel: one C function that the Cython layer calls for
 * both float32 and float64.
 *
 * A kernel's body is written once in its *_tmpl.h and instantiated as name_f32 and
 * name_f64 by fnn_instantiate.h.  Next to that instantiation, its .c file defines the one
 * entry Cython sees, with the arrays as void pointers and the dtype as an fnn_dtype:
 *
 *     fnn_status fnn_softmax(fnn_dtype dtype, const void *x, void *y_out, ...)
 *     {
 *         FNN_DISPATCH_VOID(dtype, fnn_softmax, (x, y_out, ...));
 *     }
 *
 * The macro calls name_f32 or name_f64 with the same arguments: void pointers convert to
 * the typed ones implicitly, and a double scalar to the kernel's FNN_T.  So the Cython
 * side has no float32/float64 branches at all (the choice is this one switch), and the
 * typed variants stay available to C callers (the GEMM epilogue, the C tests).
 */
#ifndef FNN_DISPATCH_H
#define FNN_DISPATCH_H

#include "fnn_status.h"

/* The element type of an entry's arrays (the Cython layer maps NumPy's typenum onto it). */
typedef enum {
    FNN_FLOAT32 = 0,
    FNN_FLOAT64 = 1
} fnn_dtype;

/* Body of an entry whose kernel returns an fnn_status. */
#define FNN_DISPATCH(dtype, name, args)                   \
    do {                                                  \
        switch (dtype) {                                  \
        case FNN_FLOAT32: return name##_f32 args;         \
        case FNN_FLOAT64: return name##_f64 args;         \
        }                                                 \
        return FNN_NOT_TAKEN;                             \
    } while (0)

/* Body of an entry whose kernel cannot fail (returns void). */
#define FNN_DISPATCH_VOID(dtype, name, args)              \
    do {                                                  \
        switch (dtype) {                                  \
        case FNN_FLOAT32: name##_f32 args; return FNN_OK; \
        case FNN_FLOAT64: name##_f64 args; return FNN_OK; \
        }                                                 \
        return FNN_NOT_TAKEN;                             \
    } while (0)

#endif
