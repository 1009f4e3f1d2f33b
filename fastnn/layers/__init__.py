"""Layers (Keras 3 names).  Every layer computes through the ops interface only."""

from .base import Layer
from .core import Dense, Input, InputLayer

# Registry of layer classes a saved config may name (never module paths).
REGISTRY = {cls.__name__: cls for cls in (InputLayer, Dense)}


def register(cls):
    """Add a layer class to the registry used by ``get_config``/``load_model``."""
    REGISTRY[cls.__name__] = cls
    return cls
