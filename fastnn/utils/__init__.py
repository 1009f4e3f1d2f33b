"""Small helpers shared across fastnn (naming, validation, progress display, randomness,
training curves)."""

from .plotting import plot_history
from .random import set_random_seed

__all__ = ["plot_history", "set_random_seed"]


# Keras utilities users reach for first that fastnn does not have yet (see
# ``fastnn.layers`` for the layers).
_NOT_YET = {
    "plot_model": "plot_model (a drawing of the layer graph) is not in fastnn yet; "
                  "model.summary() prints the layers, their shapes and parameters",
    "to_categorical": "to_categorical is not in fastnn yet; np.eye(num_classes)[labels] "
                      "one-hot encodes integer labels, or use a sparse_categorical loss",
    "normalize": "normalize is not in fastnn yet; sklearn.preprocessing.normalize does it",
    "image_dataset_from_directory": "image loading is not in fastnn yet; load arrays "
                                    "with NumPy or fastnn.datasets",
}


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .naming import missing_name_error
    raise missing_name_error(__name__, name, _NOT_YET, __all__)
