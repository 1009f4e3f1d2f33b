# Included by the native modules: checks of plain ndarray arguments with the NumPy C API.
#
# Entry points that take ndarrays (instead of typed memoryviews) check them with these
# helpers, each a few nanoseconds, and compute nothing when an argument does not fit
# (status NOT_TAKEN), so that the Python side can take its general path.  That replaces
# Python-level checks costing ~0.2 us per attribute read and a typed-memoryview
# acquisition of ~0.5 us per argument, which at batch 32 cost more than the kernels.

cimport numpy as cnp

cnp.import_array()

# Status of an ndarray entry point that computed nothing because an argument did not fit.
NOT_TAKEN = -4


cdef inline bint _fits(object obj, int typenum, int ndim, bint writeable) noexcept:
    """``obj`` is an aligned, native-order ndarray of ``typenum`` with ``ndim`` axes
    (and writeable when asked)."""
    cdef cnp.ndarray a
    cdef int need = cnp.NPY_ARRAY_ALIGNED
    if not cnp.PyArray_Check(obj):
        return False
    a = <cnp.ndarray>obj
    if writeable:
        need |= cnp.NPY_ARRAY_WRITEABLE
    return (
        cnp.PyArray_TYPE(a) == typenum
        and cnp.PyArray_NDIM(a) == ndim
        and cnp.PyArray_ISNOTSWAPPED(a)
        and (cnp.PyArray_FLAGS(a) & need) == need
    )


cdef inline bint _c_order(cnp.ndarray a) noexcept:
    return cnp.PyArray_IS_C_CONTIGUOUS(a)


cdef inline void _range(cnp.ndarray a, size_t *lo, size_t *hi) noexcept:
    """The bytes [lo, hi) a non-empty 1-D or 2-D array touches (strides may be < 0)."""
    cdef Py_ssize_t first = 0, last = 0, d, s
    cdef int axis
    for axis in range(cnp.PyArray_NDIM(a)):
        d, s = cnp.PyArray_DIM(a, axis), cnp.PyArray_STRIDE(a, axis)
        if s < 0:
            first += (d - 1) * s
        else:
            last += (d - 1) * s
    lo[0] = <size_t>(<const char *>cnp.PyArray_DATA(a) + first)
    hi[0] = <size_t>(<const char *>cnp.PyArray_DATA(a) + last + cnp.PyArray_ITEMSIZE(a))


cdef bint _overlaps(cnp.ndarray out, object others) noexcept:
    """Whether ``out`` shares a byte with any array of the tuple ``others`` (None
    entries are skipped).  Arrays here are non-empty."""
    cdef size_t lo, hi, olo, ohi
    _range(out, &lo, &hi)
    for obj in <tuple>others:
        if obj is None:
            continue
        _range(<cnp.ndarray>obj, &olo, &ohi)
        if olo < hi and lo < ohi:
            return True
    return False
