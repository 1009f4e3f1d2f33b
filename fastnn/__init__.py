"""fastnn: Keras-style neural networks trained at C speed on multicore CPUs.

    import fastnn
    from fastnn import layers

    model = fastnn.Sequential([
        layers.Dense(500, activation="relu", input_shape=(784,)),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=5)
"""

__version__ = "0.1.0"

from . import (
    activations,
    backend,
    callbacks,
    config,
    datasets,
    distributed,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    threads,
    utils,
)
from .backend import set_backend
from .info import show_config
from .layers import Input
from .models import Model, Sequential, load_model
from .threads import get_num_threads, set_num_threads

__all__ = [
    "Input", "Model", "Sequential", "load_model", "set_backend", "show_config",
    "get_num_threads", "set_num_threads", "activations", "backend", "callbacks", "config",
    "datasets", "distributed", "initializers", "layers", "losses", "metrics", "models", "optimizers",
    "regularizers", "threads", "utils",
]
