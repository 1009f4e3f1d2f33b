"""Weight regularizers: L1, L2 and L1L2 (Keras 3 names and defaults).

A regularizer's penalty is added to the reported training loss; its gradient is added to
the weight's gradient before the optimizer step.  Both go through the ops interface.
"""

from . import backend
from .utils import serialization as _ser
from .utils.validation import check_real


class Regularizer:
    """Base class: ``__call__(w)`` returns the penalty (a float)."""

    def __call__(self, w):
        raise NotImplementedError

    def add_gradient(self, w, dw):
        """Add d(penalty)/dw to ``dw`` in place."""
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w^2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = check_real("l1", l1, low=0, allow_inf=True)
        self.l2 = check_real("l2", l2, low=0, allow_inf=True)

    def __call__(self, w):
        return backend.current().l1_l2_penalty(w, self.l1, self.l2)

    def add_gradient(self, w, dw):
        backend.current().add_l1_l2_grad(w, dw, self.l1, self.l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1=0.01):
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    """Keras' ``l1_l2`` shortcut (both factors default to 0.01)."""
    return L1L2(l1, l2)


_REGISTRY = {"L1": L1, "L2": L2, "L1L2": L1L2}
_ALIASES = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01)}


def get(identifier):
    """A regularizer from None, a name ('l2'), a config dict, or an instance."""
    if identifier is None:
        return None
    return _ser.get(identifier, _REGISTRY, _ALIASES, "regularizer", Regularizer)


def serialize(regularizer):
    return None if regularizer is None else _ser.serialize(regularizer)


def deserialize(config):
    return None if config is None else _ser.deserialize(config, _REGISTRY, "regularizer")
