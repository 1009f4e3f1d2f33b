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
        "cpu": None,
        "simd_kernel": None,
        "gemm_table": None,
        "gemm_float32": None,
        "gemm_float64": None,
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
            facts.update(_gemm_facts(_gemm))
        except (ImportError, AttributeError):
            pass
    return facts


def _gemm_facts(gemm):
    """The CPU as the GEMM identified it, and the block sizes it chose for it."""
    cpu = gemm.cpu_info()
    sizes = gemm.block_sizes()
    ident = ", ".join(
        part for part in (
            cpu["vendor"],
            f"family 0x{cpu['family']:x} model 0x{cpu['model']:x}"
            if cpu["family"] >= 0 else "",
        ) if part
    )
    name = cpu["brand"] or "unknown CPU"
    facts = {"cpu": f"{name} ({ident})" if ident else name, "gemm_table": sizes["table"]}
    for dtype in ("float32", "float64"):
        facts[f"gemm_{dtype}"] = ", ".join(
            f"{key.upper()} {value}" for key, value in sizes[dtype].items()
        )
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
    """Print the compiler, OpenMP, CPU, GEMM kernel and block sizes, backend and thread
    settings."""
    for key, value in config_dict().items():
        print_fn(f"{key:>17}: {value}")
