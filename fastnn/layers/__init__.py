"""Layers (Keras 3 names).  Every layer computes through the ops interface only."""

from .base import Layer
from .activation import Activation, LeakyReLU, Maxout, PReLU
from .core import Dense, Input, InputLayer
from .embedding import Embedding
from .merging import Add, Concatenate, Merge
from .normalization import BatchNormalization
from .regularization import Dropout
from .reshaping import Flatten, Reshape

# Registry of layer classes a saved config may name (never module paths).
REGISTRY = {
    cls.__name__: cls
    for cls in (
        InputLayer, Dense, Activation, LeakyReLU, PReLU, Maxout, Dropout, Flatten,
        Reshape, Concatenate, Add, BatchNormalization, Embedding, Merge,
    )
}


def register(cls):
    """Add a layer class to the registry used by ``get_config``/``load_model``."""
    REGISTRY[cls.__name__] = cls
    return cls


__all__ = ["Layer", "Input", "InputLayer", "register", "REGISTRY"] + sorted(
    name for name in REGISTRY if name != "InputLayer"
)
