"""Each contender in its own worker process, timed in interleaved rounds over a pipe.

Why: in one process the contenders' thread pools (libgomp's for fastnn, OpenBLAS's for
NumPy, PyTorch's) outlive their calls and spin, so whichever contender runs next shares
the cores with them.  ``timing.wait_until_quiet`` waits for them, but in one process
that was not enough (measured in an earlier session on a 2-core Zen 5,
AMD EPYC family 26 model 2: the 784-500-500-10 MLP at batch 256 on 2 threads gave
78k-101k samples/s in one run and 104k-117k alone in a fresh process, and 9-10 of the 22
figures of ``benchmarks/check_bench_agreement.py`` differed by more than 10%).

How:

- ``WorkerPool`` starts one persistent worker per contender, lazily, the first time the
  contender is asked for (``python -c`` running ``_worker_main``; it imports fastnn's
  bench package and, only for the contender that needs it, PyTorch or scikit-learn).  A
  worker serves one measurement (a *job*) at a time: ``setup`` builds the runner under
  ``thread_limits(threads)`` (the same thread pinning as in one process), makes the
  untimed first call that counts how many runs a sample needs, and keeps both until
  the next job; ``sample`` times one sample and answers its seconds.
- ``isolated_times`` drives the rounds from the parent: round ``r`` asks each worker
  for one sample in ``timing.round_order`` (the rotation ``interleaved_times`` uses), so
  drift on the host hits every contender alike, as in one process.  Before each sample
  the parent waits until the *other* workers and its own other threads are quiet
  (``wait_until_quiet(pids=...)``: no thread runnable, and little run or run-queue time
  in ``/proc/<pid>/task/*/schedstat``), then the
  worker waits for its own other threads, as a contender alone in a fresh process would
  (that is what ``check_bench_agreement.py`` compares against).
- Messages are JSON (one ``multiprocessing`` connection over a socket pair, whose end the
  worker gets as an inherited descriptor): only plain data crosses, and the worker's
  stdout and stderr go to a temporary file, so nothing a library prints can corrupt a
  reply; its tail is quoted when the worker dies.
- Shutdown: the pool's ``close`` (a context manager, also on an exception or Ctrl-C)
  asks each worker to exit, then kills what does not within a few seconds.  Workers
  ignore SIGINT (the terminal sends it to the whole process group: the parent decides),
  exit at EOF on their pipe, and on Linux ask the kernel to kill them when the parent
  dies (``PR_SET_PDEATHSIG``), so a killed parent leaves no orphans.
- A Python error inside a worker is answered as ``WorkerError`` (the measurement records
  an ``error`` entry for that contender and the others carry on); a worker that dies or
  stops answering raises ``WorkerCrashed`` naming the contender, its pid, exit status
  and the tail of its output, and the pool starts a fresh worker for its next job.

Measured (``benchmarks/check_bench_agreement.py``, best of 3 blocks of 5-round medians,
2 threads, on a 2-core Zen 5, AMD EPYC family 26 model 2, shared with other jobs: 1-minute
load average 2.5 to 4.2 on its 2 CPUs, so not the quiet machine the check needs): on the
512 GEMM and the MLP at batch 256, the NumPy/OpenBLAS contenders ran in one process at
0.27-0.73x of their figure alone and isolated at 0.94-1.03x; fastnn-native and PyTorch
moved by up to 20-27% either way in both modes, with the load.  4 of 6 figures were off
by more than 10% in one process, 3 of 6 isolated; a second run at load 2.1-2.9 gave 3
and 4 of 6, the hand-written loop alone at 3.8k samples/s against 21k-37k in the other
modes (OpenBLAS on 2 threads stalls whenever another job takes one of the cores).  All 22 figures at load 2.5-5.8: 16 in
one process, 17 isolated, with "alone" itself below "in one process" by up to 4x on some:
noise, not a verdict.  The 10% bound is for a quiet-machine run.

Not chosen (by reasoning, not measured): a ``multiprocessing`` spawn context (it
re-imports the parent's ``__main__``, i.e. the whole bench script, in every worker); a
fixed thread count per worker through ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` at
start (OpenBLAS cannot grow past its start-up count, and the scaling section needs 1,
2, ... threads in one worker).
"""

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from multiprocessing import connection

from . import timing

#: How a measurement runs its contenders: ``processes`` (one worker each, this module)
#: or ``in-process`` (all in the caller's process, ``timing.interleaved_times``).
ISOLATION_MODES = ("processes", "in-process")

