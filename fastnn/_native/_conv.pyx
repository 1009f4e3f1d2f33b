# Convolution and pooling on channels-last images (csrc/conv): the entries behind
# NativeOps.conv2d_forward / conv2d_backward / pool2d_forward / pool2d_backward.
#
# Design
# - One entry per kernel, on plain ndarrays checked once here (_arrays.pxi): one float
#   dtype, every array C-contiguous (the kernels address NHWC images by offsets), shapes
#   that agree with the geometry (OH and OW are computed here from the strides, pads and
#   dilation, exactly as the primitives' contract writes them), writeable outputs that
#   overlap no input and no other output.  Anything else computes nothing and returns
#   NOT_TAKEN; NativeOps then takes NumpyOps' path.
# - Geometry arrives as plain ints (strides, the four pads, dilation), in the order of
#   the primitives' tuples; pads must be >= 0, strides, dilation and sizes >= 1.
# - dtype: each entry calls its kernel's dtype-generic C entry (csrc/conv/conv.h), so
#   there are no float32/float64 branches here.

include "_arrays.pxi"
include "_activation_codes.pxi"

cdef extern from "gemm/gemm.h" nogil:
    void fnn_gemm_init()
    const char *fnn_gemm_kernel_name()

cdef extern from "conv/conv.h" nogil:
    ctypedef struct fnn_conv_geom:
        Py_ssize_t n, h, w, c
        Py_ssize_t kh, kw, f
        Py_ssize_t oh, ow
        Py_ssize_t sh, sw
        Py_ssize_t pad_top, pad_left
        Py_ssize_t dh, dw
    cdef enum:
        FNN_POOL_MAX
        FNN_POOL_AVG
    fnn_status fnn_conv2d_forward(fnn_dtype dtype, const fnn_conv_geom *g, const void *x,
                                  const void *w, const void *b, void *y, int act,
                                  double alpha, int nthreads)
    fnn_status fnn_conv2d_backward(fnn_dtype dtype, const fnn_conv_geom *g, const void *x,
                                   const void *w, const void *y, const void *dy, int act,
                                   double alpha, void *dx, void *dw, void *db, int nthreads)
    fnn_status fnn_pool2d_forward(fnn_dtype dtype, const fnn_conv_geom *g, int mode,
                                  const void *x, void *y, int *index, int nthreads)
    fnn_status fnn_pool2d_backward(fnn_dtype dtype, const fnn_conv_geom *g, int mode,
                                   const void *dy, const int *index, void *dx, int nthreads)

# The GEMM linked into this module picks its kernel and block sizes now, once, as _gemm
# does, rather than lazily inside a parallel region.
fnn_gemm_init()

POOL_MAX = FNN_POOL_MAX
POOL_AVG = FNN_POOL_AVG


cdef bint _geometry(fnn_conv_geom *g, Py_ssize_t n, Py_ssize_t h, Py_ssize_t w,
                    Py_ssize_t c, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t f,
                    Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pb,
                    Py_ssize_t pl, Py_ssize_t pr, Py_ssize_t dh, Py_ssize_t dw) noexcept:
    """Fills ``g`` (OH, OW from the contract's formula); False when the geometry is not
    one the kernels take (a size, stride or dilation below 1, a negative pad, an empty
    output)."""
    if (c < 1 or kh < 1 or kw < 1 or f < 1 or sh < 1 or sw < 1 or dh < 1 or dw < 1
            or pt < 0 or pb < 0 or pl < 0 or pr < 0 or n < 0):
        return False
    g.n, g.h, g.w, g.c, g.kh, g.kw, g.f = n, h, w, c, kh, kw, f
    g.sh, g.sw, g.pad_top, g.pad_left, g.dh, g.dw = sh, sw, pt, pl, dh, dw
    # floor division of a possibly negative span: an empty output is refused
    g.oh = h + pt + pb - dh * (kh - 1) - 1
    g.ow = w + pl + pr - dw * (kw - 1) - 1
    if g.oh < 0 or g.ow < 0:
        return False
    g.oh = g.oh // sh + 1
    g.ow = g.ow // sw + 1
    return True


cdef inline bint _is_shape4(object a, Py_ssize_t d0, Py_ssize_t d1, Py_ssize_t d2,
                            Py_ssize_t d3) noexcept:
    return (_dim(a, 0) == d0 and _dim(a, 1) == d1 and _dim(a, 2) == d2
            and _dim(a, 3) == d3)


