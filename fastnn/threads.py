"""Thread control for the native kernels: one resolver for the default thread count.

The default honours ``OMP_NUM_THREADS``, else the cores this process may use (its CPU
affinity mask and, in a container, its cgroup CPU quota).  ``set_num_threads`` overrides
it for the whole process; ``num_threads(n)`` overrides it for a ``with`` block and then
puts back whatever was in force before (a number set earlier, or the default).

Every count, from either source, is capped at ``OVERSUBSCRIPTION`` times the usable
cores, with a warning naming the count asked for and the count used: past a few threads
per core a kernel only spends its time waiting at OpenMP barriers and switching
contexts (1000 threads on 2 cores made ``fit`` 54 times slower), and the kernels take
the count as a C ``int``, which a count such as 2**31 would overflow.

Fork safety:

* GNU libgomp cannot run a parallel region in a child forked after the parent started
  OpenMP threads (the child waits forever for pool threads that fork did not copy).  So
  a child forked after fastnn's native kernels were loaded runs them on one thread, and
  says so once, instead of hanging.
* OpenBLAS (NumPy's BLAS, which the NumPy backend's matrix products run on) tears its
  thread pool down in its own at-fork handler, and a fork while another thread is
  inside a multithreaded BLAS call hangs: the parent in ``fork()`` or in that call, or
  the child.  So the NumPy backend runs its BLAS calls inside ``blas_call()``, and
  ``os.fork`` (hence multiprocessing's 'fork' start method) first waits for the calls in
  flight to end and holds new ones until the fork is done.  This covers fastnn's own
  calls only: NumPy matrix products that other code runs in other threads while this
  process forks can still hang it.  Use the 'spawn' or 'forkserver' start method, or
  ``OPENBLAS_NUM_THREADS=1``, when other threads use NumPy around a fork.
"""

import contextlib
import functools
import math
import os
import sys
import threading
import warnings

from .utils.validation import check_int

# Threads per usable core that a setting may ask for.  Some oversubscription is
# legitimate: a cgroup quota of 1.5 CPUs counts as 1 core, and hyperthreads or a
# deliberate stress test may want a few threads per core; 4 leaves room for those and
# still stops a count (1000 on 2 cores) whose only effect is barrier waits.
OVERSUBSCRIPTION = 4

_num_threads = None
# Cores the default may use, set by fastnn.distributed.initialize to this rank's share of
# its node (cores on the node / ranks on the node); None: usable_cores().
_default_cores = None
_forked_child = False
_warned_fork = False


class _ForkGate:
    """Lets any number of BLAS calls run at once, or one fork, never both.

    A fork waits for the calls in flight and keeps new ones waiting until it is done
    (in the parent; the child starts with a fresh gate, since none of the parent's
    other threads exist there).  Waiting releases the GIL, so the calls can finish.
    """

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._calls = 0
        self._forking = False

    # The gate is its own context manager (``with gate:`` is one BLAS call): cheaper
    # than a generator-based one, and the NumPy backend enters it on every product.
    def __enter__(self):
        with self._cond:
            while self._forking:
                self._cond.wait()
            self._calls += 1
        return self

    def __exit__(self, *exc_info):
        with self._cond:
            self._calls -= 1
            if not self._calls:
                self._cond.notify_all()

    def before_fork(self):
        with self._cond:
            # a fork from inside a BLAS call of this thread cannot happen: the gate
            # wraps single NumPy calls, which run no Python code
            while self._forking:
                self._cond.wait()
            self._forking = True
            while self._calls:
                self._cond.wait()

    def after_fork_in_parent(self):
        with self._cond:
            self._forking = False
            self._cond.notify_all()


_fork_gate = _ForkGate()


def blas_call():
    """A context for one NumPy BLAS call (a matrix product) that a fork must not cut.

    The NumPy backend wraps its matrix products in it; see the module docstring.
    """
    return _fork_gate


def _before_fork():
    _fork_gate.before_fork()


def _after_fork_in_parent():
    _fork_gate.after_fork_in_parent()


def _after_fork_in_child():
    global _forked_child, _fork_gate
    _fork_gate = _ForkGate()
    if "fastnn._native._threads" in sys.modules:
        _forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


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
    """``OMP_NUM_THREADS`` when it is a positive integer, else ``usable_cores()`` (or
    the share of them ``set_default_num_threads`` gave).

    Read once per process, as OpenMP itself reads it once: every native op asks for its
    thread count, and even an environment lookup costs microseconds.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return _capped(int(env), "OMP_NUM_THREADS", stacklevel=4)
    return _default_cores if _default_cores is not None else usable_cores()


def set_default_num_threads(n):
    """Make ``n`` the default thread count (what ``set_num_threads`` and
    ``OMP_NUM_THREADS`` override).  ``fastnn.distributed.initialize`` sets it to this
    rank's share of its node, so that ranks on one node do not oversubscribe it.

    Args:
        n: an integer >= 1, capped as for ``set_num_threads``; None restores
            ``usable_cores()``.
    """
    global _default_cores
    _default_cores = None if n is None else _checked_count(n)
    default_num_threads.cache_clear()


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
    """Set how many threads the native kernels use, for the whole process.

    Args:
        n: an integer >= 1 (a NumPy integer too).  A count above ``OVERSUBSCRIPTION``
            times ``usable_cores()`` is lowered to that, with a warning.
    """
    global _num_threads
    _num_threads = _checked_count(n)


@contextlib.contextmanager
def num_threads(n):
    """Within the ``with`` block the native kernels use ``n`` threads.

    On exit the setting in force before is restored, including "no setting" (the
    default resolver), even when the block raises.  The setting is process-wide, like
    ``set_num_threads``: another thread running kernels meanwhile uses ``n`` too.

    Args:
        n: an integer >= 1, capped as for ``set_num_threads``.
    """
    global _num_threads
    n = _checked_count(n, stacklevel=5)
    before = _num_threads
    _num_threads = n
    try:
        yield n
    finally:
        _num_threads = before


def max_num_threads():
    """The largest thread count a setting is given: ``OVERSUBSCRIPTION`` per usable core."""
    return OVERSUBSCRIPTION * usable_cores()


def _checked_count(n, stacklevel=4):
    return _capped(check_int("num_threads", n, low=1), "num_threads", stacklevel)


def _capped(n, source, stacklevel):
    """``n`` lowered to ``max_num_threads()``, with a warning when it had to be."""
    cap = max_num_threads()
    if n <= cap:
        return n
    warnings.warn(
        f"fastnn: {source}={n} asks for more than {OVERSUBSCRIPTION} threads per usable "
        f"core ({usable_cores()} usable); the native kernels use {cap} threads instead, "
        "since more would only wait on each other.",
        RuntimeWarning,
        stacklevel=stacklevel,
    )
    return cap
