"""Run test code on a given number of native-kernel threads, restoring the setting after."""

import contextlib

import fastnn
from fastnn import parallel


@contextlib.contextmanager
def num_threads(n):
    """Within the block, the native kernels use ``n`` threads."""
    before = parallel._num_threads
    fastnn.set_num_threads(n)
    try:
        yield n
    finally:
        parallel._num_threads = before


def run_on(n, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with the kernels on ``n`` threads."""
    with num_threads(n):
        return fn(*args, **kwargs)
