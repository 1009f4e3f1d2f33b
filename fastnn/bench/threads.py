"""One thread count for every contender: fastnn, PyTorch and NumPy's BLAS.

A comparison is fair only when every library runs on the same number of threads.
fastnn's count is set with ``fastnn.threads.num_threads``, PyTorch's with
``torch.set_num_threads``, and NumPy's BLAS through threadpoolctl when it is installed,
else through OpenBLAS's own C API (found in ``/proc/self/maps`` and called with ctypes),
else not at all (and the result says so).
"""

import contextlib
import ctypes
import os
import sys

from .. import threads as fastnn_threads
from . import optional


def openblas_handles():
    """(get, set) C functions of every OpenBLAS loaded in this process (Linux only).

    Used when threadpoolctl is absent: NumPy's wheels bundle OpenBLAS, whose thread count
    can only be changed through its own C API once it is loaded.
    """
    found = []
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return found
    for path in sorted(paths):
        if not os.path.isabs(path):
            continue
        try:
            lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        functions = _openblas_thread_functions(lib)
        if functions is not None:
            found.append(functions)
    return found


def _openblas_thread_functions(lib):
    """The ``(get, set)`` thread-count functions of one loaded OpenBLAS, or None."""
    # The symbols carry a prefix/suffix depending on how OpenBLAS was built
    # (scipy-openblas wheels, 64-bit integer builds, a system library).
    for prefix in ("scipy_openblas", "openblas"):
        for suffix in ("64_", "_64_", ""):
            try:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}")
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}")
            except AttributeError:
                continue
            get.restype, get.argtypes = ctypes.c_int, []
            set_.restype, set_.argtypes = None, [ctypes.c_int]
            return get, set_
    return None


def _set_openblas_threads(handles, counts):
    for (_, set_), n in zip(handles, counts):
        set_(n)


def blas_control():
    """How NumPy's BLAS thread count can be limited in this process.

    Returns:
        ``"threadpoolctl"``, ``"openblas-ctypes"`` (an OpenBLAS is loaded and its C API
        found) or ``"uncontrolled"``.
    """
    if optional.load("threadpoolctl") is not None:
        return "threadpoolctl"
    return "openblas-ctypes" if openblas_handles() else "uncontrolled"


def _limit_blas(n, stack):
    """Limit NumPy's BLAS to ``n`` threads until ``stack`` closes.

    Returns:
        ``(method, note)``: the ``blas_control`` name and what a reader should know.
    """
    method = blas_control()
    if method == "threadpoolctl":
        # user_api="blas" only: fastnn's and torch's OpenMP pools are set by the caller,
        # and limiting every OpenMP runtime here would fight with that.
        limiter = optional.load("threadpoolctl").threadpool_limits(limits=n, user_api="blas")
        stack.callback(limiter.restore_original_limits)
        return method, ""
    if method == "openblas-ctypes":
        handles = openblas_handles()
        stack.callback(_set_openblas_threads, handles, [get() for get, _ in handles])
        _set_openblas_threads(handles, [n] * len(handles))
        return method, "threadpoolctl not installed: NumPy's OpenBLAS set through its C API"
    return method, ("threadpoolctl not installed and no OpenBLAS found: NumPy's BLAS "
                    "threads were left at their default")


@contextlib.contextmanager
def thread_limits(n):
    """Run a block with fastnn, PyTorch and NumPy's BLAS all limited to ``n`` threads.

    fastnn's count is set with ``fastnn.threads.num_threads``; PyTorch's with
    ``torch.set_num_threads`` but only when torch is already imported (importing it just
    for this would cost seconds and start its thread pool); NumPy's BLAS through
    threadpoolctl when importable, else through OpenBLAS's own C API when an OpenBLAS is
    loaded, else it is left alone.  Everything is restored on exit, even when the block
    raises.

    Args:
        n: Threads, an int >= 1.

    Yields:
        A dict saying what was controlled: ``threads``, ``fastnn``, ``torch`` (bool or
        None when torch is not imported), ``blas`` (``"threadpoolctl"``,
        ``"openblas-ctypes"`` or ``"uncontrolled"``) and ``note``.
    """
    n = int(n)
    info = {"threads": n, "fastnn": True, "torch": None, "blas": "uncontrolled", "note": ""}
    with contextlib.ExitStack() as stack:
        # num_threads restores the *unset* state too, so OMP_NUM_THREADS keeps working after.
        stack.enter_context(fastnn_threads.num_threads(n))
        torch = sys.modules.get("torch")
        if torch is not None:
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(n)
            info["torch"] = True
        info["blas"], info["note"] = _limit_blas(n, stack)
        yield info


def scaling_thread_counts(max_threads):
    """1, 2, 4, ... up to and including ``max_threads``: the thread-scaling points."""
    counts, t = [], 1
    while t < max_threads:
        counts.append(t)
        t *= 2
    return counts + [int(max_threads)]
