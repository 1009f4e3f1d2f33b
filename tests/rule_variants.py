"""Every optimizer rule in every variant its switches select, as records.

SGD plain / momentum / Nesterov, Adagrad, RMSprop plain / momentum / centered / both,
Adam plain / AMSGrad (AdamW is AdamRule with a weight decay, a per-variable argument).
The kernel tests and the fuzzed kernels both draw from this one list;
tests/kernels/test_step_kernels.py checks that it covers every rule.
"""

from fastnn.optimizers.rules import AdagradRule, AdamRule, RMSpropRule, SGDRule

VARIANTS = [
    SGDRule(momentum=0.0, nesterov=False),
    SGDRule(momentum=0.9, nesterov=False),
    SGDRule(momentum=0.9, nesterov=True),
    AdagradRule(initial_accumulator_value=0.1, epsilon=1e-7),
    RMSpropRule(rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
    RMSpropRule(rho=0.9, momentum=0.5, epsilon=1e-7, centered=False),
    RMSpropRule(rho=0.9, momentum=0.0, epsilon=1e-7, centered=True),
    RMSpropRule(rho=0.9, momentum=0.3, epsilon=1e-7, centered=True),
    AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    AdamRule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=True),
]
