"""Small helpers shared across fastnn (naming, validation, progress display, randomness,
training curves)."""

from .plotting import plot_history
from .random import set_random_seed

__all__ = ["plot_history", "set_random_seed"]
