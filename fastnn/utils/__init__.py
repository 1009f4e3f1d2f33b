"""Small helpers shared across fastnn (naming, validation, progress display, randomness)."""

from .random import set_random_seed

__all__ = ["set_random_seed"]
