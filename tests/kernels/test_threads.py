"""Thread control: the resolver, set/get_num_threads, and fork safety."""

import multiprocessing as mp
import os
import sys

import numpy as np
import pytest

import fastnn
from fastnn import backend, threads
from subproc import run_python


def test_set_and_get_num_threads():
    before = fastnn.get_num_threads()
    with threads.num_threads(before):  # restores "no setting" afterwards
        fastnn.set_num_threads(1)
        assert fastnn.get_num_threads() == 1
    assert fastnn.get_num_threads() == before


def test_num_threads_context_restores_the_previous_setting_on_error():
    before = fastnn.get_num_threads()
    with pytest.raises(RuntimeError):
        with threads.num_threads(1):
            assert fastnn.get_num_threads() == 1
            with threads.num_threads(2):
                assert fastnn.get_num_threads() == 2
            assert fastnn.get_num_threads() == 1
            raise RuntimeError("inside the block")
    assert fastnn.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads=0"):
        with threads.num_threads(0):
            pass
    assert fastnn.get_num_threads() == before


def test_backend_using_restores_the_previous_backend_on_error():
    before = backend.current()
    with pytest.raises(RuntimeError):
        with backend.using("numpy") as ops:
            assert ops is backend.current() is backend.get("numpy")
            raise RuntimeError("inside the block")
    assert backend.current() is before
    with pytest.raises(ValueError, match="Unknown backend"):
        with backend.using("cuda"):
            pass
    assert backend.current() is before


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_set_num_threads_refuses_bad_values(bad):
    with pytest.raises((TypeError, ValueError), match="num_threads"):
        fastnn.set_num_threads(bad)


def test_default_honours_omp_num_threads():
    code = "import fastnn; print(fastnn.get_num_threads())"
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    out = run_python(["-c", code], env=env)
    assert out.stdout.strip() == "3"
    env.pop("OMP_NUM_THREADS")
    out = run_python(["-c", code], env=env)
    assert int(out.stdout.strip()) == threads.usable_cores()


def _child_matmul(queue):
    import warnings

    ops = backend.get("native")
    a = np.arange(300 * 300, dtype=np.float32).reshape(300, 300) / 9e4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ops.matmul(a, a)
    queue.put((float(np.abs(result - a @ a).max()), [str(w.message) for w in caught]))


@pytest.mark.skipif(not backend.native_available(), reason="native backend not built")
@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_forked_child_runs_serially_instead_of_hanging():
    ops = backend.get("native")
    with threads.num_threads(2):
        a = np.ones((300, 300), dtype=np.float32)
        ops.matmul(a, a)  # start the OpenMP pool in the parent
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        proc = ctx.Process(target=_child_matmul, args=(queue,))
        proc.start()
        proc.join(60)
        if proc.is_alive():
            proc.kill()
            pytest.fail("the forked child hung in an OpenMP region")
        err, messages = queue.get(timeout=10)
    assert proc.exitcode == 0
    assert err < 1e-3
    assert any("forked" in m for m in messages)
