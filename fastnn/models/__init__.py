"""Models: the functional ``Model``, ``Sequential``, and saving/loading."""

from .model import Model
from .saving import load_model, model_from_json
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model", "model_from_json"]
