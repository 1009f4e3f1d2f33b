"""Run test code on a given number of native-kernel threads, restoring the setting after."""

from fastnn.threads import num_threads  # noqa: F401  (re-exported for the tests)


def run_on(n, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with the kernels on ``n`` threads."""
    with num_threads(n):
        return fn(*args, **kwargs)
