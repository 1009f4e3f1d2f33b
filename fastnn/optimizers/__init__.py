"""Optimizers: Keras 3 names and defaults over the ops interface's fused updates.

``get`` resolves what ``model.compile(optimizer=...)`` receives: a name (``"adam"``),
a ``{"class_name": ..., "config": ...}`` dict, or an instance.
"""

from ..utils import serialization as _serialization
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer
from .rmsprop import RMSProp, RMSprop
from .sgd import SGD

# class_name -> class, for configs (RMSProp is the older spelling of the same class).
_REGISTRY = {
    "SGD": SGD,
    "Adagrad": Adagrad,
    "RMSprop": RMSprop,
    "RMSProp": RMSprop,
    "Adam": Adam,
    "AdamW": AdamW,
}

# lower-case string identifiers -> class (constructed with its defaults).
_ALIASES = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}`` for an optimizer (JSON-serialisable)."""
    return _serialization.serialize(optimizer)


def deserialize(config):
    """Build an optimizer from ``serialize``'s dict."""
    return _serialization.deserialize(config, _REGISTRY, "optimizer")


def get(identifier):
    """Resolve a name, a config dict or an instance into an optimizer instance.

    Args:
        identifier: ``"sgd"``, ``"adam"``, ``"rmsprop"``, ``"adagrad"`` or ``"adamw"``
            (any case), a dict from ``serialize``, or an ``Optimizer``.

    Raises:
        ValueError: an unknown name or a malformed config.
    """
    return _serialization.get(identifier, _REGISTRY, _ALIASES, "optimizer", Optimizer)


__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "RMSProp", "Adam", "AdamW",
    "get", "serialize", "deserialize",
]
