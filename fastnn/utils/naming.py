"""Names: unique defaults for layers and models, Keras-style (``dense``, ``dense_1``,
...), and the "Did you mean ...?" hint that every registry gives for an unknown name."""

import collections
import difflib
import re
import threading

_counts = collections.defaultdict(int)
_lock = threading.Lock()


def snake_case(name):
    """``BatchNormalization`` -> ``batch_normalization``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def unique(prefix):
    """``prefix`` the first time, then ``prefix_1``, ``prefix_2``, ..."""
    with _lock:
        n = _counts[prefix]
        _counts[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def did_you_mean(name, choices):
    """The hint every registry adds to its "unknown name" error: `` Did you mean
    'categorical_crossentropy'?`` for the choice closest to ``name``, or ``""`` when no
    choice is close.

    Matching ignores case (``'Adam'`` and ``'adam'`` are the same typo) but the hint
    spells the choice as the registry does.  The message starts with a space so that
    callers can put it right after a sentence.

    Args:
        name: what the user wrote (anything; a non-string gets no hint).
        choices: the names the registry knows.
    """
    if not isinstance(name, str) or not name:
        return ""
    by_lower = {}
    for choice in choices:
        if isinstance(choice, str):
            by_lower.setdefault(choice.lower(), choice)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    if not close or by_lower[close[0]] == name:
        return ""
    return f" Did you mean {by_lower[close[0]]!r}?"


class NotInFastnnError(ImportError):
    """A Keras name fastnn does not have yet.  An ImportError, not an AttributeError:
    ``from fastnn.layers import LSTM`` turns an AttributeError from the module's
    ``__getattr__`` into a bare "cannot import name", losing the advice."""


def missing_name_error(module, name, not_yet, choices):
    """The error a module's ``__getattr__`` raises for ``name``: for a Keras name
    fastnn does not have yet (a key of ``not_yet``), a ``NotInFastnnError`` saying so
    and what to use instead; otherwise Python's AttributeError with a "Did you mean"
    among ``choices``."""
    if name in not_yet:
        return NotInFastnnError(f"{module}.{name} does not exist: fastnn follows Keras's "
                              f"names, but {not_yet[name]}.")
    return AttributeError(f"module {module!r} has no attribute {name!r}."
                          f"{did_you_mean(name, choices)}")
