"""The ops interface: the only thing layers, losses and optimizers call.

``get(name)`` returns a backend object; ``set_backend(name)`` / ``FASTNN_BACKEND`` choose
the one models use, and ``using(name)`` chooses it for a ``with`` block.  ``native`` is the default when the compiled extension is importable,
else ``numpy``.  Both expose the same primitives (see ``NumpyOps``).
"""

import contextlib
import os

from .numpy_ops import NumpyOps

BACKENDS = ("numpy", "native")

_instances = {}
_current = None


def native_available():
    """True when the compiled native backend can be imported."""
    try:
        from . import native_ops  # noqa: F401
    except ImportError:
        return False
    return native_ops.NATIVE_AVAILABLE


def get(name=None):
    """Return the backend object called ``name`` ('numpy' or 'native'); None: the current."""
    if name is None:
        return current()
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(
            f"Unknown backend: expected one of {', '.join(BACKENDS)}. Received: name={name!r}"
        )
    name = name.lower()
    if name not in _instances:
        if name == "numpy":
            _instances[name] = NumpyOps()
        else:
            if not native_available():
                raise ValueError(
                    "The native backend is not available: fastnn's compiled extension "
                    "was not built or could not be imported. Received: name='native'"
                )
            from .native_ops import NativeOps

            _instances[name] = NativeOps()
    return _instances[name]


def _default_name():
    raw = os.environ.get("FASTNN_BACKEND", "")
    env = raw.strip().lower()
    if env:
        if env not in BACKENDS:
            raise ValueError(
                f"FASTNN_BACKEND must be one of {', '.join(BACKENDS)}, or unset for the "
                f"default. Received: FASTNN_BACKEND={raw!r}"
            )
        return env
    return "native" if native_available() else "numpy"


def current():
    """The backend models use now."""
    global _current
    if _current is None:
        _current = get(_default_name())
    return _current


def set_backend(name):
    """Choose the backend models built or trained from now on use."""
    global _current
    _current = get(name)
    return _current


@contextlib.contextmanager
def using(name):
    """Within the ``with`` block, models use the backend ``name`` ('numpy' or 'native');
    on exit the backend in force before is restored, even when the block raises.

    Yields the backend object.  Like ``set_backend`` the choice is process-wide.
    """
    global _current
    ops = get(name)
    before = _current
    _current = ops
    try:
        yield ops
    finally:
        _current = before


def backend_name():
    """Name of the current backend ('numpy' or 'native')."""
    return current().name


__all__ = ["NumpyOps", "get", "set_backend", "using", "current", "backend_name",
           "native_available"]
