"""Concurrency: threads share models safely.

* 8 threads calling ``predict`` on one shared model all get the right answers.
* The kernels release the GIL, so threads calling ``predict`` on separate models make
  real parallel progress (measured: the speedup of 2 threads over 1).
* Training one model from two threads at once is refused with a clear RuntimeError,
  whichever of ``fit`` / ``train_on_batch`` starts first; the model is not corrupted.
"""

import threading
import time

import numpy as np
import pytest

import fastnn
from fastnn import backend, layers, threads


def _model(seed=0, width=256, dropout=True):
    fastnn.utils.set_random_seed(seed)
    stack = [layers.Dense(width, activation="relu", input_dim=64)]
    if dropout:
        stack += [layers.Dropout(0.5), layers.BatchNormalization()]
    stack += [layers.Dense(width, activation="tanh"), layers.Dense(10, activation="softmax")]
    model = fastnn.Sequential(stack)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    model.fit(rng.normal(size=(128, 64)), rng.integers(0, 10, 128), epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("backend_name", ["numpy"] + (["native"] if backend.native_available()
                                                      else []))
def test_eight_threads_predict_on_one_shared_model(backend_name):
    previous = backend.current()
    fastnn.set_backend(backend_name)
    try:
        model = _model()
        rng = np.random.default_rng(1)
        inputs = [rng.normal(size=(int(rng.integers(1, 70)), 64)).astype("float32")
                  for _ in range(8)]
        expected = [model.predict(x, verbose=0, batch_size=16) for x in inputs]
        errors, barrier = [], threading.Barrier(8)

        def work(i):
            try:
                barrier.wait()
                for _ in range(30):
                    got = model.predict(inputs[i], verbose=0, batch_size=16)
                    np.testing.assert_array_equal(got, expected[i])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
    finally:
        fastnn.set_backend(previous.name)


def _timed_predicts(models, x, calls):
    """Seconds for each model to run ``calls`` predicts, all models in parallel threads."""
    barrier = threading.Barrier(len(models))

    def work(m):
        barrier.wait()
        for _ in range(calls):
            m.predict(x, verbose=0, batch_size=len(x))

    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def measure_speedup(calls=6, repeats=3):
    """Speedup of 2 threads (2 models) over 1 thread doing the same total work, each
    kernel on one OpenMP thread: > 1 only if the kernels release the GIL."""
    with fastnn.threads.num_threads(1):
        models = [_model(0, width=512, dropout=False), _model(1, width=512, dropout=False)]
        x = np.random.default_rng(0).normal(size=(2048, 64)).astype("float32")
        for m in models:
            m.predict(x, verbose=0, batch_size=len(x))
        best = 0.0
        for _ in range(repeats):
            serial = _timed_predicts(models[:1], x, 2 * calls)
            parallel_time = _timed_predicts(models, x, calls)
            best = max(best, serial / parallel_time)
        return best


# A measured speed-up depends on what else the machine runs, so it is a long-run figure
# (pytest -m slow), not a default check; the GIL release itself is checked below.
@pytest.mark.slow
@pytest.mark.skipif(not backend.native_available(), reason="native backend not built")
@pytest.mark.skipif(threads.usable_cores() < 2, reason="needs two cores")
def test_predict_threads_on_separate_models_run_in_parallel():
    speedup = measure_speedup()
    print(f"\n[reliability] 2-thread predict speedup={speedup:.2f}x")
    # 2.0 is the ideal on two idle cores; other processes on the machine cost some
    assert speedup > 1.3, f"2 threads ran only {speedup:.2f}x faster than 1"


@pytest.mark.skipif(not backend.native_available(), reason="native backend not built")
def test_kernels_release_the_gil():
    """A pure-Python thread keeps running while another thread is inside a kernel."""
    with fastnn.threads.num_threads(1):
        ops = backend.get("native")
        a = np.random.default_rng(0).normal(size=(1200, 1200)).astype("float32")
        ops.matmul(a, a)
        t0 = time.perf_counter()
        ops.matmul(a, a)
        kernel = time.perf_counter() - t0
        ticks, running = [0], threading.Event()

        def count():
            running.set()
            while running.is_set():
                ticks[0] += 1

        counter = threading.Thread(target=count)
        counter.start()
        running.wait()
        start = ticks[0]
        t0 = time.perf_counter()
        for _ in range(3):
            ops.matmul(a, a)
        elapsed = time.perf_counter() - t0
        progress = ticks[0] - start
        running.clear()
        counter.join()
    # with the GIL held for the whole product the counter would advance only at the
    # switch points between calls (a handful of ticks)
    assert elapsed > 2 * kernel or progress > 10_000, (progress, elapsed, kernel)
    assert progress > 10_000, f"only {progress} ticks in {elapsed:.2f}s of kernels"


# ----------------------------------------------------------------- training from 2 threads
def _paused_training(model, first, second):
    """Start ``first`` training in a thread, pause it inside a training step, run
    ``second`` from this thread, then let the first finish.  Returns the error of the
    second call."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 64)), rng.integers(0, 10, 64)
    inside, release = threading.Event(), threading.Event()
    step = model._train_step

    def paused_step(*args, **kwargs):
        if not inside.is_set():
            inside.set()
            release.wait(30)
        return step(*args, **kwargs)

    model._train_step = paused_step
    calls = {
        "fit": lambda: model.fit(x, y, epochs=2, batch_size=16, verbose=0),
        "train_on_batch": lambda: model.train_on_batch(x, y),
    }
    errors = []

    def run_first():
        try:
            calls[first]()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=run_first)
    thread.start()
    assert inside.wait(30)
    try:
        with pytest.raises(RuntimeError) as info:
            calls[second]()
    finally:
        release.set()
        thread.join()
        del model._train_step
    assert not errors, errors
    return info.value


@pytest.mark.parametrize("first, second", [("fit", "fit"), ("fit", "train_on_batch"),
                                           ("train_on_batch", "fit"),
                                           ("train_on_batch", "train_on_batch")])
def test_training_one_model_from_two_threads_is_refused(first, second):
    model = _model()
    reference = _model()
    exc = _paused_training(model, first, second)
    assert "already being trained in another thread" in str(exc)
    # the refused call changed nothing: the model equals one trained by `first` alone
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 64)), rng.integers(0, 10, 64)
    if first == "fit":
        # same seed state: fit draws its shuffling seed from the global generator
        fastnn.utils.set_random_seed(99)
        reference.fit(x, y, epochs=2, batch_size=16, verbose=0)
    else:
        reference.train_on_batch(x, y)
    got = model.get_weights()
    assert all(np.isfinite(w).all() for w in got)
    if first == "train_on_batch":
        for a, b in zip(got, reference.get_weights()):
            np.testing.assert_array_equal(a, b)
    # and the model trains normally afterwards
    model.fit(x, y, epochs=1, verbose=0)
