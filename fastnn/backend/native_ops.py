"""NativeOps: NumpyOps with the hot primitives replaced by compiled C + OpenMP kernels.

Every method it does not override falls back to NumPy through inheritance, so the two
backends always expose the same interface.  The native kernels trust their inputs: this
class makes arrays contiguous and of the right dtype before calling them.
"""

from .numpy_ops import NumpyOps

try:
    from .._native import _threads  # noqa: F401

    NATIVE_AVAILABLE = True
except ImportError:  # the extension was not built: fastnn still works on NumpyOps
    NATIVE_AVAILABLE = False


class NativeOps(NumpyOps):
    """The compiled backend (kernels are added primitive by primitive)."""

    name = "native"
