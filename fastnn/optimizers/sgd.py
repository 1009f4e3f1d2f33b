"""SGD with optional (Nesterov) momentum."""

from .base import DefaultValue, Optimizer
from .rules import SGDRule


class SGD(Optimizer):
    """Gradient descent, with optional momentum.

    ``velocity = momentum * velocity - learning_rate * g``, then ``w += velocity``
    (Nesterov: ``w += momentum * velocity - learning_rate * g``); without momentum
    ``w -= learning_rate * g``.

    Args:
        learning_rate: Positive float, defaults to 0.01.
        momentum: Float in [0, 1], defaults to 0.0 (plain gradient descent).
        nesterov: Whether to use Nesterov momentum, defaults to False.
        weight_decay: See ``Optimizer``.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Defaults to ``"SGD"``.
        **kwargs: ``lr`` (older spelling of ``learning_rate``); see ``Optimizer``.
    """

    rule_class = SGDRule

    def __init__(self, learning_rate=DefaultValue(0.01), momentum=0.0, nesterov=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="SGD", **kwargs):
        super().__init__(SGDRule(momentum=momentum, nesterov=nesterov), learning_rate,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
