"""The activation table shared by both backends.

Names follow Keras 3.  Most derivatives are computed from the activation's *output* ``y``
(as scikit-learn's MLP does), so a layer keeps only ``y`` for backward.  ``gelu`` and
``swish`` cannot be differentiated from their output alone, so layers keep the
pre-activation for them (see ``NEEDS_INPUT``).
"""

from ..utils.naming import did_you_mean

ACTIVATIONS = (
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "softplus",
    "swish",
)

# Activations whose derivative needs the pre-activation x, not just y = f(x).
NEEDS_INPUT = frozenset({"gelu", "swish"})

# Activations with a scalar parameter ``alpha``, and Keras 3's default for it when used
# as ``activation="leaky_relu"`` / ``"elu"`` (the LeakyReLU layer's default differs).
DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}

# SELU constants (Klambauer et al., 2017), as Keras uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# Keras-style aliases accepted on input; the canonical name is what configs store.
ALIASES = {
    None: "linear",
    "none": "linear",
    "silu": "swish",
    "leakyrelu": "leaky_relu",
}


def canonical(name):
    """Return the canonical activation name, or raise ValueError naming what was given."""
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise TypeError(
            f"Expected the activation to be a string name, got {type(name).__name__}: "
            f"{name!r}"
        )
    key = ALIASES.get(name.lower(), name.lower())
    if key not in ACTIVATIONS:
        hint = did_you_mean(name, list(ACTIVATIONS) + [a for a in ALIASES if a])
        raise ValueError(
            f"Unknown activation: expected one of {', '.join(ACTIVATIONS)}.{hint} "
            f"Received: activation={name!r}"
        )
    return key


def resolve_alpha(name, alpha):
    """The parameter a parametric activation uses: ``alpha`` if given, else Keras' default."""
    if name in DEFAULT_ALPHA:
        return DEFAULT_ALPHA[name] if alpha is None else float(alpha)
    return 0.0
