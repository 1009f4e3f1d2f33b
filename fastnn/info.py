"""``show_config()``: what this fastnn was built with and what it will use."""

import platform
import sys

import numpy as np


def config_dict():
    """Build and runtime facts as a dict (used by ``show_config`` and ``fastnn bench``)."""
    from . import __version__, backend
    from .threads import get_num_threads, usable_cores

    facts = {
        "fastnn": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "backend": _backend_in_force(backend),
        "native_available": backend.native_available(),
        "openmp": False,
        "simd_kernel": None,
        "compiler": None,
        "num_threads": get_num_threads(),
        "usable_cores": usable_cores(),
    }
    if facts["native_available"]:
        from ._native import _threads

        facts["openmp"] = _threads.openmp_enabled()
        facts["compiler"] = _threads.compiler_info()
        if not facts["openmp"]:
            facts["num_threads"] = "1 (built without OpenMP)"
        try:
            from ._native import _gemm

            facts["simd_kernel"] = _gemm.kernel_name()
        except (ImportError, AttributeError):
            pass
    return facts


def _backend_in_force(backend):
    """The current backend's name, or why there is none (``FASTNN_BACKEND`` invalid, or
    naming a native backend that was not built): ``fastnn info`` is where one goes to
    find that out, so it reports it with the rest instead of dying."""
    try:
        return backend.backend_name()
    except ValueError as exc:
        return f"none: {exc}"


def show_config(print_fn=print):
    """Print the compiler, OpenMP, SIMD kernel, backend and thread settings."""
    for key, value in config_dict().items():
        print_fn(f"{key:>17}: {value}")
