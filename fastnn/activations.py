"""Activation functions (Keras 3 names), callable on arrays.

``fastnn.activations.relu(x)`` computes on a NumPy array (or anything ``np.asarray``
accepts) through the current backend, as ``keras.activations.relu`` does on tensors.

Layers do not store these functions: they store the *canonical name* (``"relu"``), which
is what the backends' fused kernels dispatch on and what a saved config holds.  So:

* ``get(identifier)`` follows Keras 3 and returns the function (``get("relu")(x)``
  works); ``get(None)`` is ``linear``.
* ``canonical(identifier)`` returns the canonical name of a name, an alias, None or one
  of the functions below.  Layers call it, so ``Dense(activation=activations.relu)``
  and ``Dense(activation="relu")`` build the same layer.
* ``serialize(fn)`` is ``canonical(fn)``; ``deserialize(name)`` is ``get(name)``.

Only the functions of this module are accepted: an arbitrary Python callable has no
backward pass in fastnn (NumPy has no autodiff), so it is refused with a clear error.
"""

import numpy as np

from . import backend as _backend
from . import config as _config
from .backend import activations as _table

# --------------------------------------------------------------------------- helpers


def _as_float_array(x):
    """``x`` as a float array: float32/float64 kept, anything else becomes floatx."""
    arr = np.asarray(x)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(_config.floatx())
    return arr


def _apply(name, x, alpha=None):
    """Run the backend's activation on ``x`` of any shape.

    The backends work on C-contiguous arrays whose last axis is the feature axis (that
    is what softmax normalizes over), so ``x`` is viewed as 2-D ``(-1, last)``.
    """
    arr = _as_float_array(x)
    shape = arr.shape
    if arr.ndim == 0:
        flat = arr.reshape(1, 1)
    else:
        flat = np.ascontiguousarray(arr.reshape(-1, shape[-1]) if arr.ndim > 1
                                    else arr.reshape(1, -1))
    out = _backend.current().activation_forward(flat, name, alpha=alpha)
    return out.reshape(shape)


# --------------------------------------------------------------------------- functions


def linear(x):
    """The identity: returns ``x`` unchanged (as a float array)."""
    return _apply("linear", x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit: ``max(x, 0)``.

    Args:
        x: input array.
        negative_slope: slope for values below ``threshold`` (Keras' extension).
        max_value: upper bound of the output, or None.
        threshold: values below it are damped (to ``negative_slope * (x - threshold)``).
    """
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _apply("relu", x)
    # The extended form is not a training primitive: no layer uses it, so plain NumPy
    # is enough here.
    arr = _as_float_array(x)
    y = np.where(arr >= threshold, arr, negative_slope * (arr - threshold))
    if max_value is not None:
        y = np.minimum(y, max_value)
    return y.astype(arr.dtype, copy=False)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""
    return _apply("sigmoid", x)


def tanh(x):
    """Hyperbolic tangent."""
    return _apply("tanh", x)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``.

    Args:
        x: input array.
        axis: the axis normalized over (the last by default).
    """
    arr = _as_float_array(x)
    if arr.ndim == 0:
        return np.ones_like(arr)
    moved = np.moveaxis(arr, axis, -1)
    return np.moveaxis(_apply("softmax", moved), -1, axis)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    Args:
        x: input array.
        negative_slope: slope of the negative part (Keras 3 default: 0.2).
    """
    return _apply("leaky_relu", x, alpha=negative_slope)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        x: input array.
        alpha: scale of the negative part.
    """
    return _apply("elu", x, alpha=alpha)


def selu(x):
    """Scaled ELU with the self-normalizing constants of Klambauer et al. (2017)."""
    return _apply("selu", x)


def gelu(x, approximate=False):
    """Gaussian error linear unit, exact form ``x * Phi(x)``.

    Args:
        x: input array.
        approximate: the tanh approximation is not implemented; must be False.
    """
    if approximate:
        raise NotImplementedError(
            "fastnn implements the exact (erf) gelu only. Received: approximate=True"
        )
    return _apply("gelu", x)


def softplus(x):
    """``log(1 + exp(x))``, stable for large ``|x|``."""
    return _apply("softplus", x)


def swish(x):
    """``x * sigmoid(x)`` (also called silu)."""
    return _apply("swish", x)


silu = swish

# canonical name -> function; the names are those of the backends' activation table.
_FUNCTIONS = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "softplus": softplus,
    "swish": swish,
}
assert set(_FUNCTIONS) == set(_table.ACTIVATIONS)
_NAMES = {fn: name for name, fn in _FUNCTIONS.items()}


# --------------------------------------------------------------------------- lookup


def canonical(identifier):
    """The canonical activation name for a name, an alias, None, or a function above.

    Args:
        identifier: a name (``"relu"``), an alias (``"silu"``), ``None`` (linear) or a
            function of this module (``fastnn.activations.relu``).

    Returns:
        One of ``fastnn.backend.activations.ACTIVATIONS``.

    Raises:
        ValueError: an unknown name.
        TypeError: a callable that is not one of fastnn's activation functions.
    """
    if callable(identifier) and not isinstance(identifier, str):
        name = _NAMES.get(identifier)
        if name is None:
            raise TypeError(
                "fastnn accepts activation names or functions from fastnn.activations "
                "(a custom Python function has no backward pass). "
                f"Received: activation={identifier!r}"
            )
        return name
    return _table.canonical(identifier)


def get(identifier):
    """The activation function for a name, alias, None (linear) or function.

    Args:
        identifier: as for ``canonical``.

    Returns:
        The function from this module, e.g. ``get("relu") is fastnn.activations.relu``.
    """
    return _FUNCTIONS[canonical(identifier)]


def serialize(activation):
    """The name a config stores for ``activation`` (a function or a name)."""
    return canonical(activation)


def deserialize(name):
    """The function a stored name stands for."""
    return get(name)


__all__ = [
    "linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "selu", "gelu",
    "softplus", "swish", "silu", "get", "canonical", "serialize", "deserialize",
]
