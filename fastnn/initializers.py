"""Weight initializers (Keras 3 names, defaults and variance scaling rules).

An initializer is called as ``init(shape, dtype)`` and returns a new array.  With a
``seed`` it returns the same values on every call; without one it draws from the global
random state (``fastnn.utils.set_random_seed``).

Random initializers draw float64 values (so a seed gives the same weights in either
dtype, and the same as earlier fastnn versions) but never hold them all at once: they
fill the array of the requested dtype in chunks (see ``_fill``).  A float32 weight of
244 MB therefore peaks at about 248 MB (271 MB for truncated normals, which note the
draws to redo) instead of the 733 MB that drawing it whole in float64 and casting took,
and a weight too big for memory fails on the array of the size it really needs.
"""

import math

import numpy as np

from .utils import random as _random
from .utils import serialization as _ser
from .utils.validation import check_choice, check_int, check_real


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype)``."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Seeded(Initializer):
    def __init__(self, seed=None):
        self.seed = check_int("seed", seed, low=0, allow_none=True)

    def _rng(self):
        if self.seed is None:
            return np.random.default_rng(_random.draw_seed())
        return np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype=dtype or "float32")


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype=dtype or "float32")


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=dtype or "float32")

    def get_config(self):
        return {"value": self.value}


class RandomNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        rng = self._rng()
        return _fill(shape, dtype, lambda k: rng.normal(self.mean, self.stddev, k))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype=None):
        rng = self._rng()
        return _fill(shape, dtype, lambda k: rng.uniform(self.minval, self.maxval, k))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


def _fans(shape):
    """Keras' fan_in / fan_out: for a (in, out) kernel, fan_in=in, fan_out=out."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(_Seeded):
    """Samples with variance ``scale / n`` where n is fan_in, fan_out or their mean."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        self.scale = check_real("scale", scale, low=0, low_open=True, allow_inf=True)
        self.mode = check_choice("mode", mode, self._MODES)
        if distribution == "normal":
            distribution = "truncated_normal"
        self.distribution = check_choice("distribution", distribution, self._DISTRIBUTIONS)

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _fill(shape, dtype, lambda k: rng.uniform(-limit, limit, k))
        if self.distribution == "untruncated_normal":
            std = math.sqrt(variance)
            return _fill(shape, dtype, lambda k: rng.normal(0.0, std, k))
        # A normal truncated at two standard deviations has 0.87962566 of the
        # untruncated stddev; dividing restores the requested variance (as Keras).
        std = math.sqrt(variance) / 0.87962566103423978
        return _truncated_normal(rng, std, shape, dtype)

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            **super().get_config(),
        }


# Values drawn per call of the generator: big enough that the per-call cost vanishes
# (a few microseconds against about a millisecond of drawing), small enough that the
# float64 temporaries (2 MiB each; NumPy's uniform and normal make two) are nothing
# beside a big weight.
_CHUNK = 1 << 18


def _fill(shape, dtype, draw, inspect=None):
    """A new array of ``shape`` and ``dtype`` filled with ``draw(k)`` (k float64 values
    per call), in ``_CHUNK``-sized pieces taken in C order.

    The generator's stream is sequential, so the values are exactly those of one
    ``draw(size)`` cast to ``dtype``; only the float64 temporary is smaller.
    ``inspect(start, values)`` sees each piece (and may change it) before it is stored.
    """
    out = np.empty(shape, dtype=dtype or "float32")
    flat = out.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        values = draw(min(_CHUNK, flat.size - start))
        if inspect is not None:
            inspect(start, values)
        flat[start:start + values.size] = values
    return out


def _truncated_normal(rng, std, shape, dtype, mean=None):
    """``mean`` + Normal(0, std) as ``dtype``, each draw beyond two standard deviations
    redrawn until it lies within them (in C order, as one whole draw would be)."""
    limit = 2 * std
    pending = []  # flat indices of the draws to redo, one array per piece

    def note_outliers(start, values):
        outliers = np.flatnonzero(np.abs(values) > limit)
        if outliers.size:
            pending.append(start + outliers)
        if mean is not None:
            values += mean

    out = _fill(shape, dtype, lambda k: rng.normal(0.0, std, k), note_outliers)
    flat = out.reshape(-1)
    while pending:
        still = []
        for index in pending:
            values = rng.normal(0.0, std, index.size)
            outliers = index[np.abs(values) > limit]
            if outliers.size:
                still.append(outliers)
            if mean is not None:
                values += mean
            flat[index] = values
        pending = still
    return out


class TruncatedNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        return _truncated_normal(self._rng(), self.stddev, shape, dtype, mean=self.mean)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


def _variance_scaling_preset(name, scale, mode, distribution):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


GlorotUniform = _variance_scaling_preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling_preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling_preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling_preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling_preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling_preset("LecunNormal", 1.0, "fan_in", "truncated_normal")

_REGISTRY = {
    cls.__name__: cls
    for cls in (
        Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal,
        VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal,
        LecunUniform, LecunNormal,
    )
}
_ALIASES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}


def get(identifier):
    """An initializer from a name ('glorot_uniform'), a config dict, or an instance."""
    if callable(identifier) and not isinstance(identifier, (Initializer, str, dict)):
        raise TypeError(
            "Expected an initializer name, config dict or fastnn Initializer. "
            f"Received: {identifier!r}"
        )
    return _ser.get(identifier, _REGISTRY, _ALIASES, "initializer", Initializer)


def serialize(initializer):
    return _ser.serialize(initializer)


def deserialize(config):
    return _ser.deserialize(config, _REGISTRY, "initializer")
