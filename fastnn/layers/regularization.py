"""Regularization layers: Dropout and SpatialDropout2D."""

import numpy as np

from .. import distributed as _distributed
from ..utils import random as _random
from ..utils.validation import check_int, check_real, check_shape, refuse_argument
from . import windowing as win
from .base import Layer, buffer


class Dropout(Layer):
    """Sets a random fraction ``rate`` of its inputs to 0 during training and scales the
    rest by ``1 / (1 - rate)`` (inverted dropout), so inference is the identity.

    The mask comes from the backend's counter-based generator, keyed by
    ``(seed, stream)``: ``seed`` is fixed per layer and ``stream`` counts the training
    forward passes, so every step draws a new mask, the whole sequence is reproducible
    from the seed, and it does not depend on the thread count.

    Args:
        rate: fraction of the inputs to drop, in [0, 1).
        noise_shape: shape of the mask, batch axis included, broadcast against the
            input; None entries take the input's size (e.g. ``(None, 1, features)``
            drops the same features at every time step).  None: the input's shape.
        seed: a non-negative integer; None draws one from the global random state
            (``fastnn.utils.set_random_seed``) when the layer is made.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_real("rate", rate, low=0, high=1, high_open=True)
        self.noise_shape = check_shape("noise_shape", noise_shape, allow_none=True,
                                       unknown_dims=True)
        self.seed = check_int("seed", seed, low=0, allow_none=True)
        # The seed actually used; the config keeps the user's (possibly None) seed, as
        # Keras does, so a layer rebuilt from config draws its own.
        self._seed = self.seed if self.seed is not None else _random.draw_seed()
        # Counts training forward passes: one fresh mask per step.
        self._stream = 0

    def _mask_shape(self, x):
        if self.noise_shape is None:
            return x.shape
        if len(self.noise_shape) != x.ndim or any(
            d is not None and d != 1 and d != s for d, s in zip(self.noise_shape, x.shape)
        ):
            raise ValueError(
                f"Dropout layer {self.name!r}: noise_shape {self.noise_shape} does not "
                f"broadcast against inputs of shape {x.shape}. "
                f"Received: noise_shape={self.noise_shape}"
            )
        return tuple(s if d is None else d for d, s in zip(self.noise_shape, x.shape))

    def forward(self, x, training, cache, skip_activation=False):
        cache["grads"] = []
        if not training or self.rate == 0:
            cache["mask"] = None
            return x
        shape = self._mask_shape(x)
        mask = self.ops.dropout_mask(
            # each rank of a data-parallel run draws its own masks (rank 0: this seed's)
            shape, self.rate, _distributed.rank_seed(self._seed), self._stream, x.dtype,
            out=buffer(cache, "mask", shape, x.dtype),
        )
        self._stream += 1
        return self.ops.apply_mask(x, mask, out=buffer(cache, "y", x.shape, x.dtype))

    def backward(self, cache, dy):
        mask = cache["mask"]
        if mask is None:
            return dy
        return self.ops.apply_mask(dy, mask, out=buffer(cache, "dx", dy.shape, dy.dtype))

    def get_rng_state(self):
        """The mask generator's position, ``{"seed": int, "stream": int}`` (JSON-ready).

        Not part of the config (which keeps the user's seed, as Keras does): a saved
        model stores it so that training resumed after loading draws the same masks as
        training continued without saving.
        """
        return {"seed": self._seed, "stream": self._stream}

    def set_rng_state(self, state):
        """Restore a state returned by ``get_rng_state``.

        Args:
            state: a dict with non-negative integers ``seed`` and ``stream``.
        """
        if not isinstance(state, dict) or set(state) != {"seed", "stream"} or not all(
            not isinstance(v, bool) and isinstance(v, (int, np.integer)) and 0 <= v < 2**64
            for v in state.values()
        ):
            refuse_argument("state", state,
                            "a dict with integers 'seed' and 'stream' in [0, 2**64)")
        self._seed, self._stream = int(state["seed"]), int(state["stream"])

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
            "seed": self.seed,
        }


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: each sample drops each channel everywhere or
    nowhere (neighbouring pixels are correlated, so dropping single pixels regularizes
    little).  Inputs are 4-D images; kept channels are scaled by ``1 / (1 - rate)``.

    Args:
        rate: fraction of the channels to drop, in [0, 1).
        data_format: "channels_last", "channels_first", or None (channels_last).
        seed: a non-negative integer; None draws one (see Dropout).
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = win.normalize_data_format(data_format, type(self).__name__)

    def build(self, input_shape):
        win.check_rank(self, input_shape, 2)

    def _mask_shape(self, x):
        if self.data_format == "channels_first":
            return (x.shape[0], x.shape[1], 1, 1)
        return (x.shape[0], 1, 1, x.shape[3])

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        return {**config, "data_format": self.data_format}


__all__ = ["Dropout", "SpatialDropout2D"]
