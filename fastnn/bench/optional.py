"""The optional dependencies of the benchmarks: PyTorch, scikit-learn, threadpoolctl, matplotlib.

None of them is required.  Every module of ``fastnn.bench`` imports them through
``load`` (never directly), so that a test can make one look absent by replacing that
single function.
"""

import importlib
import importlib.metadata


def load(module_name):
    """Import an optional dependency, or return None when it is missing or broken.

    Args:
        module_name: A dotted module name, e.g. ``"sklearn.neural_network"``.

    Returns:
        The module, or None.
    """
    try:
        return importlib.import_module(module_name)
    except Exception:  # a broken install (ImportError, OSError from a .so) counts as absent
        return None


def version(dist):
    """The installed version of a distribution (``"scikit-learn"``), or None when absent.

    Read from the installed metadata rather than by importing: importing torch costs
    seconds.
    """
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
