"""Fashion-MNIST: Zalando's article images (Keras' ``keras.datasets.fashion_mnist``)."""

import gzip

import numpy as np

from ._download import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CACHE_SUBDIR = "fashion-mnist"
# SHA-256 of each archive, as published in keras/src/datasets/fashion_mnist.py.
FILE_HASHES = {
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
}

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# IDX magic numbers: 0x00000801 is a 1-D uint8 array, 0x00000803 a 3-D one.
_MAGIC_LABELS = 2049
_MAGIC_IMAGES = 2051


def _read_idx(path, magic, ndim):
    """Read a gzipped IDX file of unsigned bytes into an array of its declared shape."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is not an IDX file: only {len(data)} bytes.")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(
            f"{path} is not the expected IDX file: magic number {found}, expected {magic}."
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape))
    if len(data) - header != count:
        raise ValueError(
            f"{path} is truncated or corrupt: its header declares shape {shape} "
            f"({count} bytes of data) but it holds {len(data) - header}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def load_data(*, cache_dir=None):
    """Loads the Fashion-MNIST dataset.

    60,000 training and 10,000 test grayscale images of 10 kinds of clothing,
    28x28 pixels each; a drop-in replacement for MNIST. The four archives are
    downloaded once from Keras' mirror into ``<cache dir>/fashion-mnist``,
    each checked against its SHA-256; later calls use the cached copies.

    Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal,
    6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot (also in ``CLASS_NAMES``).

    Args:
        cache_dir: Keyword-only fastnn extension: the cache directory to use
            instead of ``~/.fastnn/datasets`` (or ``$FASTNN_HOME/datasets``).

    Returns:
        Tuple of NumPy arrays ``(x_train, y_train), (x_test, y_test)``:
        ``x_train`` uint8 of shape ``(60000, 28, 28)``, pixel values 0-255;
        ``y_train`` uint8 of shape ``(60000,)``, labels 0-9;
        ``x_test`` uint8 of shape ``(10000, 28, 28)``;
        ``y_test`` uint8 of shape ``(10000,)``.

    Raises:
        OSError: If an archive is not cached and cannot be downloaded; the
            message says where to place it by hand.
        ValueError: If a download does not match its published checksum, or
            an archive is not a well-formed IDX file.

    License: the copyright of Fashion-MNIST is held by Zalando SE; it is
    available under the MIT license.
    """
    paths = {
        name: get_file(
            name,
            origin=ORIGIN + name,
            file_hash=digest,
            cache_dir=cache_dir,
            cache_subdir=CACHE_SUBDIR,
        )
        for name, digest in FILE_HASHES.items()
    }
    y_train = _read_idx(paths["train-labels-idx1-ubyte.gz"], _MAGIC_LABELS, 1)
    x_train = _read_idx(paths["train-images-idx3-ubyte.gz"], _MAGIC_IMAGES, 3)
    y_test = _read_idx(paths["t10k-labels-idx1-ubyte.gz"], _MAGIC_LABELS, 1)
    x_test = _read_idx(paths["t10k-images-idx3-ubyte.gz"], _MAGIC_IMAGES, 3)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise ValueError(
                f"Fashion-MNIST {split} archives disagree: {len(x)} images but "
                f"{len(y)} labels."
            )
    return (x_train, y_train), (x_test, y_test)
