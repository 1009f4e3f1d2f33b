"""Forking while another thread is inside a NumPy (OpenBLAS) matrix product.

OpenBLAS's own at-fork handler tears its thread pool down; a fork during a
multithreaded BLAS call in another thread then hangs the parent (in ``fork()`` or in
that call) or the child.  ``fastnn.threads.blas_call()`` is the gate the NumPy backend
runs its products in: ``os.fork`` waits for those in flight.

Each scenario runs in a subprocess that arms ``signal.alarm`` in itself and in every
child it forks, and under a subprocess timeout, so a regression fails the test instead
of hanging the suite.
"""

import inspect
import os
import textwrap

import pytest

from fastnn.backend.numpy_ops import NumpyOps
from subproc import run_python

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

# Fork `forks` times while a thread loops over `work()`; each child runs `work()` once.
# Prints "hung N": the children that did not finish within 10 s.
_FORK_LOOP = """
import os, signal, sys, threading, time
import numpy as np
signal.alarm(90)  # the parent's own watchdog: SIGALRM kills it even inside C code
{setup}
stop = False
def loop():
    while not stop:
        work()
t = threading.Thread(target=loop)
t.start()
time.sleep(0.2)
hung = 0
for _ in range({forks}):
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        work()
        os._exit(0)
    deadline = time.time() + 10
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.time() > deadline:
            hung += 1
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.005)
stop = True
t.join()
print("hung", hung, flush=True)
"""


def _run_fork_loop(setup, forks=10):
    code = _FORK_LOOP.format(setup=textwrap.dedent(setup), forks=forks)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}  # multithreaded, even on one core
    result = run_python(["-c", code], env=env, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "hung 0" in result.stdout, result.stdout


def test_fork_waits_for_a_blas_call_in_flight():
    code = textwrap.dedent("""
        import os, signal, threading, time
        from fastnn import threads
        signal.alarm(60)
        state = {"inside": False}
        entered = threading.Event()
        def hold():
            with threads.blas_call():
                state["inside"] = True
                entered.set()
                time.sleep(0.3)
                state["inside"] = False
        t = threading.Thread(target=hold)
        t.start()
        entered.wait()
        pid = os.fork()  # must wait until hold() leaves the gate
        if pid == 0:
            os._exit(3 if state["inside"] else 0)
        _, status = os.waitpid(pid, 0)
        t.join()
        print("child", os.waitstatus_to_exitcode(status))
    """)
    result = run_python(["-c", code], timeout=90)
    assert result.returncode == 0, result.stderr
    assert "child 0" in result.stdout, result.stdout


def test_forks_during_gated_blas_calls_never_hang():
    _run_fork_loop("""
        from fastnn import threads
        a = np.random.default_rng(0).random((768, 768), dtype=np.float32)
        def work():
            with threads.blas_call():
                a @ a
    """)


@pytest.mark.skipif("blas_call" not in inspect.getsource(NumpyOps.matmul),
                    reason="NumpyOps.matmul does not enter threads.blas_call() yet")
def test_forks_during_a_numpy_backend_predict_never_hang():
    _run_fork_loop("""
        import fastnn
        fastnn.set_backend("numpy")
        model = fastnn.Sequential([fastnn.layers.Dense(512, input_dim=512),
                                   fastnn.layers.Dense(512)])
        x = np.random.default_rng(0).random((1024, 512), dtype=np.float32)
        def work():
            model.predict(x, verbose=0, batch_size=1024)
    """)
