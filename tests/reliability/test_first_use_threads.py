"""First use from several threads: a lazy build happens once, under one lock.

A ``Sequential`` without an input shape builds its weights on its first ``predict`` /
``__call__``; a layer called on arrays builds on its first call.  8 threads making that
first call at once (released together by a barrier) must all succeed, build each layer
once, and all get outputs of that one set of weights.  The layers' ``build`` sleeps, so
without the lock the threads overlap inside it on every trial.
"""

import copy
import threading
import time

import numpy as np
import pytest

import fastnn
from fastnn import layers

THREADS = 8
TRIALS = 10


class SlowDense(layers.Dense):
    """A Dense whose build counts its calls and yields the GIL halfway."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.builds = 0

    def build(self, input_shape):
        self.builds += 1
        time.sleep(0.002)  # another thread would run here
        super().build(input_shape)


def _in_threads(fn):
    """Run ``fn(i)`` in THREADS threads released together; returns (results, errors)."""
    barrier = threading.Barrier(THREADS)
    results, errors = [None] * THREADS, []

    def work(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return results, errors


@pytest.mark.parametrize("entry", ["predict", "call"])
def test_sequential_without_input_shape_builds_once(entry):
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    for _ in range(TRIALS):
        model = fastnn.Sequential([SlowDense(7, activation="relu"), SlowDense(3)])
        run = (lambda i: model.predict(x, verbose=0)) if entry == "predict" else (
            lambda i: model(x))
        results, errors = _in_threads(run)
        assert not errors, errors[0]
        assert [layer.builds for layer in model.layers] == [1, 1]
        assert len(model.weights) == 4
        expected = model.predict(x, verbose=0)  # the weights the model kept
        for got in results:
            np.testing.assert_array_equal(got, expected)


def test_layer_called_on_arrays_builds_once():
    x = np.ones((2, 4), dtype="float32")
    for _ in range(TRIALS):
        layer = SlowDense(3)
        results, errors = _in_threads(lambda i: layer(x))
        assert not errors, errors[0]
        assert layer.builds == 1 and len(layer.weights) == 2
        for got in results:
            np.testing.assert_array_equal(got, layer(x))


def test_a_failed_build_leaves_no_weights_behind():
    class FailOnce(fastnn.initializers.Zeros):
        failed = False

        def __call__(self, shape, dtype=None):
            if not FailOnce.failed:
                FailOnce.failed = True
                raise MemoryError("simulated")
            return super().__call__(shape, dtype)

    layer = layers.Dense(3, bias_initializer=FailOnce())
    with pytest.raises(MemoryError, match="bias"):
        layer(np.ones((2, 4)))  # the kernel was made, then the bias failed
    assert not layer.built and layer.weights == []
    layer(np.ones((2, 4)))
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)]


def test_a_failed_first_build_can_be_retried_on_the_model():
    # the input shape is adopted only once every layer accepted it
    model = fastnn.Sequential([layers.Reshape((2, 2)), layers.Flatten(), layers.Dense(3)])
    with pytest.raises(ValueError, match="cannot reshape samples of 5 elements"):
        model.predict(np.ones((2, 5)), verbose=0)
    assert not model.built
    assert model.predict(np.ones((2, 4)), verbose=0).shape == (2, 3)


def test_built_in_threads_the_model_still_saves_loads_and_copies(tmp_path):
    x = np.random.default_rng(1).normal(size=(4, 6))
    model = fastnn.Sequential([layers.Dense(5, activation="tanh"), layers.Dense(2)])
    _, errors = _in_threads(lambda i: model.predict(x, verbose=0))
    assert not errors, errors[0]
    model.get_config()
    model.save(tmp_path / "m.fastnn")
    loaded = fastnn.models.load_model(tmp_path / "m.fastnn")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # the build lock is module-wide, not an attribute: layers still deep-copy
    clone = copy.deepcopy(model.layers[0])
    np.testing.assert_array_equal(clone.weights[0].value, model.layers[0].weights[0].value)