#: Seconds a new worker may take to import fastnn and answer; a setup (which may import
#: PyTorch and run the first, counting call) and a sample may take much longer.
START_TIMEOUT = 120.0
ANSWER_TIMEOUT = 900.0
#: Seconds a worker gets to exit when asked, before it is killed.
EXIT_TIMEOUT = 5.0

#: Optional modules recorded in a setup's answer when the worker has them loaded, so a
#: result shows which libraries shared each contender's process.
_WATCHED_MODULES = ("torch", "sklearn", "threadpoolctl", "matplotlib")

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class WorkerError(RuntimeError):
    """The contender raised inside its worker; the worker itself is still usable."""


class WorkerCrashed(RuntimeError):
    """A contender's worker process died or stopped answering."""


def check_isolation(isolation):
    """``isolation`` itself when it is one of ``ISOLATION_MODES``, else a ValueError."""
    if isolation not in ISOLATION_MODES:
        raise ValueError(f"isolation must be one of {ISOLATION_MODES}. "
                         f"Received: isolation={isolation!r}")
    return isolation


# --------------------------------------------------------------------------- parent side
class Worker:
    """One contender's worker process and the parent's end of its pipe.

    Args:
        name: The contender's name, used in every error message.
        env: Extra environment variables for the worker.
        paths: Extra ``sys.path`` entries for the worker (where a test's toy factory
            lives).
    """

    def __init__(self, name, env=None, paths=()):
        self.name = name
        self._env = dict(env or {})
        self._paths = [os.path.abspath(p) for p in paths]
        self.proc = None
        self._conn = None
        self._log = None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Start the process and wait for its first message (its pid)."""
        parent_end, child_end = connection.Pipe(duplex=True)
        self._log = tempfile.TemporaryFile(mode="w+b")
        env = dict(os.environ, **self._env)
        paths = [_PACKAGE_PARENT] + self._paths
        code = ("import sys; sys.path[:0] = " + repr(paths) + "; "
                "from fastnn.bench.isolate import _worker_main; "
                f"_worker_main({child_end.fileno()})")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=self._log, pass_fds=(child_end.fileno(),),
                close_fds=True)
        finally:
            child_end.close()  # the worker holds its own copy; EOF reaches us if it dies
        self._conn = parent_end
        hello = self._receive(START_TIMEOUT, "start")
        if hello.get("pid") != self.proc.pid:
            raise WorkerCrashed(f"contender {self.name!r}: its worker answered {hello!r} "
                                "instead of its pid")
        return self

    def request(self, message, timeout=ANSWER_TIMEOUT):
        """Send one message and return the answer.

        Raises:
            WorkerError: The contender raised in the worker (the worker is fine).
            WorkerCrashed: The worker died or did not answer within ``timeout``.
        """
        if not self.alive():
            raise self._crashed(f"was not running before {message['op']!r}")
        try:
            self._conn.send_bytes(json.dumps(message).encode())
        except OSError as exc:
            raise self._crashed(f"could not be sent {message['op']!r} ({exc})") from None
        reply = self._receive(timeout, message["op"])
        if not reply.get("ok", False):
            raise WorkerError(f"contender {self.name!r}: {reply.get('error')}")
        return reply

    def setup(self, factory, kwargs, threads, min_seconds=None, imports=()):
        """Build a new runner in the worker (the previous one is dropped).

        Args:
            factory: ``"module:function"``; called in the worker with ``kwargs`` under
                ``thread_limits(threads)``, it returns the zero-argument runner.
            kwargs: Plain JSON data.
            threads: The thread count for fastnn, PyTorch and NumPy's BLAS.
            min_seconds: When not None, the runner is called once, untimed, to count
                how many calls make a sample of at least this long; else one call.
            imports: Optional modules imported before the thread limits (PyTorch), so
                that they are limited too.

        Returns:
            The worker's answer: ``calls``, ``thread_control``, ``loaded``, ``pid``.
        """
        return self.request({"op": "setup", "factory": factory, "kwargs": kwargs,
                             "threads": int(threads), "min_seconds": min_seconds,
                             "imports": list(imports)})

    def sample(self, settle_seconds):
        """Time one sample; returns ``(seconds, quiet)``, ``quiet`` False when the
        worker's own other threads were still running after ``settle_seconds``."""
        reply = self.request({"op": "sample", "settle_seconds": settle_seconds})
        return reply["seconds"], reply["quiet"]

    def close(self, timeout=EXIT_TIMEOUT):
        """Ask the worker to exit; kill it if it has not within ``timeout`` seconds."""
        if self.proc is None:
            return
        try:
            if self.alive():
                with contextlib.suppress(OSError):
                    self._conn.send_bytes(json.dumps({"op": "exit"}).encode())
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            self._conn.close()
            self._log.close()
            self.proc = None

    def _receive(self, timeout, what):
        try:
            ready = self._conn.poll(timeout)
        except OSError:
            ready = True  # a broken pipe: recv below says EOF
        if not ready:
            self.proc.kill()
            self.proc.wait()
            raise self._crashed(f"did not answer {what!r} within {timeout:.0f} s and was "
                                "killed")
        try:
            return json.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            try:
                self.proc.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            raise self._crashed(f"died during {what!r}") from None

    def _crashed(self, what):
        status = self.proc.poll() if self.proc is not None else None
        if status is not None and status < 0:
            with contextlib.suppress(ValueError):
                status = f"killed by {signal.Signals(-status).name}"
        tail = ""
        if self._log is not None:
            self._log.seek(0)
            text = self._log.read().decode(errors="replace").strip()
            tail = ("; its last output:\n" + text[-1500:]) if text else ""
        return WorkerCrashed(f"the worker process of contender {self.name!r} (pid "
                             f"{self.pid}) {what}; exit status {status}{tail}")


