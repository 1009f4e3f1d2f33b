"""Layers (Keras 3 names).  Every layer computes through the ops interface only."""

from .base import Layer
from .activation import Activation, LeakyReLU, Maxout, PReLU
from .convolutional import Conv1D, Conv2D
from .core import Dense, Input, InputLayer
from .embedding import Embedding
from .merging import Add, Concatenate, Merge
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
        Reshape, Concatenate, Add, BatchNormalization, Embedding, Merge,
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


# Keras layers users reach for first that fastnn does not have yet, and what to use
# meanwhile: ``fastnn.layers.LSTM`` says so instead of a bare AttributeError.  A name
# leaves this table when the layer arrives.
_NOT_YET = {
    "LSTM": "recurrent layers are not in fastnn yet; for sequences of tokens, "
            "Embedding then Flatten (or Dense) is what fastnn offers",
    "GRU": "recurrent layers are not in fastnn yet; for sequences of tokens, "
           "Embedding then Flatten (or Dense) is what fastnn offers",
    "SimpleRNN": "recurrent layers are not in fastnn yet; for sequences of tokens, "
                 "Embedding then Flatten (or Dense) is what fastnn offers",
    "Bidirectional": "recurrent layers (and their Bidirectional wrapper) are not in "
                     "fastnn yet",
    "TimeDistributed": "TimeDistributed is not in fastnn yet; Dense already applies to "
                       "the last axis of a 3-D input",
    "Conv3D": "3-D convolutions are not in fastnn yet",
    "Attention": "attention layers are not in fastnn yet",
    "MultiHeadAttention": "attention layers are not in fastnn yet",
    "LayerNormalization": "LayerNormalization is not in fastnn yet; BatchNormalization is",
    "Multiply": "Multiply is not in fastnn yet; Merge(mode='mul') joins by product "
                "(Keras 1's spelling)",
    "Average": "Average is not in fastnn yet; Merge(mode='ave') joins by mean "
               "(Keras 1's spelling)",
    "Maximum": "Maximum is not in fastnn yet; Merge(mode='max') joins by maximum "
               "(Keras 1's spelling)",
    "Dot": "Dot is not in fastnn yet; Merge(mode='dot') gives the per-sample dot "
           "product of two 2-D inputs (Keras 1's spelling)",
}


def __getattr__(name):
    if name.startswith("__"):  # import machinery probes (__path__, __wrapped__...)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ..utils.naming import missing_name_error
    raise missing_name_error(__name__, name, _NOT_YET, __all__)
