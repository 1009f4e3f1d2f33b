"""Every primitive NativeOps overrides really reaches its native kernel.

A NativeOps method that silently falls back to NumPy still gives right answers, so the
other tests pass; only a benchmark would notice.  Here every NumpyOps implementation
NativeOps overrides is patched to raise, every native entry counts its calls, and each
override is called on arrays its kernel takes (float32 and float64): it must answer
without NumPy and through at least one entry.  (Every optimizer rule and variant is
checked the same way in tests/kernels/test_step_kernels.py.)  The overrides are found by inspection,
so a new one without a row in CALLS fails, as does a row for an override that is gone.
"""

import inspect

import numpy as np
import pytest

from fastnn.backend.numpy_ops import NumpyOps

_gemm = pytest.importorskip("fastnn._native._gemm")
_ew = pytest.importorskip("fastnn._native._elementwise")
_opt = pytest.importorskip("fastnn._native._optimizers")
_conv = pytest.importorskip("fastnn._native._conv")
from fastnn.backend.native_ops import NativeOps  # noqa: E402
from fastnn.optimizers.rules import AdamRule  # noqa: E402

DTYPES = [np.float32, np.float64]


def _overrides():
    """The public NumpyOps methods that NativeOps defines itself."""
    return sorted(
        name
        for name, value in vars(NativeOps).items()
        if inspect.isfunction(value) and not name.startswith("_") and hasattr(NumpyOps, name)
    )


def _case(dtype):
    """Arrays that every kernel takes, fresh for each call."""
    rng = np.random.default_rng(0)

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return r, rng


# One row per override: (positional args, keyword args) built from ``r`` (random arrays
# of the dtype under test), ``rng`` and ``dtype``.
CALLS = {
    "matmul": lambda r, rng, dtype: ((r(3, 4), r(5, 4)), {"transpose_b": True}),
    "dense_forward": lambda r, rng, dtype: (
        (r(3, 4), r(4, 5), r(5)), {"activation": "relu", "out": r(3, 5)}),
    "dense_backward": lambda r, rng, dtype: (
        (r(3, 4), r(4, 5), np.abs(r(3, 5)), r(3, 5)),
        {"activation": "relu", "out_dx": r(3, 4), "out_dw": r(4, 5), "out_db": r(5)}),
    "bias_grad": lambda r, rng, dtype: ((r(3, 5),), {}),
    "activation_forward": lambda r, rng, dtype: ((r(3, 4), "tanh"), {}),
    "activation_backward": lambda r, rng, dtype: ((r(3, 4), r(3, 4), "swish"),
                                                  {"x": r(3, 4)}),
    "softmax": lambda r, rng, dtype: ((r(3, 4),), {}),
    "softmax_crossentropy": lambda r, rng, dtype: (
        (r(3, 4), rng.integers(0, 4, 3), True, np.full(3, 1 / 3, dtype)), {}),
    "sigmoid_binary_crossentropy": lambda r, rng, dtype: (
        (r(3, 4), (r(3, 4) > 0).astype(dtype), np.full(3, 1 / 3, dtype)), {}),
    "dropout_mask": lambda r, rng, dtype: (((3, 4), 0.5, 1, 2, dtype), {}),
    "sum_squares": lambda r, rng, dtype: ((r(10),), {}),
    # x (2, 6, 5, 3), a 3x2 kernel with pads (1, 1, 0, 1): y (2, 6, 5, 4)
    "conv2d_forward": lambda r, rng, dtype: (
        (r(2, 6, 5, 3), r(3, 2, 3, 4), r(4), (1, 1), (1, 1, 0, 1)), {"activation": "relu"}),
    "conv2d_backward": lambda r, rng, dtype: (
        (r(2, 6, 5, 3), r(3, 2, 3, 4), np.abs(r(2, 6, 5, 4)), r(2, 6, 5, 4), (1, 1),
         (1, 1, 0, 1)), {"activation": "relu"}),
    "pool2d_forward": lambda r, rng, dtype: (
        (r(2, 6, 5, 3), (2, 2), (2, 2), (0, 0, 0, 1), "max"), {}),
    # index 0 names each window's top-left cell, a real one with no top/left padding
    "pool2d_backward": lambda r, rng, dtype: (
        (r(2, 3, 3, 3), np.zeros((2, 3, 3, 3), np.int32), (2, 6, 5, 3), (2, 2), (2, 2),
         (0, 0, 0, 1), "max"), {}),
    "multi_update": lambda r, rng, dtype: (
        (AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
         [r(10), r(2, 3)], [r(10), r(2, 3)],
         ([r(10), r(2, 3)], [np.abs(r(10)), np.abs(r(2, 3))], None), [0.0, 0.0],
         [1.0, 1.0]),
        {"lr": 0.1, "step": 1}),
}


def test_every_override_has_a_call():
    assert sorted(CALLS) == _overrides()


@pytest.fixture
def numpy_forbidden(monkeypatch):
    """NumpyOps' implementations of the overridden primitives raise; returns the list
    that records each native entry call."""
    for name in _overrides():
        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"NativeOps.{_name} fell back to NumPy")

        monkeypatch.setattr(NumpyOps, name, refuse)
    calls = []
    for module in (_gemm, _ew, _opt, _conv):
        for name in dir(module):
            entry = getattr(module, name)
            if name.startswith("_") or not callable(entry) or isinstance(entry, type):
                continue

            def counted(*args, _entry=entry, _name=name, **kwargs):
                calls.append(_name)
                return _entry(*args, **kwargs)

            monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CALLS))
def test_override_reaches_its_kernel(numpy_forbidden, nthreads, name, dtype):
    r, rng = _case(dtype)
    args, kwargs = CALLS[name](r, rng, dtype)
    getattr(NativeOps(), name)(*args, **kwargs)
    assert numpy_forbidden, f"NativeOps.{name} called no native entry"


def test_a_refused_call_does_fall_back(numpy_forbidden):
    """The fixture does catch a fallback: a float16 product goes to NumPy."""
    a = np.ones((2, 2), np.float16)
    with pytest.raises(AssertionError, match="fell back to NumPy"):
        NativeOps().matmul(a, a)
