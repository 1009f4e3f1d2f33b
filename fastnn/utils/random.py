"""The global random state: ``set_random_seed`` makes a whole run reproducible.

Unseeded initializers, Dropout layers and the fit loop's shuffling draw their seeds from
one NumPy Generator, so ``fastnn.utils.set_random_seed(s)`` (as ``keras.utils.
set_random_seed``) fixes them all.  Objects given their own ``seed`` do not touch it.
"""

import numpy as np

from .validation import check_int

_generator = np.random.default_rng()


def set_random_seed(seed):
    """Seed fastnn's global random state (and NumPy's legacy global RNG, as Keras does)."""
    global _generator
    seed = check_int("seed", seed, low=0)
    _generator = np.random.default_rng(seed)
    np.random.seed(seed % (2**32))


def generator():
    """The global Generator (for draws that have no seed of their own)."""
    return _generator


def draw_seed():
    """A fresh 63-bit seed from the global state."""
    return int(_generator.integers(0, 2**63 - 1))


def get_state():
    """The global Generator's state (a JSON-friendly dict), for checkpoints."""
    return _generator.bit_generator.state


def set_state(state):
    """Restore a state returned by ``get_state``."""
    _generator.bit_generator.state = state
