"""The update rules' hyperparameters: one frozen record per rule.

A record is the single spelling of a rule's hyperparameters.  It is at once:

* **checked values**: each field declares its bounds next to its name, and they are
  enforced once, when the record is made (``fastnn.utils.validation``), so nothing
  downstream checks them again;
* **the optimizer's config**: ``Optimizer.get_config`` lists the record's fields beside
  the base arguments (``dataclasses.asdict``), and ``from_config`` passes them back to
  the constructor, so the keys are the Keras argument names saved models already use;
* **the kernel's argument**: ``ops.multi_update(rule, ...)`` hands the record whole to
  the backend.  NumpyOps applies ``_<kernel>_update`` from its fields; the native entry
  ``fastnn._native._optimizers.<kernel>_update`` copies them into the rule's C struct
  (``fnn_<kernel>_params`` in csrc/optimizers.h) in one place.  A field missing there is
  an AttributeError, never a silent fall back to NumPy.

A record also names the state arrays its kernel can take (``SLOTS``, in the kernel's
order) and which of them its hyperparameters switch on (``slots``).  Adam and AdamW share
``AdamRule``: AdamW is Adam with a weight decay, which is a base argument.
"""

import dataclasses
import functools
from typing import ClassVar

from ..utils.validation import check_bool, check_real


def _real(**bounds):
    """A float field checked with ``check_real(name, value, **bounds)``."""
    return dataclasses.field(metadata={"check": functools.partial(check_real, **bounds)})


def _bool():
    """A bool field checked with ``check_bool``."""
    return dataclasses.field(metadata={"check": check_bool})


_UNIT = dict(low=0.0, high=1.0)                     # [0, 1]
_DECAY = dict(low=0.0, high=1.0, high_open=True)    # [0, 1): a running average's discount
_POSITIVE = dict(low=0.0, low_open=True)            # > 0


@dataclasses.dataclass(frozen=True)
class Rule:
    """Base of the records: checks every field once, when the record is made."""

    #: The update's name in the ops interface and the native module ("adam", ...).
    kernel: ClassVar[str]
    #: Every state array the kernel can take, in the order it takes them.
    SLOTS: ClassVar[tuple]

    def __post_init__(self):
        for field in dataclasses.fields(self):
            checked = field.metadata["check"](field.name, getattr(self, field.name))
            object.__setattr__(self, field.name, checked)  # frozen: set once, here

    def slots(self):
        """``[(slot name, initial value)]`` kept per variable, in ``SLOTS`` order."""
        raise NotImplementedError

    def _take(self, fill=0.0, **used):
        """The slots of ``SLOTS`` that ``used`` switches on, each starting at ``fill``."""
        if set(used) != set(self.SLOTS):
            raise ValueError(f"{type(self).__name__}: say whether each of {self.SLOTS} "
                             f"is used. Received: {sorted(used)}")
        return [(name, fill) for name in self.SLOTS if used[name]]


@dataclasses.dataclass(frozen=True)
class SGDRule(Rule):
    """SGD's hyperparameters (``fnn_sgd_params``): ``momentum`` in [0, 1] (0 keeps no
    state) and ``nesterov``."""

    kernel: ClassVar[str] = "sgd"
    SLOTS: ClassVar[tuple] = ("momentum",)

    momentum: float = _real(**_UNIT)
    nesterov: bool = _bool()

    def slots(self):
        return self._take(momentum=bool(self.momentum))


@dataclasses.dataclass(frozen=True)
class AdagradRule(Rule):
    """Adagrad's hyperparameters (``fnn_adagrad_params`` holds ``epsilon``; the initial
    accumulator value only fills the state)."""

    kernel: ClassVar[str] = "adagrad"
    SLOTS: ClassVar[tuple] = ("accumulator",)

    initial_accumulator_value: float = _real(low=0.0)
    epsilon: float = _real(**_POSITIVE)

    def slots(self):
        return self._take(fill=self.initial_accumulator_value, accumulator=True)


@dataclasses.dataclass(frozen=True)
class RMSpropRule(Rule):
    """RMSprop's hyperparameters (``fnn_rmsprop_params``): the momentum buffer exists when
    ``momentum`` > 0, the running mean gradient when ``centered``."""

    kernel: ClassVar[str] = "rmsprop"
    SLOTS: ClassVar[tuple] = ("velocity", "momentum", "average_gradient")

    rho: float = _real(**_DECAY)
    momentum: float = _real(**_UNIT)
    epsilon: float = _real(**_POSITIVE)
    centered: bool = _bool()

    def slots(self):
        return self._take(velocity=True, momentum=bool(self.momentum),
                          average_gradient=self.centered)


@dataclasses.dataclass(frozen=True)
class AdamRule(Rule):
    """Adam's and AdamW's hyperparameters (``fnn_adam_params``): ``amsgrad`` adds the
    running maximum ``v_hat``."""

    kernel: ClassVar[str] = "adam"
    SLOTS: ClassVar[tuple] = ("m", "v", "v_hat")

    beta_1: float = _real(**_DECAY)
    beta_2: float = _real(**_DECAY)
    epsilon: float = _real(**_POSITIVE)
    amsgrad: bool = _bool()

    def slots(self):
        return self._take(m=True, v=True, v_hat=self.amsgrad)


#: Every rule, for tests and tools that must cover them all.
RULES = (SGDRule, AdagradRule, RMSpropRule, AdamRule)
