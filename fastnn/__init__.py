"""fastnn: Keras-style neural networks trained at C speed on multicore CPUs."""

__version__ = "0.1.0"

from . import backend, config, datasets
from .backend import set_backend
from .parallel import get_num_threads, set_num_threads
