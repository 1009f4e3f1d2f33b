"""RMSprop, with optional momentum and centering."""

from .base import DefaultValue, Optimizer
from .rules import RMSpropRule


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square of its history.

    ``v = rho * v + (1 - rho) * g^2``; ``w -= learning_rate * g / sqrt(v + epsilon)``.
    ``centered`` subtracts the square of the running mean gradient from ``v``;
    ``momentum`` accumulates the steps (``buf = momentum * buf + step``; ``w -= buf``).

    Args:
        learning_rate: Positive float, defaults to 0.001.
        rho: Float in [0, 1), the discount of the running average, defaults to 0.9.
        momentum: Float in [0, 1], defaults to 0.0.
        epsilon: Positive float added inside the square root, defaults to 1e-7.
        centered: Whether to normalise by the estimated variance, defaults to False.
        weight_decay: See ``Optimizer``.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Defaults to ``"rmsprop"``.
        **kwargs: ``lr`` (older spelling of ``learning_rate``); see ``Optimizer``.
    """

    rule_class = RMSpropRule

    def __init__(self, learning_rate=DefaultValue(0.001), rho=0.9, momentum=0.0,
                 epsilon=1e-7, centered=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="rmsprop", **kwargs):
        rule = RMSpropRule(rho=rho, momentum=momentum, epsilon=epsilon, centered=centered)
        super().__init__(rule, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)


# The spelling older Keras programs use (``optimizers.RMSProp(lr=0.001)``).
RMSProp = RMSprop
