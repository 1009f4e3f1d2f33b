/* The direct convolution's lane vectors for the portable build (conv.c): FNN_DIRECT_LANES
 * values in a struct, every operation a loop the compiler may vectorise with the
 * baseline instruction set; multiply and add are not fused, as in the portable GEMM
 * kernel.  direct_avx2.c and direct_avx512.c define the same helpers on intrinsics.
 * The contract of each helper is in direct_tmpl.h's header comment. */
#ifndef FNN_CONV_DIRECT_VEC_PORTABLE_H
#define FNN_CONV_DIRECT_VEC_PORTABLE_H

#include <stddef.h>

#include "direct.h"

#define FNN_DIRECT_PORTABLE_VEC(T, DT)                                                    \
    typedef struct {                                                                      \
        T l[FNN_DIRECT_LANES];                                                            \
    } fnn_dvec_##DT;                                                                      \
    static inline T fnn_direct_fma_##DT(T a, T b, T c)                                    \
    {                                                                                     \
        return a * b + c;                                                                 \
    }                                                                                     \
    static inline fnn_dvec_##DT fnn_dv_load_##DT(const T *p)                              \
    {                                                                                     \
        fnn_dvec_##DT v;                                                                  \
        int i;                                                                            \
        for (i = 0; i < FNN_DIRECT_LANES; ++i)                                            \
            v.l[i] = p[i];                                                                \
        return v;                                                                         \
    }                                                                                     \
    static inline fnn_dvec_##DT fnn_dv_load_n_##DT(const T *p, ptrdiff_t n)               \
    {                                                                                     \
        fnn_dvec_##DT v;                                                                  \
        ptrdiff_t i;                                                                      \
        for (i = 0; i < FNN_DIRECT_LANES; ++i)                                            \
            v.l[i] = i < n ? p[i] : 0;                                                    \
        return v;                                                                         \
    }                                                                                     \
    static inline fnn_dvec_##DT fnn_dv_zero_##DT(void)                                    \
    {                                                                                     \
        fnn_dvec_##DT v;                                                                  \
        int i;                                                                            \
        for (i = 0; i < FNN_DIRECT_LANES; ++i)                                            \
            v.l[i] = 0;                                                                   \
        return v;                                                                         \
    }                                                                                     \
    static inline fnn_dvec_##DT fnn_dv_fma_##DT(T s, fnn_dvec_##DT w, fnn_dvec_##DT acc)  \
    {                                                                                     \
        int i;                                                                            \
        for (i = 0; i < FNN_DIRECT_LANES; ++i)                                            \
            acc.l[i] = s * w.l[i] + acc.l[i];                                             \
        return acc;                                                                       \
    }                                                                                     \
    static inline fnn_dvec_##DT fnn_dv_add_##DT(fnn_dvec_##DT a, fnn_dvec_##DT b)         \
    {                                                                                     \
        int i;                                                                            \
        for (i = 0; i < FNN_DIRECT_LANES; ++i)                                            \
            a.l[i] += b.l[i];                                                             \
        return a;                                                                         \
    }                                                                                     \
    static inline void fnn_dv_store_##DT(T *p, fnn_dvec_##DT v)                           \
    {                                                                                     \
        int i;                                                                            \
        for (i = 0; i < FNN_DIRECT_LANES; ++i)                                            \
            p[i] = v.l[i];                                                                \
    }                                                                                     \
    static inline void fnn_dv_store_n_##DT(T *p, fnn_dvec_##DT v, ptrdiff_t n)            \
    {                                                                                     \
        ptrdiff_t i;                                                                      \
        for (i = 0; i < n; ++i)                                                           \
            p[i] = v.l[i];                                                                \
    }

FNN_DIRECT_PORTABLE_VEC(float, f32)
FNN_DIRECT_PORTABLE_VEC(double, f64)

#undef FNN_DIRECT_PORTABLE_VEC

#endif