class WorkerPool:
    """One persistent worker per contender, started on first use; a context manager.

    Args:
        env: Extra environment variables for every worker.
        paths: Extra ``sys.path`` entries for every worker.

    Example:
        >>> with WorkerPool() as pool:
        ...     worker = pool.worker("fastnn-numpy")
        ...     worker.setup(CONTENDER_FACTORY, {"kind": "gemm", "name": "fastnn-numpy",
        ...                  "job": gemm_shapes((256,), batch_sizes=())[0]}, threads=1)
        ...     times = isolated_times(pool, ["fastnn-numpy"], repeats=3)
    """

    def __init__(self, env=None, paths=()):
        self._env, self._paths = env, tuple(paths)
        self.workers = {}
        self.closed = False

    def worker(self, name):
        """The worker of contender ``name``, started if it is not running (again)."""
        if self.closed:
            raise RuntimeError("this WorkerPool is closed")
        w = self.workers.get(name)
        if w is not None and not w.alive():
            w.close()
            w = None
        if w is None:
            w = Worker(name, env=self._env, paths=self._paths)
            self.workers[name] = w
            w.start()
        return w

    def pids(self, exclude=None):
        """Pids of the running workers, but ``exclude``'s."""
        return [w.pid for n, w in self.workers.items() if n != exclude and w.alive()]

    def close(self, timeout=EXIT_TIMEOUT):
        """Stop every worker: each is asked to exit, and killed after ``timeout`` s."""
        self.closed = True
        workers, self.workers = list(self.workers.values()), {}
        for w in workers:
            w.close(timeout)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # On an error or Ctrl-C a worker may be in the middle of a long sample: it is
        # not waited for.
        self.close(EXIT_TIMEOUT if exc_type is None else 0.2)
        return False

    def __del__(self):
        if not getattr(self, "closed", True):
            self.close()


def isolated_times(pool, names, repeats=5, warmup=1, progress=None, settle_seconds=None,
                   noisy_starts=None, errors=None):
    """Time the contenders' current jobs in interleaved rounds, one worker each.

    The counterpart of ``timing.interleaved_times`` for workers already set up
    (``Worker.setup``).  Before each sample it waits, at most ``settle_seconds``, for
    the other workers and the other threads of this process to go quiet; the worker
    then waits as long for its own other threads.

    Args:
        pool: A ``WorkerPool``.
        names: The contenders, in the order of round 0.
        repeats, warmup, progress, settle_seconds, noisy_starts: As for
            ``interleaved_times``.
        errors: A dict; a contender whose worker raised or crashed gets its message
            here and is left out of the later rounds.

    Returns:
        Dict name -> list of seconds, one per timed round (shorter for a contender
        that failed).
    """
    errors = {} if errors is None else errors
    times = {name: [] for name in names}
    if settle_seconds is None:
        settle_seconds = timing.SETTLE_SECONDS
    for r in range(warmup + repeats):
        for name in timing.round_order(names, r):
            if name in errors:
                continue
            if progress is not None:
                phase = "warm-up" if r < warmup else f"round {r - warmup + 1}/{repeats}"
                progress(f"{phase}: {name}")
            quiet = True
            if settle_seconds:
                quiet = timing.wait_until_quiet(
                    settle_seconds, pids=pool.pids(exclude=name) + [os.getpid()])
            # The worker set up for this job, not pool.worker(): a fresh one, started
            # after a crash, has no job to time.
            worker = pool.workers.get(name)
            if worker is None:
                errors[name] = f"contender {name!r} has no worker set up in this pool"
                continue
            try:
                elapsed, worker_quiet = worker.sample(settle_seconds)
            except (WorkerError, WorkerCrashed) as exc:
                errors[name] = str(exc)
                continue
            if r >= warmup:
                times[name].append(elapsed)
                if not (quiet and worker_quiet) and noisy_starts is not None:
                    noisy_starts.append(name)
    return times


