"""Adam (optionally AMSGrad) and AdamW, its decoupled-weight-decay form."""

from .base import DefaultValue, Optimizer
from .rules import AdamRule


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

    rule_class = AdamRule

    def __init__(self, learning_rate=DefaultValue(0.001), beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="adam", **kwargs):
        rule = AdamRule(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad)
        super().__init__(rule, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)


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
