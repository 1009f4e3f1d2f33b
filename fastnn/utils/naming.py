"""Unique default names for layers and models, Keras-style (``dense``, ``dense_1``, ...)."""

import collections
import re
import threading

_counts = collections.defaultdict(int)
_lock = threading.Lock()


def snake_case(name):
    """``BatchNormalization`` -> ``batch_normalization``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def unique(prefix):
    """``prefix`` the first time, then ``prefix_1``, ``prefix_2``, ..."""
    with _lock:
        n = _counts[prefix]
        _counts[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"
