"""What the results were measured on: the CPU, its measured FMA peak, versions, threads.

The nominal clock of a virtual machine says little about what its cores can do, so the
FMA peak is measured (``measure_fma_peak``), and a run keeps the best of a measure taken
before and one taken after its benchmarks (``best_fma_peaks``).
"""

import os
import platform
import sys

import numpy as np

from .. import __version__, backend
from .. import threads as fastnn_threads
from ..info import config_dict
from . import optional
from .threads import blas_control, thread_limits
from .timing import timed


# --------------------------------------------------------------------------- machine
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return sorted(flags & {"avx", "avx2", "fma", "avx512f", "sse4_2"})
    except OSError:
        pass
    return None


def machine_info():
    """What the results were measured on.

    Returns:
        Dict with ``cpu_model``, ``cpu_flags``, ``logical_cores``, ``usable_cores``,
        ``simd_kernel`` (the GEMM micro-kernel fastnn dispatched to, None without the
        native extension), ``fastnn_config`` (``fastnn.info.config_dict()``),
        ``versions`` (python, fastnn, numpy, torch, scikit-learn, threadpoolctl,
        matplotlib; None when absent), ``blas_thread_control`` and ``thread_settings``
        (fastnn's thread count, torch's when it is imported, and the environment
        variables that change threading: ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``...).
    """
    config = config_dict()
    torch = sys.modules.get("torch")
    env_names = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OMP_PROC_BIND", "GOMP_SPINCOUNT",
                 "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "FASTNN_BACKEND",
                 "FASTNN_DISABLE_SIMD", "FASTNN_GEMM_KERNEL")
    return {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cores": os.cpu_count(),
        "usable_cores": fastnn_threads.usable_cores(),
        "simd_kernel": config.get("simd_kernel"),
        "fastnn_config": config,
        "versions": {
            "python": sys.version.split()[0],
            "fastnn": __version__,
            "numpy": np.__version__,
            "torch": optional.version("torch"),
            "scikit-learn": optional.version("scikit-learn"),
            "threadpoolctl": optional.version("threadpoolctl"),
            "matplotlib": optional.version("matplotlib"),
        },
        "blas_thread_control": blas_control(),
        "thread_settings": {
            "fastnn_num_threads": fastnn_threads.get_num_threads(),
            "fastnn_openmp": config.get("openmp"),
            "torch_num_threads": torch.get_num_threads() if torch is not None else None,
            "environment": {name: os.environ.get(name) for name in env_names},
        },
    }


# --------------------------------------------------------------------------- peak
def native_fma_peak():
    """The native FMA-loop peak function, if the compiled extension provides one.

    The expected signature is ``fma_peak_gflops(num_threads) -> float`` (float32
    GFLOP/s); any of fastnn's extension modules may define it.
    """
    if not backend.native_available():
        return None
    for module in ("_threads", "_gemm", "_elementwise"):
        mod = optional.load(f"fastnn._native.{module}")
        fn = getattr(mod, "fma_peak_gflops", None) if mod is not None else None
        if callable(fn):
            return fn
    return None


def measure_fma_peak(threads=None, size=2048, repeats=5):
    """Estimate the CPU's float32 FMA peak in GFLOP/s on ``threads`` threads.

    When fastnn's native extension exposes ``fma_peak_gflops(num_threads)`` (a loop of
    independent FMAs, the honest measure), that is used.  Otherwise this is a *proxy*:
    the best GFLOP/s of a large float32 ``numpy.matmul`` with NumPy's BLAS limited to
    ``threads``.  A tuned BLAS reaches roughly 85-95% of the FMA peak at this size, so the
    proxy is a slight underestimate, and a "fraction of peak" computed against it a
    slight overestimate.  On a virtual machine the nominal clock says little, which is
    why the peak is measured rather than computed.

    Args:
        threads: Threads; defaults to ``fastnn.get_num_threads()``.
        size: Side of the square matmul for the proxy.
        repeats: Timed products for the proxy; the best is kept (noise only slows).

    Returns:
        Dict with ``gflops``, ``threads``, ``method`` (``"native-fma-loop"`` or
        ``"numpy-matmul-proxy"``), ``size`` (None for the native loop),
        ``blas_control`` and ``note``.
    """
    threads = fastnn_threads.get_num_threads() if threads is None else int(threads)
    hook = native_fma_peak()
    if hook is not None:
        # The loop uses the FMA instructions of the GEMM kernel in use (zmm for avx512,
        # ymm for avx2-fma), so every "share of peak" is against what that kernel can do.
        kernel = config_dict().get("simd_kernel")
        return {"gflops": float(hook(threads)), "threads": threads,
                "method": "native-fma-loop", "size": None, "blas_control": None,
                "kernel": kernel,
                "note": "independent float32 FMA chains in fastnn's native extension"
                        + (f", with the {kernel} kernel's FMA instructions" if kernel else "")}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), np.float32)
    with thread_limits(threads) as control:
        np.matmul(a, b, out=out)  # warm-up: threads start, pages fault in
        best = min(timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return {"gflops": 2.0 * size ** 3 / best / 1e9, "threads": threads,
            "method": "numpy-matmul-proxy", "size": size, "blas_control": control["blas"],
            "note": "proxy: best float32 numpy.matmul GFLOP/s, a slight underestimate of "
                    "the FMA peak" + ("; " + control["note"] if control["note"] else "")}


def best_fma_peaks(thread_counts, size=2048, previous=None):
    """The FMA peak at each thread count, keeping the best of this and an earlier measure.

    Other work on a shared machine only ever lowers a measured peak, and a low
    denominator inflates "fraction of peak"; so a run measures before and after its
    benchmarks and keeps the higher value.

    Args:
        thread_counts: Thread counts to measure at.
        size: Passed to ``measure_fma_peak`` (used by the matmul proxy only).
        previous: An earlier result of this function, or None.

    Returns:
        Dict thread count -> the ``measure_fma_peak`` dict, plus ``samples``: every
        GFLOP/s measured so far at that count (``gflops`` is their maximum).
    """
    peaks = {}
    for t in thread_counts:
        peak = measure_fma_peak(t, size=size)
        samples = list((previous or {}).get(t, {}).get("samples", [])) + [peak["gflops"]]
        peak["samples"] = samples
        peak["gflops"] = max(samples)
        peaks[t] = peak
    return peaks