def conv2d_forward(x, w, b, y, int sh, int sw, int pt, int pb, int pl, int pr, int dh,
                   int dw, int act, double alpha, int nthreads):
    """``y = act(conv(x, w) + b)`` with x (N, H, W, C), w (KH, KW, C, F), b (F,) or None,
    y (N, OH, OW, F), all C-contiguous, one dtype; act any code but softmax.  Returns
    OK, NO_MEMORY or NOT_TAKEN (nothing computed)."""
    cdef int t = _float_type(x)
    cdef fnn_conv_geom g
    cdef fnn_status status
    cdef const void *px
    cdef const void *pw
    cdef const void *pb_
    cdef void *py
    if t < 0 or not _elementwise_act(act):
        return FNN_NOT_TAKEN
    if not (_fits_as(x, t, 4, _IN_C) and _fits_as(w, t, 4, _IN_C)
            and _fits_as(y, t, 4, _OUT_C)):
        return FNN_NOT_TAKEN
    if b is not None and not (_fits_as(b, t, 1, _IN_C) and _dim(b, 0) == _dim(w, 3)):
        return FNN_NOT_TAKEN
    if (_dim(w, 2) != _dim(x, 3)
            or not _geometry(&g, _dim(x, 0), _dim(x, 1), _dim(x, 2), _dim(x, 3),
                             _dim(w, 0), _dim(w, 1), _dim(w, 3), sh, sw, pt, pb, pl, pr,
                             dh, dw)
            or not _is_shape4(y, g.n, g.oh, g.ow, g.f)
            or _overlaps(y, (x, w, b))):
        return FNN_NOT_TAKEN
    px, pw, pb_, py = _data(x), _data(w), _data(b), _data(y)
    with nogil:
        status = fnn_conv2d_forward(_dtype_code(t), &g, px, pw, pb_, py, act, alpha,
                                    nthreads)
    return status


def conv2d_backward(x, w, y, dy, int sh, int sw, int pt, int pb, int pl, int pr, int dh,
                    int dw, int act, double alpha, dx, dwk, db, int nthreads):
    """The gradients of ``y = act(conv(x, w) + b)``: ``dz = dy * act'(y)`` (y may be None
    for act linear), ``dwk`` (KH, KW, C, F) the kernel gradient, ``db`` (F,) or None,
    ``dx`` (N, H, W, C) or None.  act: a code whose derivative comes from y (not
    softmax, gelu, swish).  All C-contiguous; dx, dwk and db overlap nothing.  Returns OK,
    NO_MEMORY or NOT_TAKEN (nothing computed)."""
    cdef int t = _float_type(x)
    cdef fnn_conv_geom g
    cdef fnn_status status
    cdef const void *px
    cdef const void *pw
    cdef const void *py
    cdef const void *pdy
    cdef void *pdx
    cdef void *pdw
    cdef void *pdb
    if (t < 0 or not _elementwise_act(act) or act == FNN_ACT_GELU
            or act == FNN_ACT_SWISH):
        return FNN_NOT_TAKEN
    if not (_fits_as(x, t, 4, _IN_C) and _fits_as(w, t, 4, _IN_C)
            and _fits_as(dy, t, 4, _IN_C) and _fits_as(dwk, t, 4, _OUT_C)
            and _same_shape(dwk, w)):
        return FNN_NOT_TAKEN
    if act == FNN_ACT_LINEAR:
        y = None  # not read
    elif not (_fits_as(y, t, 4, _IN_C) and _same_shape(y, dy)):
        return FNN_NOT_TAKEN
    if (_dim(w, 2) != _dim(x, 3)
            or not _geometry(&g, _dim(x, 0), _dim(x, 1), _dim(x, 2), _dim(x, 3),
                             _dim(w, 0), _dim(w, 1), _dim(w, 3), sh, sw, pt, pb, pl, pr,
                             dh, dw)
            or not _is_shape4(dy, g.n, g.oh, g.ow, g.f)):
        return FNN_NOT_TAKEN
    if db is not None and not (_fits_as(db, t, 1, _OUT_C) and _dim(db, 0) == g.f):
        return FNN_NOT_TAKEN
    if dx is not None and not (_fits_as(dx, t, 4, _OUT_C) and _same_shape(dx, x)):
        return FNN_NOT_TAKEN
    # the outputs overlap no input and no other output
    if (_overlaps(dwk, (x, w, y, dy, db, dx))
            or (db is not None and _overlaps(db, (x, w, y, dy, dx)))
            or (dx is not None and _overlaps(dx, (x, w, y, dy)))):
        return FNN_NOT_TAKEN
    px, pw, py, pdy = _data(x), _data(w), _data(y), _data(dy)
    pdx, pdw, pdb = _data(dx), _data(dwk), _data(db)
    with nogil:
        status = fnn_conv2d_backward(_dtype_code(t), &g, px, pw, py, pdy, act, alpha, pdx,
                                     pdw, pdb, nthreads)
    return status


