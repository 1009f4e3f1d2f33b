# Thin wrapper over csrc/threads.c: OpenMP thread control for every native kernel.

cdef extern from "threads.h":
    int fnn_openmp_enabled() nogil
    int fnn_get_max_threads() nogil
    int fnn_num_procs() nogil
    const char *fnn_build_info() nogil


def openmp_enabled():
    """True when the extensions were compiled with OpenMP."""
    return bool(fnn_openmp_enabled())


def get_max_threads():
    """Threads OpenMP would use for the next parallel region."""
    return fnn_get_max_threads()


def num_procs():
    """Processors OpenMP may use (1 in a serial build)."""
    return fnn_num_procs()


def compiler_info():
    """The compiler and OpenMP version the native kernels were built with."""
    return fnn_build_info().decode("ascii", "replace")
