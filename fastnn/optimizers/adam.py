"""Adam (optionally AMSGrad) and AdamW, its decoupled-weight-decay form."""

from .base import DefaultValue, Optimizer, _check_bool, check_real


class Adam(Optimizer):
    """Adam: steps from bias-corrected running moments of the gradient.

    ``m += (g - m)(1 - beta_1)``; ``v += (g^2 - v)(1 - beta_2)``;
    ``w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``
    with ``t`` the step number counted from 1.  ``amsgrad`` divides by the running
    maximum of ``v`` instead.

    Args:
        learning_rate: Positive float, defaults to 0.001.
        beta_1: Float in [0, 1), decay of the first moment, defaults to 0.9.
        beta_2: Float in [0, 1), decay of the second moment, defaults to 0.999.
        epsilon: Positive float added to the denominator, defaults to 1e-7.
        amsgrad: Whether to use the AMSGrad variant, defaults to False.
        weight_decay: See ``Optimizer``.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Defaults to ``"adam"``.
        **kwargs: ``lr`` (older spelling of ``learning_rate``); see ``Optimizer``.
    """

    def __init__(self, learning_rate=DefaultValue(0.001), beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)
        self.beta_1 = check_real("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = check_real("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = check_real("epsilon", epsilon, low=0.0, low_open=True)
        self.amsgrad = _check_bool("amsgrad", amsgrad)

    def _slots(self):
        slots = [("m", 0.0), ("v", 0.0)]
        if self.amsgrad:
            slots.append(("v_hat", 0.0))
        return slots

    _rule = "adam"
    _slot_args = {"m": "m", "v": "v", "v_hat": "v_hat"}

    def _rule_args(self, step):
        return {"step": step, "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}

    def _rule_config(self):
        return {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (on by default).

    Each step first shrinks every variable by ``learning_rate * weight_decay`` of
    itself, then applies the Adam update.  ``exclude_from_weight_decay`` spares some.

    Args:
        learning_rate: Positive float, defaults to 0.001.
        weight_decay: Float >= 0, defaults to 0.004.
        beta_1: See ``Adam``.
        beta_2: See ``Adam``.
        epsilon: See ``Adam``.
        amsgrad: See ``Adam``.
        clipnorm: See ``Optimizer``.
        clipvalue: See ``Optimizer``.
        global_clipnorm: See ``Optimizer``.
        name: Defaults to ``"adamw"``.
        **kwargs: ``lr`` (older spelling of ``learning_rate``); see ``Optimizer``.
    """

    def __init__(self, learning_rate=DefaultValue(0.001), weight_decay=0.004, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError(
                "Argument `weight_decay` must be a float for AdamW. "
                "Received: weight_decay=None"
            )
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)
