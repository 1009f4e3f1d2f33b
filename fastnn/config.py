"""Global numeric settings (Keras' ``keras.config``): the default float type and epsilon."""

import numpy as np

from .utils.validation import check_choice

_FLOATX = "float32"
_EPSILON = 1e-7
_FLOATX_CHOICES = ("float32", "float64")


def floatx():
    """The default float type name for weights and data: 'float32' unless changed."""
    return _FLOATX


def set_floatx(value):
    """Set the default float type: 'float32' or 'float64'."""
    global _FLOATX
    _FLOATX = check_choice("value", value, _FLOATX_CHOICES)


def epsilon():
    """The fuzz factor used by losses and optimizers (1e-7, as in Keras)."""
    return _EPSILON


def set_epsilon(value):
    """Set the fuzz factor."""
    global _EPSILON
    _EPSILON = float(value)


def dtype():
    """The NumPy dtype for ``floatx()``."""
    return np.dtype(_FLOATX)
