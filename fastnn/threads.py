"""Thread control for the native kernels: one resolver for the default thread count.

The default honours ``OMP_NUM_THREADS``, else the cores this process may use (its CPU
affinity mask and, in a container, its cgroup CPU quota).  ``set_num_threads`` overrides
it for the whole process; ``num_threads(n)`` overrides it for a ``with`` block and then
puts back whatever was in force before (a number set earlier, or the default).

Fork safety: GNU libgomp cannot run a parallel region in a child forked after the parent
started OpenMP threads (the child waits forever for pool threads that fork did not copy).
So a child forked after fastnn's native kernels were loaded runs them on one thread, and
says so once, instead of hanging.
"""

import contextlib
import functools
import math
import os
import sys
import warnings

_num_threads = None
_forked_child = False
_warned_fork = False


def _after_fork_in_child():
    global _forked_child
    if "fastnn._native._threads" in sys.modules:
        _forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _cgroup_cpu_limit():
    """CPUs allowed by a cgroup v2/v1 quota, or None when there is no quota."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, math.floor(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return max(1, quota // period)
    except (OSError, ValueError):
        pass
    return None


@functools.lru_cache(maxsize=None)
def usable_cores():
    """Cores this process may run on (affinity mask, then cgroup quota).

    Cached: every native op asks for its thread count, and reading the cgroup files
    costs over 100 microseconds, more than a small kernel.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    return max(1, min(n, limit) if limit else n)


@functools.lru_cache(maxsize=None)
def default_num_threads():
    """``OMP_NUM_THREADS`` when it is a positive integer, else ``usable_cores()``.

    Read once per process, as OpenMP itself reads it once: every native op asks for its
    thread count, and even an environment lookup costs microseconds.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cores()


def get_num_threads():
    """Threads the native kernels use (1 in a child forked after they were loaded)."""
    global _warned_fork
    if _forked_child:
        if not _warned_fork:
            _warned_fork = True
            warnings.warn(
                "fastnn: this process was forked after fastnn's OpenMP kernels were loaded; "
                "they run on one thread here, because OpenMP cannot start threads in such a "
                "child. Use multiprocessing's 'spawn' or 'forkserver' start method for "
                "multithreaded kernels in child processes.",
                RuntimeWarning,
                stacklevel=2,
            )
        return 1
    return _num_threads if _num_threads is not None else default_num_threads()


def set_num_threads(n):
    """Set how many threads the native kernels use (an integer >= 1)."""
    global _num_threads
    _num_threads = _checked_count(n)


@contextlib.contextmanager
def num_threads(n):
    """Within the ``with`` block the native kernels use ``n`` threads.

    On exit the setting in force before is restored, including "no setting" (the
    default resolver), even when the block raises.  The setting is process-wide, like
    ``set_num_threads``: another thread running kernels meanwhile uses ``n`` too.
    """
    global _num_threads
    n = _checked_count(n)
    before = _num_threads
    _num_threads = n
    try:
        yield n
    finally:
        _num_threads = before


def _checked_count(n):
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"Expected num_threads to be an int >= 1. Received: n={n!r}")
    if n < 1:
        raise ValueError(f"Expected num_threads to be an int >= 1. Received: n={n}")
    return n
