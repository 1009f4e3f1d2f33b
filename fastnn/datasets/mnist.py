"""MNIST handwritten digits (Keras' ``keras.datasets.mnist``)."""

import numpy as np

from ..utils.validation import check_path
from ._download import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
# SHA-256 of Keras' mnist.npz, as published in keras/src/datasets/mnist.py.
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_data(path="mnist.npz", *, cache_dir=None):
    """Loads the MNIST dataset.

    60,000 training and 10,000 test grayscale images of the ten digits, 28x28
    pixels each. The archive is downloaded once from Keras' mirror into the
    cache directory, its SHA-256 is checked, and later calls read the cached
    copy without using the network.

    Args:
        path: Where to cache the archive, relative to the cache directory
            (``~/.fastnn/datasets``, or ``$FASTNN_HOME/datasets``); an
            absolute path is used as is.
        cache_dir: Keyword-only fastnn extension: the cache directory to use
            instead of the default.

    Returns:
        Tuple of NumPy arrays ``(x_train, y_train), (x_test, y_test)``:
        ``x_train`` uint8 of shape ``(60000, 28, 28)``, pixel values 0-255;
        ``y_train`` uint8 of shape ``(60000,)``, labels 0-9;
        ``x_test`` uint8 of shape ``(10000, 28, 28)``;
        ``y_test`` uint8 of shape ``(10000,)``.

    Raises:
        OSError: If the archive is not cached and cannot be downloaded; the
            message says where to place it by hand.
        ValueError: If the download does not match the published checksum,
            or the archive lacks one of the four arrays.

    License: Yann LeCun and Corinna Cortes hold the copyright of MNIST, a
    derivative of the NIST datasets, made available under the Creative
    Commons Attribution-Share Alike 3.0 license.
    """
    check_path("path", path)
    local = get_file(path, origin=ORIGIN, file_hash=FILE_HASH, cache_dir=cache_dir)
    # The archive holds plain arrays; pickles are never needed, so never allowed.
    with np.load(local, allow_pickle=False) as f:
        missing = [k for k in _KEYS if k not in f.files]
        if missing:
            raise ValueError(
                f"{local} is not an MNIST archive: it lacks {', '.join(missing)} "
                f"(expected arrays {', '.join(_KEYS)}). Received arrays: {', '.join(f.files)}"
            )
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    return (x_train, y_train), (x_test, y_test)
