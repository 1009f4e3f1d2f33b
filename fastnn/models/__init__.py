"""Models: the functional ``Model``, ``Sequential``, and saving/loading."""

from .model import Model
from .saving import load_model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]
