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

# Keras top-level modules a Keras program imports that fastnn does not have.
_NOT_YET = {
    "ops": "fastnn has no tensor-operations module (keras.ops); layers and models work on "
           "NumPy arrays, so use NumPy functions on them",
    "applications": "fastnn has no pretrained models (keras.applications) yet",
    "preprocessing": "fastnn has no preprocessing module yet; prepare arrays with NumPy "
                     "or scikit-learn",
    "mixed_precision": "fastnn trains in float32 or float64 "
                       "(fastnn.config.set_floatx), not in mixed precision",
}


def __getattr__(name):
    # ``fastnn.Sequentail`` gets a "Did you mean 'Sequential'?" and keras.ops a reason
    if name.startswith("__"):  # import machinery probes (__path__, __wrapped__...)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .utils.naming import missing_name_error
    raise missing_name_error(__name__, name, _NOT_YET, __all__)
