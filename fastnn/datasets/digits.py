"""UCI optical handwritten digits, shipped inside fastnn (no download needed).

1,797 images of the digits 0-9, each 8x8 pixels with integer values 0..16
(counts of set pixels in 4x4 blocks of the original 32x32 bitmaps).
"""

import functools
import gzip
import os

import numpy as np

from ..utils.validation import check_choice, check_int, check_real

_DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.csv.gz")
_LICENSE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "DIGITS_LICENSE.txt")

NUM_SAMPLES = 1797
NUM_FEATURES = 64
NUM_CLASSES = 10

DESCR = """\
Optical Recognition of Handwritten Digits (UCI Machine Learning Repository)

1,797 samples, 10 classes (the digits 0-9), 64 features per sample.
Each sample is an 8x8 image of a handwritten digit; each pixel is an integer
0..16: the number of "on" pixels in a 4x4 block of a normalized 32x32 bitmap.
The full UCI dataset (5,620 samples) was written by 43 people; this copy is
its 1,797-sample test portion (13 writers), the one scikit-learn distributes.

Creators: E. Alpaydin and C. Kaynak (1998).
DOI: 10.24432/C50P49
License: Creative Commons Attribution 4.0 International (CC BY 4.0).
"""

_CITATION_TEXT = (
    'E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", '
    "UCI Machine Learning Repository, 1998. https://doi.org/10.24432/C50P49"
)

_CITATION_BIBTEX = """\
@misc{alpaydin1998digits,
  author       = {Alpaydin, E. and Kaynak, C.},
  title        = {{Optical Recognition of Handwritten Digits}},
  year         = {1998},
  howpublished = {UCI Machine Learning Repository},
  doi          = {10.24432/C50P49},
  note         = {License: CC BY 4.0}
}
"""


def citation(style="text"):
    """How to cite the digits dataset when you publish results obtained with it.

    Args:
        style: ``"text"`` for a one-line reference or ``"bibtex"`` for a
            BibTeX entry.

    Returns:
        The citation as a string.
    """
    check_choice("style", style, ("text", "bibtex"))
    return _CITATION_TEXT if style == "text" else _CITATION_BIBTEX


@functools.lru_cache(maxsize=1)
def _load_all():
    """Parse the shipped CSV once; returns read-only (x, y) uint8 arrays."""
    with gzip.open(_DATA_FILE, "rt", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != (NUM_SAMPLES, NUM_FEATURES + 1):
        raise ValueError(
            f"{_DATA_FILE} is corrupt: expected a table of shape "
            f"{(NUM_SAMPLES, NUM_FEATURES + 1)}, found {table.shape}. Reinstall fastnn."
        )
    x = table[:, :NUM_FEATURES].astype(np.uint8)
    y = table[:, NUM_FEATURES].astype(np.uint8)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def _split_counts(class_sizes, n_test):
    """Per-class test counts proportional to class size, summing to ``n_test``.

    Largest-remainder rounding; ties go to the lower class index.
    """
    total = class_sizes.sum()
    exact = class_sizes * (n_test / total)
    counts = np.floor(exact).astype(np.int64)
    short = n_test - int(counts.sum())
    if short > 0:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def load_data(test_split=0.2, seed=113):
    """Loads the digits dataset, split into training and test sets.

    The data ships with fastnn, so this never uses the network. The split is
    stratified: every digit is represented in the test set in (almost exactly)
    its share of the whole dataset, and the test set has
    ``round(1797 * test_split)`` samples. The same ``seed`` always gives the
    same split and the same order, on every platform.

    Args:
        test_split: Fraction of the data to hold out as the test set, a number
            in ``[0, 1)``. ``0`` gives empty test arrays.
        seed: Non-negative integer seeding the shuffle (NumPy's PCG64).

    Returns:
        Tuple of NumPy arrays ``(x_train, y_train), (x_test, y_test)``:
        ``x_*`` are uint8 of shape ``(n, 64)``, one flattened 8x8 image per
        row (row-major; ``x.reshape(-1, 8, 8)`` recovers the images), with
        integer pixel values 0..16, not 0..255; scale with ``x / 16.0``.
        ``y_*`` are uint8 of shape ``(n,)``, labels 0-9. Both sets are
        shuffled.

    Raises:
        ValueError: If ``test_split`` is not a number in ``[0, 1)`` or
            ``seed`` is not a non-negative integer.

    Citation: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten
    Digits", UCI Machine Learning Repository, 1998, DOI 10.24432/C50P49,
    CC BY 4.0 (see ``citation()`` and ``DESCR``).
    """
    test_split = check_real("test_split", test_split, low=0, high=1, high_open=True)
    seed = check_int("seed", seed, low=0)

    x, y = _load_all()
    rng = np.random.default_rng(seed)
    n_test = int(round(len(y) * test_split))

    classes = np.arange(NUM_CLASSES)
    members = [np.flatnonzero(y == c) for c in classes]
    counts = _split_counts(np.array([len(m) for m in members]), n_test)
    train_idx, test_idx = [], []
    for idx, k in zip(members, counts):
        idx = rng.permutation(idx)
        test_idx.append(idx[:k])
        train_idx.append(idx[k:])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))

    # Fancy indexing copies, so the caller gets writable arrays of its own.
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])
