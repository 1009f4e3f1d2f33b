"""Adagrad: per-element step sizes shrinking with the accumulated squared gradients."""

from .base import DefaultValue, Optimizer, check_real


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

    def __init__(self, learning_rate=DefaultValue(0.001), initial_accumulator_value=0.1,
                 epsilon=1e-7, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)
        self.initial_accumulator_value = check_real(
            "initial_accumulator_value", initial_accumulator_value, low=0.0
        )
        self.epsilon = check_real("epsilon", epsilon, low=0.0, low_open=True)

    def _slots(self):
        return [("accumulator", self.initial_accumulator_value)]

    _rule = "adagrad"
    _slot_args = {"accumulator": "accumulator"}

    def _rule_args(self, step):
        return {"epsilon": self.epsilon}

    def _rule_config(self):
        return {
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