# --------------------------------------------------------------------------- the bench's jobs
#: The factory ``fastnn.bench.compare`` sets its workers up with.
CONTENDER_FACTORY = "fastnn.bench.isolate:contender_runner"


def contender_runner(kind, name, job, seed=0, dtype="float32"):
    """A contender's runner for one measurement, built inside its worker.

    Args:
        kind: ``"training"``, ``"inference"`` or ``"gemm"``.
        name: The contender.
        job: The scenario (training, inference) or the shape (gemm).
        seed: Seeds data, operands and initialisation.
        dtype: The GEMM's dtype.

    Returns:
        The zero-argument callable ``fastnn.bench.compare`` would time in one process.
    """
    from . import contenders
    from .scenarios import synthetic_data

    if kind == "gemm":
        fn = contenders.gemm_runner(name, job, dtype, seed)
        fn()  # packing buffers are allocated and BLAS threads start on first use
        return fn
    x, y = synthetic_data(job, seed)
    make = (contenders.make_training_runner if kind == "training"
            else contenders.make_inference_runner)
    return make(name, job, x, y, seed)


# --------------------------------------------------------------------------- worker side
def _die_with_parent():
    """Ask Linux to SIGKILL this process when its parent dies (no orphans)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before the call: nobody will drive us
        os._exit(0)


def _load_factory(spec):
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"factory must be 'module:function'. Received: {spec!r}")
    return getattr(importlib.import_module(module), attr)


class _Job:
    """The worker's current runner, its calls per sample and its thread limits."""

    def __init__(self):
        self.stack = contextlib.ExitStack()
        self.run = None

    def setup(self, msg):
        from . import optional
        from .threads import thread_limits

        self.drop()
        for module in msg.get("imports", ()):
            optional.load(module)  # before thread_limits, so that it is limited too
        control = self.stack.enter_context(thread_limits(msg["threads"]))
        fn = _load_factory(msg["factory"])(**msg["kwargs"])
        calls = 1
        if msg.get("min_seconds") is not None:
            calls = timing.calls_for(fn, msg["min_seconds"])
        self.run = timing.repeated(fn, calls)
        return {"calls": calls, "thread_control": control, "pid": os.getpid(),
                "loaded": sorted(m for m in _WATCHED_MODULES if m in sys.modules)}

    def sample(self, msg):
        if self.run is None:
            raise RuntimeError("'sample' before any 'setup'")
        settle = msg.get("settle_seconds") or 0
        quiet = timing.wait_until_quiet(settle) if settle else True
        return {"seconds": timing.timed(self.run), "quiet": quiet}

    def drop(self):
        self.run = None
        self.stack.close()
        self.stack = contextlib.ExitStack()


def _worker_main(fd):
    """A worker's loop: answer the parent's messages on descriptor ``fd`` until EOF or
    ``exit``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    conn = connection.Connection(fd)
    conn.send_bytes(json.dumps({"pid": os.getpid()}).encode())
    job = _Job()
    while True:
        try:
            msg = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            break  # the parent is gone
        op = msg.get("op")
        try:
            if op == "exit":
                reply = {}
            elif op == "setup":
                reply = job.setup(msg)
            elif op == "sample":
                reply = job.sample(msg)
            else:
                raise ValueError(f"unknown op {op!r}")
            reply["ok"] = True
        except Exception as exc:
            if op == "setup":
                job.drop()
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()[-3000:]}
        try:
            conn.send_bytes(json.dumps(reply, default=str).encode())
        except OSError:
            break
        if op == "exit":
            break
    job.drop()
    conn.close()


def wait_for_exit(pids, timeout=5.0):
    """Whether every process in ``pids`` has ended within ``timeout`` seconds (for tests
    and for callers checking that no worker outlived its pool)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not any(os.path.exists(f"/proc/{p}") and not _is_zombie(p) for p in pids):
            return True
        time.sleep(0.02)
    return False


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
