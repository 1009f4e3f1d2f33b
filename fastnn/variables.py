"""Variable: a named NumPy array owned by a layer (a weight) or an optimizer (a slot)."""

import numpy as np


class Variable:
    """A weight: its value, whether training updates it, and its regularizer.

    ``value`` is a C-contiguous ndarray updated in place by optimizers, so every view
    handed out (``numpy()``) stays current.  ``assign`` copies into it, keeping the buffer.
    """

    __slots__ = ("value", "name", "trainable", "regularizer")

    def __init__(self, value, name, trainable=True, regularizer=None):
        self.value = np.ascontiguousarray(value)
        self.name = name
        self.trainable = bool(trainable)
        self.regularizer = regularizer

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        """The current value (the live array; copy it to keep a snapshot)."""
        return self.value

    def assign(self, value):
        """Copy ``value`` into this variable, checking its shape."""
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Variable {self.name!r} has shape {self.value.shape}; cannot assign a "
                f"value of shape {value.shape}."
            )
        np.copyto(self.value, value, casting="same_kind")

    def __repr__(self):
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype}>"


def assign_all(variables, values, owner):
    """Assign ``values`` (one array per variable, same order) after checking the count.

    Args:
        variables: the Variables to set.
        values: arrays, as ``get_weights()`` returns them.
        owner: e.g. "Layer 'dense'" or "Model 'seq'", for the error message.
    """
    values = list(values)
    if len(values) != len(variables):
        raise ValueError(
            f"{owner} expects {len(variables)} weight arrays. Received: {len(values)} arrays"
        )
    for var, value in zip(variables, values):
        var.assign(value)
