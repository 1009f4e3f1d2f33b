"""Argument validation shared by the layers: every message names the argument and ends
with ``Received: name=value``, as Keras' do."""

import numbers

import numpy as np

from .core import _positive_int

positive_int = _positive_int


def number(name, value, expected, accept):
    """``value`` as a float when it is a real number and ``accept(value)`` holds, else a
    ValueError: "Invalid value for argument `name`: expected <expected>. Received: ..."."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = accept(float(value))  # NaN fails every bound, so it is refused too
    if not ok:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {expected}. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def integer(name, value):
    """``value`` as a Python int (bools refused), else a TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"Expected `{name}` to be an integer. Received: {name}={value!r}"
        )
    return int(value)


def seed(value):
    """A layer's ``seed``: None or a non-negative integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(
            f"Expected `seed` to be a non-negative integer or None. Received: seed={value!r}"
        )
    return int(value)


def feature_axis(layer, axis, rank):
    """``axis`` (negative counts from the end) as a positive index into a shape of
    ``rank`` axes; the batch axis 0 is refused, since samples must stay independent."""
    resolved = axis + rank if axis < 0 else axis
    if not 1 <= resolved < rank:
        raise ValueError(
            f"Invalid `axis` for {type(layer).__name__} on inputs of rank {rank}: expected "
            f"an axis other than the batch axis, in [1, {rank - 1}] or [{1 - rank}, -1]. "
            f"Received: axis={axis}"
        )
    return resolved


def as_2d_features(x):
    """``x`` viewed as C-contiguous ``(-1, last_axis)``: the layout the backends expect
    for element-wise and row-wise (softmax) primitives."""
    if x.ndim >= 2:
        return np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    return np.ascontiguousarray(x).reshape(1, -1)
