"""Layers (Keras 3 names).  Every layer computes through the ops interface only."""

from .base import Layer
from .activation import Activation, LeakyReLU, Maxout, PReLU
from .convolutional import Conv1D, Conv2D
from .core import Dense, Input, InputLayer
from .embedding import Embedding
from .merging import Add, Concatenate
from .normalization import BatchNormalization
from .pooling import (
    AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, GlobalAveragePooling1D,
    GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D,
    MaxPooling1D, MaxPooling2D,
)
from .regularization import Dropout, SpatialDropout2D
from .reshaping import Flatten, Reshape, ZeroPadding2D

# Registry of layer classes a saved config may name (never module paths).
REGISTRY = {
    cls.__name__: cls
    for cls in (
        InputLayer, Dense, Activation, LeakyReLU, PReLU, Maxout, Dropout, Flatten,
        Reshape, Concatenate, Add, BatchNormalization, Embedding,
        Conv1D, Conv2D, MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
        GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
        GlobalMaxPooling2D, ZeroPadding2D, SpatialDropout2D,
    )
}


def register(cls):
    """Add a layer class to the registry used by ``get_config``/``load_model``."""
    REGISTRY[cls.__name__] = cls
    return cls


# Keras's short names of the pooling classes (the same classes, saved under the long names)
_ALIASES = ["AvgPool1D", "AvgPool2D", "MaxPool1D", "MaxPool2D"]

__all__ = ["Layer", "Input", "InputLayer", "register", "REGISTRY"] + sorted(
    [name for name in REGISTRY if name != "InputLayer"] + _ALIASES
)
