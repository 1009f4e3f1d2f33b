"""Embedding: integer ids to dense vectors."""

import numpy as np

from .. import initializers, regularizers
from ..utils.validation import check_int
from .base import Layer, SymbolicTensor, buffer

# Keras 3 also accepts these short initializer names; fastnn.initializers spells them
# random_uniform / random_normal.
_INITIALIZER_ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}


class Embedding(Layer):
    """Maps integer ids in ``[0, input_dim)`` to rows of a trainable table:
    ``(batch, L)`` ids become ``(batch, L, output_dim)`` vectors.

    The ids get no gradient (``backward`` returns None); the table's gradient
    scatter-adds each output gradient into the row of its id.

    Args:
        input_dim: vocabulary size (largest id + 1), a positive integer.
        output_dim: size of each vector, a positive integer.
        embeddings_initializer: initializer of the table (Keras' default "uniform":
            uniform in [-0.05, 0.05]).
        embeddings_regularizer: regularizer of the table, or None.
        mask_zero: masking is not supported by fastnn; must be False.
        input_length: the Keras 2 way to give the sequence length; sets
            ``input_shape=(input_length,)``.
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        mask_zero=False,
        input_length=None,
        **kwargs,
    ):
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (check_int("input_length", input_length, low=1),)
        super().__init__(**kwargs)
        self.input_dim = check_int("input_dim", input_dim, low=1)
        self.output_dim = check_int("output_dim", output_dim, low=1)
        if isinstance(embeddings_initializer, str):
            embeddings_initializer = _INITIALIZER_ALIASES.get(
                embeddings_initializer.lower(), embeddings_initializer
            )
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        if mask_zero:
            raise NotImplementedError(
                "fastnn has no masking, so Embedding cannot mask id 0. "
                f"Received: mask_zero={mask_zero!r}"
            )
        self.mask_zero = False
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim),
            self.embeddings_initializer, self.embeddings_regularizer,
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def __call__(self, inputs, training=False):
        # Called on arrays, keep the ids as they are: the base class would cast them to
        # floats (and a nested list would read as several inputs).
        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if any(isinstance(t, SymbolicTensor) for t in flat):
            return super().__call__(inputs, training=training)
        ids = np.asarray(inputs)
        self._maybe_build((None,) + ids.shape[1:])
        return self.forward(ids, training=training, cache={})

    def _ids(self, x):
        """Validated ids as intp: integers (integral floats accepted, since models may
        hand over float batches) within ``[0, input_dim)``."""
        x = np.asarray(x)
        if x.dtype.kind not in "iuf":
            raise TypeError(
                f"Embedding layer {self.name!r} expects integer ids. "
                f"Received: an array of dtype {x.dtype}"
            )
        if x.dtype.kind == "f":
            nonint = x != np.round(x)  # NaN included
            if nonint.any():
                raise ValueError(
                    f"Embedding layer {self.name!r} expects integer ids. "
                    f"Received: non-integer values such as "
                    f"{x[nonint].ravel()[0].item()!r}"
                )
        # Range-check in the dtype given: casting first would wrap 1e20 or a uint64
        # 2**64 - 1 to a negative intp and report that instead of the user's value.
        if x.size and (x.min() < 0 or x.max() >= self.input_dim):
            bad = x[(x < 0) | (x >= self.input_dim)].ravel()[0]
            raise ValueError(
                f"Embedding layer {self.name!r} has input_dim={self.input_dim}: ids must "
                f"be in [0, {self.input_dim - 1}]. Received: id {bad.item()!r}"
            )
        ids = x.astype(np.intp, copy=False)
        return np.ascontiguousarray(ids)

    def forward(self, x, training, cache, skip_activation=False):
        ids = self._ids(x)
        table = self.embeddings.value
        cache["ids"] = ids
        return self.ops.embedding_forward(
            table, ids, out=buffer(cache, "y", ids.shape + (self.output_dim,), table.dtype)
        )

    def backward(self, cache, dy):
        table = self.embeddings.value
        dtable = self.ops.embedding_backward(
            cache["ids"], dy, self.input_dim,
            out=buffer(cache, "dtable", table.shape, table.dtype),
        )
        cache["grads"] = [dtable] if self.trainable else []
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
        }


__all__ = ["Embedding"]
