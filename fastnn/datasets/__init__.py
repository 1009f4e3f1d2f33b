"""Small ready-to-use datasets (Keras' ``keras.datasets``).

- ``digits``: the UCI 8x8 handwritten digits, shipped inside fastnn (offline).
- ``mnist`` and ``fashion_mnist``: downloaded once into ``~/.fastnn/datasets``
  (or ``$FASTNN_HOME/datasets``) and checked against published SHA-256 sums.
"""

from . import digits, fashion_mnist, mnist

__all__ = ["digits", "fashion_mnist", "mnist"]
