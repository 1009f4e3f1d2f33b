"""Adagrad: per-element step sizes shrinking with the accumulated squared gradients."""

from .base import DefaultValue, Optimizer
from .rules import AdagradRule


class Adagrad(Optimizer):
    """Adagrad.

    ``acc += g^2``; ``w -= learning_rate * g / sqrt(acc + epsilon)``.

    Args:
        learning_rate: Positive float, defaults to 0.001.
        initial_accumulator_value: Float >= 0, the accumulators' starting value,
            defaults to 0.1.
        epsilon: Positive float added inside the square root, defaults to 1e-7.
        weight_decay: See ``Optimizer``.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Defaults to ``"adagrad"`` (made unique).
        **kwargs: ``lr`` (older spelling of ``learning_rate``); see ``Optimizer``.
    """

    rule_class = AdagradRule

    def __init__(self, learning_rate=DefaultValue(0.001), initial_accumulator_value=0.1,
                 epsilon=1e-7, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        rule = AdagradRule(initial_accumulator_value=initial_accumulator_value,
                           epsilon=epsilon)
        super().__init__(rule, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)
