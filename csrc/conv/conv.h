/* Convolution and pooling kernels on channels-last (NHWC) images, float32 and float64.
 *
 * conv.c instantiates conv_tmpl.h and pool_tmpl.h for both dtypes (fnn_instantiate.h)
 * and defines the dtype-generic entries fastnn/_native/_conv.pyx calls (fnn_dispatch.h).
 * The geometry is the contract of the primitives (docs/architecture.md, "Convolution
 * kernels"): OH = (H + pad_top + pad_bottom - dh*(KH-1) - 1) / sh + 1, OW likewise.
 *
 * Every array is C-contiguous: x (N, H, W, C), w (KH, KW, C, F) (Keras's kernel layout,
 * which is already the (KH*KW*C) x F matrix the GEMM wants), y (N, OH, OW, F).  The
 * kernels trust their inputs: shapes, strides and aliasing are the Cython entry's job.
 * Results never depend on the thread count (see the design block of conv_tmpl.h).
 */
#ifndef FNN_CONV_H
#define FNN_CONV_H

#include <stddef.h>

#include "../fnn_dispatch.h"

/* The shape of one convolution or pooling call.  For pooling, kh x kw is the pool size,
 * f == c and dh == dw == 1.  pad_top / pad_left place the window; the bottom and right
 * pads only enter through oh and ow, which the caller computed. */
typedef struct {
    ptrdiff_t n, h, w, c;   /* input */
    ptrdiff_t kh, kw, f;    /* window and output channels */
    ptrdiff_t oh, ow;       /* output */
    ptrdiff_t sh, sw;       /* strides, >= 1 */
    ptrdiff_t pad_top, pad_left;
    ptrdiff_t dh, dw;       /* dilation, >= 1 */
} fnn_conv_geom;

/* y = act(conv(x, w) + b): IN x, w, b (f values, or NULL); OUT y (write-only).
 * act is an fnn_activation the GEMM epilogue applies (not softmax); alpha its parameter.
 * Returns FNN_OK or FNN_NO_MEMORY (y undefined then). */
fnn_status fnn_conv2d_forward_f32(const fnn_conv_geom *g, const float *x, const float *w,
                                  const float *b, float *y, int act, float alpha,
                                  int nthreads);
fnn_status fnn_conv2d_forward_f64(const fnn_conv_geom *g, const double *x,
                                  const double *w, const double *b, double *y, int act,
                                  double alpha, int nthreads);

/* The gradients of y = act(conv(x, w) + b) given dy: dz = dy * act'(y) (from the output
 * y; not for softmax, gelu or swish), dw = sum over pixels of patch^T dz, db = column
 * sums of dz (db may be NULL), dx = the transposed convolution of dz (dx may be NULL).
 * IN x, w, y, dy (none modified); OUT dx, dw, db (write-only).  Returns FNN_OK or
 * FNN_NO_MEMORY (outputs undefined then). */
fnn_status fnn_conv2d_backward_f32(const fnn_conv_geom *g, const float *x, const float *w,
                                   const float *y, const float *dy, int act, float alpha,
                                   float *dx, float *dw, float *db, int nthreads);
fnn_status fnn_conv2d_backward_f64(const fnn_conv_geom *g, const double *x,
                                   const double *w, const double *y, const double *dy,
                                   int act, double alpha, double *dx, double *dw,
                                   double *db, int nthreads);

/* Pooling modes. */
typedef enum { FNN_POOL_MAX = 0, FNN_POOL_AVG = 1 } fnn_pool_mode;

/* Max or average pooling: IN x (N, H, W, C); OUT y (N, OH, OW, C) and, for max, index
 * (int32, y's shape: the window position 0 .. kh*kw-1 of the first maximum; padded cells
 * never win).  Average divides by the number of real (unpadded) cells.  Every window
 * must hold a real cell (pads smaller than the pool size; the entry checks it). */
void fnn_pool2d_forward_f32(const fnn_conv_geom *g, int mode, const float *x, float *y,
                            int *index, int nthreads);
void fnn_pool2d_forward_f64(const fnn_conv_geom *g, int mode, const double *x, double *y,
                            int *index, int nthreads);

/* The input gradient of pooling: IN dy (N, OH, OW, C), index (max only); OUT dx
 * (N, H, W, C), write-only.  Max sends each dy to its window's argmax cell, average
 * spreads dy / count over the real cells; overlapping windows add up.  Returns FNN_OK, or
 * FNN_NOT_TAKEN with nothing written when an index does not name a real cell of its
 * window (an index array that pool2d_forward did not make). */
fnn_status fnn_pool2d_backward_f32(const fnn_conv_geom *g, int mode, const float *dy,
                                   const int *index, float *dx, int nthreads);
fnn_status fnn_pool2d_backward_f64(const fnn_conv_geom *g, int mode, const double *dy,
                                   const int *index, double *dx, int nthreads);

/* The dtype-generic entries (fnn_dispatch.h): the kernels above with void pointers and
 * alpha converted to the element type.  FNN_NOT_TAKEN for an unknown dtype. */
fnn_status fnn_conv2d_forward(fnn_dtype dtype, const fnn_conv_geom *g, const void *x,
                              const void *w, const void *b, void *y, int act, double alpha,
                              int nthreads);
fnn_status fnn_conv2d_backward(fnn_dtype dtype, const fnn_conv_geom *g, const void *x,
                               const void *w, const void *y, const void *dy, int act,
                               double alpha, void *dx, void *dw, void *db, int nthreads);
fnn_status fnn_pool2d_forward(fnn_dtype dtype, const fnn_conv_geom *g, int mode,
                              const void *x, void *y, int *index, int nthreads);
fnn_status fnn_pool2d_backward(fnn_dtype dtype, const fnn_conv_geom *g, int mode,
                               const void *dy, const int *index, void *dx, int nthreads);

#endif
