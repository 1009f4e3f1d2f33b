/* The direct convolution for few channels (direct_tmpl.h; the selection rule is in
 * conv.c), one copy per instruction set:
 * _portable (conv.c, the baseline build), _avx2 (direct_avx2.c) and _avx512
 * (direct_avx512.c), each for float32 and float64.  conv_tmpl.h picks the copy that
 * matches the GEMM's kernel (so FASTNN_DISABLE_SIMD and FASTNN_GEMM_KERNEL choose for
 * both); the SIMD copies exist only in builds that compiled them (FNN_HAVE_*_BUILD).
 *
 * wpad: the kernel as K = KH*KW*C rows of FNN_DIRECT_LANES values (zeros past F); bpad:
 * the bias in LANES values (zeros past F, all zeros without bias).  dwacc: K rows of
 * LANES, dbacc: LANES; the backward adds into them.
 */
#ifndef FNN_CONV_DIRECT_H
#define FNN_CONV_DIRECT_H

#include <stddef.h>
#include <string.h>

#include "conv.h"

/* The output-channel vector width, and so the largest F the direct path takes. */
#define FNN_DIRECT_LANES 16
/* The largest C the backward takes with dx (conv.c's selection rule), and the forward's
 * (and the backward's without dx). */
#define FNN_DIRECT_MAX_C 4
#ifndef FNN_DIRECT_MAX_C_FWD
#define FNN_DIRECT_MAX_C_FWD 16
#endif

/* Values of fnn_direct_forward_row's band scratch: KH input rows of the output row's
 * width, padding included. */
#define FNN_DIRECT_BAND_SIZE(g) ((g)->kh * ((g)->ow - 1) * (g)->sw * (g)->c + (g)->kh * (g)->kw * (g)->c)

#define FNN_DIRECT_PASTE_(a, b) a##b
#define FNN_DIRECT_PASTE(a, b) FNN_DIRECT_PASTE_(a, b)

#define FNN_DIRECT_DECLARE(T, DT, ISA)                                                    \
    void fnn_direct_forward_row_##DT##_##ISA(const fnn_conv_geom *g, const T *x,          \
                                             const T *wpad, const T *bpad, ptrdiff_t r,   \
                                             T *y_row, T *band);                          \
    void fnn_direct_backward_images_##DT##_##ISA(                                         \
        const fnn_conv_geom *g, const T *x, const T *wpad, const T *dz, ptrdiff_t img0,   \
        ptrdiff_t img1, T *dx, T *dwacc, T *dbacc, T *xpad, T *dzpad);

FNN_DIRECT_DECLARE(float, f32, portable)
FNN_DIRECT_DECLARE(double, f64, portable)
FNN_DIRECT_DECLARE(float, f32, avx2)
FNN_DIRECT_DECLARE(double, f64, avx2)
FNN_DIRECT_DECLARE(float, f32, avx512)
FNN_DIRECT_DECLARE(double, f64, avx512)

#undef FNN_DIRECT_DECLARE

#endif
