"""Shared setup for the pytest-benchmark suite in ``benchmarks/``.

This folder is outside the default ``pytest`` run (``testpaths = ["tests"]`` and
``--benchmark-skip`` in pyproject.toml).  Run it with:

    pytest benchmarks --benchmark-only [--bench-threads 2] [--benchmark-json out.json]

Files: ``test_bench_gemm.py`` (matrix products), ``test_bench_training.py`` (one epoch)
and ``test_bench_inference.py`` (predictions), each grouped by shape so that every table
compares the contenders on the same work.  ``fastnn bench`` measures the same things
interleaved in one run, with ratios and the fraction of FMA peak.
"""

import importlib.util
import os
import sys

import pytest

if importlib.util.find_spec("fastnn") is None:  # run from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_addoption(parser):
    parser.addoption(
        "--bench-threads", type=int, default=None,
        help="threads for fastnn, PyTorch and NumPy's BLAS in the benchmarks "
             "(default: fastnn.get_num_threads())",
    )


@pytest.fixture
def bench_threads(request):
    """Limit every library to the requested thread count for one benchmark."""
    from fastnn import bench, threads
    from fastnn.bench import optional

    n = request.config.getoption("--bench-threads") or threads.get_num_threads()
    # thread_limits sets torch's threads only when torch is loaded: load it first.
    optional.load("torch")
    with bench.thread_limits(n) as control:
        yield control