cdef bint _pool_geometry(fnn_conv_geom *g, object x, int ph, int pw, int sh, int sw,
                         int pt, int pb, int pl, int pr, int mode) noexcept:
    """The geometry of a pooling of ``x`` (N, H, W, C); False for a mode or geometry the
    kernels do not take, including a pad as large as the pool (a window that could
    hold only padded cells)."""
    if mode != FNN_POOL_MAX and mode != FNN_POOL_AVG:
        return False
    if pt >= ph or pb >= ph or pl >= pw or pr >= pw:
        return False
    return _geometry(g, _dim(x, 0), _dim(x, 1), _dim(x, 2), _dim(x, 3), ph, pw,
                     _dim(x, 3), sh, sw, pt, pb, pl, pr, 1, 1)


def pool2d_forward(x, y, index, int ph, int pw, int sh, int sw, int pt, int pb, int pl,
                   int pr, int mode, int nthreads):
    """Max (``mode`` POOL_MAX, ``index`` an int32 array of y's shape) or average
    (POOL_AVG, ``index`` None) pooling of x (N, H, W, C) into y (N, OH, OW, C), all
    C-contiguous.  Returns OK or NOT_TAKEN (nothing computed)."""
    cdef int t = _float_type(x)
    cdef fnn_conv_geom g
    cdef fnn_status status
    cdef const void *px
    cdef void *py
    cdef int *pidx
    if t < 0 or not (_fits_as(x, t, 4, _IN_C) and _fits_as(y, t, 4, _OUT_C)):
        return FNN_NOT_TAKEN
    if (not _pool_geometry(&g, x, ph, pw, sh, sw, pt, pb, pl, pr, mode)
            or not _is_shape4(y, g.n, g.oh, g.ow, g.c) or _overlaps(y, (x,))):
        return FNN_NOT_TAKEN
    if mode == FNN_POOL_MAX:
        if not (_fits_as(index, cnp.NPY_INT32, 4, _OUT_C) and _same_shape(index, y)
                and not _overlaps(index, (x, y))):
            return FNN_NOT_TAKEN
    elif index is not None:
        return FNN_NOT_TAKEN
    px, py, pidx = _data(x), _data(y), <int *>_data(index)
    with nogil:
        status = fnn_pool2d_forward(_dtype_code(t), &g, mode, px, py, pidx, nthreads)
    return status


def pool2d_backward(dy, index, dx, int ph, int pw, int sh, int sw, int pt, int pb, int pl,
                    int pr, int mode, int nthreads):
    """The input gradient ``dx`` (N, H, W, C) of a pooling given ``dy`` (N, OH, OW, C)
    and, for max, its int32 ``index`` (None for average).  All C-contiguous.  Returns
    OK or NOT_TAKEN (nothing computed; also for an index naming no real cell)."""
    cdef int t = _float_type(dy)
    cdef fnn_conv_geom g
    cdef fnn_status status
    cdef const void *pdy
    cdef const int *pidx
    cdef void *pdx
    if t < 0 or not (_fits_as(dy, t, 4, _IN_C) and _fits_as(dx, t, 4, _OUT_C)):
        return FNN_NOT_TAKEN
    if (not _pool_geometry(&g, dx, ph, pw, sh, sw, pt, pb, pl, pr, mode)
            or not _is_shape4(dy, g.n, g.oh, g.ow, g.c) or _overlaps(dx, (dy, index))):
        return FNN_NOT_TAKEN
    if mode == FNN_POOL_MAX:
        if not (_fits_as(index, cnp.NPY_INT32, 4, _IN_C) and _same_shape(index, dy)):
            return FNN_NOT_TAKEN
    elif index is not None:
        return FNN_NOT_TAKEN
    pdy, pidx, pdx = _data(dy), <const int *>_data(index), _data(dx)
    with nogil:
        status = fnn_pool2d_backward(_dtype_code(t), &g, mode, pdy, pidx, pdx, nthreads)
    return status


def gemm_kernel_name():
    """The micro-kernel of the GEMM copy linked into this module (it chooses on its own,
    at import, as _gemm does; FASTNN_GEMM_KERNEL forces both)."""
    return fnn_gemm_kernel_name().decode("ascii")
