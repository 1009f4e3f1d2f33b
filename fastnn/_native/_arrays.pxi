# The one array contract of the native entries, included by every wrapper module.
#
# Each Cython entry takes plain ndarrays and checks them here, once, with the NumPy C API:
# an exact ndarray (not a subclass) of float32 or float64 in native byte order, aligned
# (address and strides whole elements), C-contiguous where its kernel needs it, of the
# right shapes, outputs writeable, and no output sharing memory with another argument
# (except exactly the same array, where the kernel reads element i before writing it).
# When anything does not fit, the entry computes nothing and returns FNN_NOT_TAKEN, and
# NativeOps takes NumpyOps' path.  Each check is a few nanoseconds: checking in Python
# cost ~0.2 us per attribute read, and a typed-memoryview argument ~0.5 us to acquire,
# which at batch 32 is more than the kernels take.
#
# Including this file also brings the status enum (_status.pxi) and the dtype code of
# the kernels' dtype-generic entries (csrc/fnn_dispatch.h).

cimport numpy as cnp

cnp.import_array()

include "_status.pxi"

cdef extern from "fnn_dispatch.h" nogil:
    ctypedef enum fnn_dtype:
        FNN_FLOAT32
        FNN_FLOAT64

# The flags an argument needs (with ``_fits_as``): an input, an input the kernel reads as
# one contiguous block, an output, a contiguous output.
cdef enum:
    _IN = cnp.NPY_ARRAY_ALIGNED
    _IN_C = cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_C_CONTIGUOUS
    _OUT = cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_WRITEABLE
    _OUT_C = cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_WRITEABLE | cnp.NPY_ARRAY_C_CONTIGUOUS


cdef inline int _float_type(object obj) noexcept:
    """NumPy's type number of ``obj`` when it is an exact float32 or float64 ndarray
    (the dtype an entry takes from its first array), else -1."""
    cdef int t
    if not cnp.PyArray_CheckExact(obj):
        return -1
    t = cnp.PyArray_TYPE(<cnp.ndarray>obj)
    return t if t == cnp.NPY_FLOAT32 or t == cnp.NPY_FLOAT64 else -1


cdef inline fnn_dtype _dtype_code(int typenum) noexcept nogil:
    """The fnn_dtype of a type number that ``_float_type`` accepted."""
    return FNN_FLOAT64 if typenum == cnp.NPY_FLOAT64 else FNN_FLOAT32


cdef inline bint _fits_as(object obj, int typenum, int ndim, int flags) noexcept:
    """``obj`` is an exact ndarray of ``typenum`` in native byte order with ``ndim`` axes
    (any number when ndim < 0) and every NPY_ARRAY_* flag in ``flags`` (_IN, _OUT...)."""
    cdef cnp.ndarray a
    if not cnp.PyArray_CheckExact(obj):
        return False
    a = <cnp.ndarray>obj
    return (
        cnp.PyArray_TYPE(a) == typenum
        and (ndim < 0 or cnp.PyArray_NDIM(a) == ndim)
        and cnp.PyArray_ISNOTSWAPPED(a)
        and (cnp.PyArray_FLAGS(a) & flags) == flags
    )


cdef inline bint _same_shape(object a, object b) noexcept:
    return cnp.PyArray_SAMESHAPE(<cnp.ndarray>a, <cnp.ndarray>b)


cdef inline Py_ssize_t _dim(object a, int axis) noexcept:
    return cnp.PyArray_DIM(<cnp.ndarray>a, axis)


cdef inline Py_ssize_t _size(object a) noexcept:
    return cnp.PyArray_SIZE(<cnp.ndarray>a)


cdef inline void *_data(object a) noexcept:
    """The data pointer of a checked array, NULL for None (an absent optional array)."""
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


cdef inline Py_ssize_t _rs(object a) noexcept:
    """The row stride of a checked 2-D array, in elements (aligned: a whole number)."""
    return cnp.PyArray_STRIDE(<cnp.ndarray>a, 0) // cnp.PyArray_ITEMSIZE(<cnp.ndarray>a)


cdef inline Py_ssize_t _cs(object a) noexcept:
    """The column stride of a checked 2-D array, in elements."""
    return cnp.PyArray_STRIDE(<cnp.ndarray>a, 1) // cnp.PyArray_ITEMSIZE(<cnp.ndarray>a)


cdef inline bint _range(cnp.ndarray a, size_t *lo, size_t *hi) noexcept:
    """The bytes [lo, hi) that ``a`` touches (strides may be < 0); False when it is empty
    and touches none."""
    cdef Py_ssize_t first = 0, last = 0, d, s
    cdef int axis
    for axis in range(cnp.PyArray_NDIM(a)):
        d, s = cnp.PyArray_DIM(a, axis), cnp.PyArray_STRIDE(a, axis)
        if d == 0:
            return False
        if s < 0:
            first += (d - 1) * s
        else:
            last += (d - 1) * s
    lo[0] = <size_t>(<const char *>cnp.PyArray_DATA(a) + first)
    hi[0] = <size_t>(<const char *>cnp.PyArray_DATA(a) + last + cnp.PyArray_ITEMSIZE(a))
    return True


cdef bint _overlaps(object out, tuple others) noexcept:
    """Whether the checked array ``out`` shares a byte with any array of ``others`` (None
    entries are skipped).  Address ranges are compared, as np.may_share_memory does."""
    cdef size_t lo, hi, olo, ohi
    if not _range(<cnp.ndarray>out, &lo, &hi):
        return False
    for obj in others:
        if obj is not None and _range(<cnp.ndarray>obj, &olo, &ohi):
            if olo < hi and lo < ohi:
                return True
    return False


cdef inline bint _same_array(cnp.ndarray a, cnp.ndarray b) noexcept:
    """``a`` and ``b`` address exactly the same elements (the same memory, shape, strides)."""
    cdef int axis
    if (cnp.PyArray_DATA(a) != cnp.PyArray_DATA(b)
            or cnp.PyArray_NDIM(a) != cnp.PyArray_NDIM(b)):
        return False
    for axis in range(cnp.PyArray_NDIM(a)):
        if (cnp.PyArray_DIM(a, axis) != cnp.PyArray_DIM(b, axis)
                or cnp.PyArray_STRIDE(a, axis) != cnp.PyArray_STRIDE(b, axis)):
            return False
    return True


cdef bint _clashes(object out, tuple inputs) noexcept:
    """Whether ``out`` overlaps an input without being exactly that input: what an
    element-wise kernel, which reads element i before writing it, cannot take."""
    for obj in inputs:
        if obj is not None and not _same_array(<cnp.ndarray>out, <cnp.ndarray>obj):
            if _overlaps(out, (obj,)):
                return True
    return False
