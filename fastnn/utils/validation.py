"""Checks at the public boundary: arguments and data are validated and converted once, here.

Everything below the Python API (ops, Cython, C) trusts its inputs, so these functions
must refuse anything the kernels cannot take: non-numeric or ragged data, wrong feature
shapes, NaN/inf, empty arrays, mismatched lengths.

Scalar arguments go through ``check_int``, ``check_real``, ``check_bool``,
``check_choice`` and ``check_str``, which share one signature, ``(name, value, *,
bounds...)``, and one Keras-style message::

    Invalid value for argument `units`: expected an integer >= 1. Received: units=-3

A value of the wrong type raises ``ArgumentTypeError``, which is both a ``TypeError``
(Python's convention) and a ``ValueError`` (what Keras raises for the same mistake), so
code written against either keeps working; a value of the right type out of its bounds
raises ``ValueError``.  ``owner`` (a class name, say) prefixes the message when the
argument name alone would be ambiguous.  Shapes and file paths go through
``check_shape`` and ``check_path``; a check none of these can express (an axis valid
only for some rank) raises through ``refuse_argument``, with the same message.
"""

import math
import numbers
import os
import sys

import numpy as np

from .naming import did_you_mean


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` and a ``ValueError`` alike)."""


def _refuse(name, value, expected, owner, error=ValueError, choices=None):
    prefix = f"{owner}: " if owner else ""
    # a misspelt choice gets the hint every registry gives ("Did you mean 'same'?")
    hint = did_you_mean(value, choices) if choices is not None else ""
    raise error(
        f"{prefix}Invalid value for argument `{name}`: expected {expected}. "
        f"Received: {name}={value!r}{hint}"
    )


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _bounds_text(low, high, low_open=False, high_open=False):
    """"in [0, 1)", ">= 1", "> 0", "<= 5" or "" for the given bounds."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def check_int(name, value, *, low=None, high=None, allow_none=False, owner=None):
    """``value`` as a Python int in ``[low, high]`` (bools refused; None if allowed)."""
    if value is None and allow_none:
        return None
    bounds = _bounds_text(low, high)
    expected = "an integer" + (f" {bounds}" if bounds else "") + (" or None" if allow_none
                                                                  else "")
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        _refuse(name, value, expected, owner, ArgumentTypeError)
    if (low is not None and value < low) or (high is not None and value > high):
        _refuse(name, value, expected, owner)
    return int(value)


def check_real(name, value, *, low=None, high=None, low_open=False, high_open=False,
               allow_none=False, allow_inf=False, owner=None):
    """``value`` as a float in the given range, finite unless ``allow_inf`` (NaN is
    always refused).  Bounds are inclusive unless ``low_open`` / ``high_open``."""
    if value is None and allow_none:
        return None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    bounds = _bounds_text(low, high, low_open, high_open)
    expected = ("a number" if allow_inf else "a finite number") + (
        f" {bounds}" if bounds else "") + (" or None" if allow_none else "")
    if _is_bool(value) or not isinstance(value, numbers.Real):
        _refuse(name, value, expected, owner, ArgumentTypeError)
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        _refuse(name, value, expected, owner)
    if low is not None and (v < low or (low_open and v == low)):
        _refuse(name, value, expected, owner)
    if high is not None and (v > high or (high_open and v == high)):
        _refuse(name, value, expected, owner)
    return v


def check_bool(name, value, *, owner=None):
    """``value`` as a bool; only ``True``/``False`` (and NumPy's) are accepted."""
    if not _is_bool(value):
        _refuse(name, value, "a boolean", owner, ArgumentTypeError)
    return bool(value)


def check_choice(name, value, choices, *, owner=None):
    """``value`` itself when it is one of ``choices``, else a ValueError listing them."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value against a set
        ok = False
    if not ok:
        _refuse(name, value, "one of " + ", ".join(repr(c) for c in choices), owner,
                choices=choices)
    return value


def check_str(name, value, *, allow_empty=False, allow_none=False, owner=None):
    """``value`` when it is a string (non-empty unless ``allow_empty``; None if allowed)."""
    if value is None and allow_none:
        return None
    expected = ("a string" if allow_empty else "a non-empty string") + (
        " or None" if allow_none else "")
    if not isinstance(value, str):
        _refuse(name, value, expected, owner, ArgumentTypeError)
    if not value and not allow_empty:
        _refuse(name, value, expected, owner)
    return value


def check_path(name, value, *, allow_empty=False, allow_none=False, owner=None):
    """``value`` when it is a ``str`` or ``os.PathLike`` file path (non-empty unless
    ``allow_empty``; None if allowed)."""
    if value is None and allow_none:
        return None
    expected = ("a path" if allow_empty else "a non-empty path") + (
        " (str or os.PathLike)") + (" or None" if allow_none else "")
    if not isinstance(value, (str, os.PathLike)):
        _refuse(name, value, expected, owner, ArgumentTypeError)
    if not os.fspath(value) and not allow_empty:
        _refuse(name, value, expected, owner)
    return value


def check_shape(name, value, *, allow_none=False, unknown_dims=False, inferred_dim=False,
                owner=None):
    """``value`` (any iterable) as a tuple of ints >= 1, e.g. a layer's ``input_shape``.

    Args:
        name: the argument's name, for the message.
        value: the shape to check.
        allow_none: accept ``None`` for the whole shape (returned as is).
        unknown_dims: accept ``None`` entries (a size not known until data arrives).
        inferred_dim: accept one ``-1`` entry (a size inferred from the others).
        owner: prefix of the message (a class name), as for ``check_int``.

    Returns:
        A tuple of Python ints (and None entries where allowed).

    Raises:
        ArgumentTypeError: ``value`` is not iterable, or an entry is not an integer.
        ValueError: an entry is out of range, or more than one entry is -1.
    """
    if value is None and allow_none:
        return None
    allowed = [e for e, ok in (("None where a size is unknown", unknown_dims),
                               ("at most one -1 for a size to infer", inferred_dim)) if ok]
    expected = ("None or " if allow_none else "") + "a tuple of positive integers" + (
        f" ({', '.join(allowed)})" if allowed else "")
    try:
        shape = tuple(value)
    except TypeError:
        _refuse(name, value, expected, owner, ArgumentTypeError)
    for d in shape:
        if d is None and unknown_dims:
            continue
        if _is_bool(d) or not isinstance(d, numbers.Integral):
            _refuse(name, value, expected, owner, ArgumentTypeError)
        if d < 1 and not (d == -1 and inferred_dim):
            _refuse(name, value, expected, owner)
    if sum(d == -1 for d in shape) > 1:
        _refuse(name, value, expected, owner)
    return tuple(None if d is None else int(d) for d in shape)


def refuse_argument(name, value, expected, *, wrong_type=False, owner=None, choices=None):
    """Raise the one argument error, for a check the ``check_*`` functions cannot
    express (an axis valid only for a given rank, a value fastnn does not support):
    ``Invalid value for argument `name`: expected <expected>. Received: name=value``.

    Args:
        name: the argument's name.
        value: what was received.
        expected: what would have been accepted, as a phrase ("an axis in [1, 3]").
        wrong_type: raise ``ArgumentTypeError`` (a value of the wrong kind) instead of
            ``ValueError`` (a value of the right kind that is not accepted).
        owner: prefix of the message (a class name), as for ``check_int``.
        choices: the names accepted, when ``value`` is one name among them: a close
            one is suggested ("Did you mean 'same'?").
    """
    _refuse(name, value, expected, owner, ArgumentTypeError if wrong_type else ValueError,
            choices)


# What a data argument may be, for the message when it is something else.
ARRAY_DATA = "a numeric array (a NumPy array, a nested list of numbers, or a pandas " \
             "DataFrame or Series)"
MODEL_INPUT_DATA = ("a NumPy array (or a nested list of numbers), a list of arrays for a "
                    "model with several inputs, a dict of arrays by input name, or a "
                    "pandas DataFrame")


def to_float_array(value, name, dtype, allow_nan=False, accepted=ARRAY_DATA):
    """``value`` as a C-contiguous array of ``dtype``, or a clear TypeError/ValueError.

    Args:
        value: the data (an array, nested lists, a pandas DataFrame or Series).
        name: what the caller calls it (``"x"``, ``"y_true"``), for the messages.
        dtype: the NumPy dtype of the result.
        allow_nan: keep NaN and infinite values instead of refusing them.
        accepted: what the caller accepts, as a phrase, for the message when ``value``
            is not array data at all (a generator, a dataset object).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(
            f"Expected {name} to be a numeric array. Received: {name} of type "
            f"{type(value).__name__}"
        )
    value = from_pandas(value, name)
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(
            f"Expected {name} to be a rectangular numeric array; it looks ragged "
            f"(rows of different lengths). Received: {name}{_describe_sequence(value)} "
            f"({exc})"
        ) from None
    if arr.dtype == object and arr.ndim == 0:
        # NumPy wraps anything that is not array-like in a 0-d object array
        raise TypeError(
            f"Expected {name} to be {accepted}. Received: {name} of type "
            f"{type(value).__name__}{_iterator_hint(value)}"
        )
    if arr.dtype == object:
        raise TypeError(
            f"Expected {name} to be a numeric array, not an object array (ragged rows or "
            f"mixed types). Received: {name} with dtype=object"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"Expected {name} to hold numbers (bool, int or float). "
            f"Received: {name} with dtype={arr.dtype}"
        )
    if arr.dtype.kind == "f" and not allow_nan and arr.size and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s); clean or impute them first. "
            f"Received: {name} with non-finite entries"
        )
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    if arr.dtype.kind in "iu" and out.size and not np.isfinite(out).all():
        raise ValueError(f"{name} has integers too large for {np.dtype(dtype).name}.")
    # a finite float64 beyond float32's range (1e300) becomes inf in the cast
    if (arr.dtype.kind == "f" and not allow_nan and out.dtype.itemsize < arr.dtype.itemsize
            and out.size and not np.isfinite(out).all()):
        raise ValueError(
            f"{name} has values too large for {np.dtype(dtype).name} (largest magnitude "
            f"{float(np.abs(arr).max()):.3g}); rescale the data first."
        )
    return out


def _iterator_hint(value):
    """Advice for a generator, iterator or dataset object passed as data."""
    if hasattr(value, "__next__") or (hasattr(value, "__iter__")
                                      and not hasattr(value, "__len__")):
        return (". fastnn trains on arrays held in memory, not on generators or datasets: "
                "collect the batches into arrays (np.concatenate), or call "
                "train_on_batch once per batch")
    return ""


def _describe_sequence(value):
    """" (a tuple of 2 arrays with shapes (64, 3), (64,))" for a sequence of arrays."""
    if isinstance(value, (list, tuple)) and value and all(hasattr(v, "shape")
                                                         for v in value):
        shapes = ", ".join(str(tuple(v.shape)) for v in value)
        return f" (a {type(value).__name__} of {len(value)} arrays with shapes {shapes})"
    return ""


def from_pandas(value, name):
    """A pandas DataFrame or Series as NumPy data; anything else unchanged.

    A Series, or a DataFrame whose columns share one NumPy dtype, is returned as it is
    (``np.asarray`` converts it, as it always has).  Otherwise every column must be
    numeric: NumPy numbers, or pandas' nullable ``Int64``/``Float32``/``boolean`` (and
    the like), converted with ``to_numpy`` to a common NumPy dtype.  A missing value
    (``pd.NA``) is refused, as NaN is, and a categorical, string, object or date
    column is refused with its name and how to encode it, instead of NumPy's object
    array.  pandas is only looked up when the caller has imported it: fastnn does not
    depend on it.

    Args:
        value: the data.
        name: what the caller calls it (``"x"``), for the messages.
    """
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(value, (pd.DataFrame, pd.Series)):
        return value
    if isinstance(value, pd.Series):
        label = name if value.name is None else f"{name} (Series {value.name!r})"
        columns = [(label, value)]
    else:
        columns = [(f"{name} column {label!r}", value.iloc[:, i])
                   for i, label in enumerate(value.columns)]
    numpy_dtypes = [_numeric_column_dtype(pd, col, where, name) for where, col in columns]
    if all(isinstance(col.dtype, np.dtype) for _, col in columns) and (
            len(set(numpy_dtypes)) <= 1):
        return value
    return value.to_numpy(dtype=np.result_type(*numpy_dtypes))


def _numeric_column_dtype(pd, column, where, name):
    """The NumPy dtype a pandas column converts to, or an error naming the column
    (``where``: "x column 'age'")."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        raise TypeError(
            f"Expected {name} to hold numbers, but {where} is categorical; encode it "
            "first: `.cat.codes` for one integer code per category, or "
            "`pd.get_dummies(...)` for one-hot columns."
        )
    numpy_dtype = dtype if isinstance(dtype, np.dtype) else getattr(dtype, "numpy_dtype",
                                                                    None)
    if numpy_dtype is not None and numpy_dtype.kind in "biuf":
        if not isinstance(dtype, np.dtype):
            missing = int(column.isna().sum())
            if missing:
                raise ValueError(
                    f"{where} has {missing} missing value(s) (pd.NA); fill or drop them "
                    "first (`fillna`, `dropna`). "
                    f"Received: {name} with missing entries"
                )
        return numpy_dtype
    if dtype.kind in "OSU":
        raise TypeError(
            f"Expected {name} to hold numbers, but {where} has dtype {dtype} (strings or "
            "Python objects); convert it first: `pd.to_numeric(...)` when it holds "
            "numbers as text, else encode it (`.astype('category').cat.codes` or "
            "`pd.get_dummies(...)`)."
        )
    raise TypeError(
        f"Expected {name} to hold numbers, but {where} has dtype {dtype}; convert it to "
        "a numeric dtype first (`.astype('float32')`, or, for dates, numeric features "
        "such as `.dt.dayofweek`)."
    )


def as_list(value):
    """``value`` as a list: lists and tuples as they are, one object as a 1-list."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def check_model_inputs(x, input_shapes, input_names, dtype, name="x", allow_nan=False):
    """Convert ``x`` (array, list of arrays, or dict by input name) for a model.

    Returns a list of arrays in model input order, all with the same first dimension,
    each matching its input's feature shape.  ``allow_nan`` skips the checks for NaN,
    infinite and (float) out-of-range values (a data-parallel ``fit`` makes them on
    each rank's share of the rows instead).
    """
    if isinstance(x, dict):
        missing = [n for n in input_names if n not in x]
        if missing:
            raise ValueError(
                f"{name} is a dict but lacks inputs {missing}; expected keys {input_names}. "
                f"Received keys: {sorted(x)}"
            )
        x = [x[n] for n in input_names]
    elif len(input_shapes) > 1:
        if not isinstance(x, (list, tuple)):
            raise ValueError(
                f"This model has {len(input_shapes)} inputs ({', '.join(input_names)}); "
                f"pass {name} as a list of {len(input_shapes)} arrays. "
                f"Received: a single {type(x).__name__}"
            )
        x = list(x)
    else:
        # one input: a list/tuple is a single array unless it is a 1-list of arrays
        if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
            x = [x[0]]
        else:
            x = [x]
    if len(x) != len(input_shapes):
        raise ValueError(
            f"Expected {name} to hold {len(input_shapes)} arrays, one per model input. "
            f"Received: {len(x)} arrays"
        )
    arrays = []
    for i, (arr, shape, iname) in enumerate(zip(x, input_shapes, input_names)):
        label = name if len(x) == 1 else f"{name}[{i}] (input {iname!r})"
        arr = to_float_array(arr, label, dtype, allow_nan=allow_nan,
                             accepted=MODEL_INPUT_DATA)
        expected = tuple(shape[1:])
        if arr.ndim == 1 and expected == (1,):
            arr = arr.reshape(-1, 1)
        if arr.ndim != len(expected) + 1 or any(
            e is not None and e != g for e, g in zip(expected, arr.shape[1:])
        ):
            hint = ""
            if (arr.ndim == len(expected) and len(expected) > 1 and expected[-1] == 1
                    and all(e is None or e == g
                            for e, g in zip(expected[:-1], arr.shape[1:]))):
                # grayscale images without their channel axis, as the MNIST-style
                # loaders return them, into a Conv2D model
                hint = f" (add the missing channel axis with {name}[..., None])"
            raise ValueError(
                f"Input {label} is incompatible with the model: expected shape "
                f"{(None,) + expected}, received shape {arr.shape}{hint}"
            )
        arrays.append(arr)
    check_lengths(arrays, [name] * len(arrays))
    if arrays and arrays[0].shape[0] == 0:
        raise ValueError(f"Expected {name} to hold at least one sample. Received: 0 samples")
    return arrays


def check_lengths(arrays, names):
    """All arrays share their first dimension, or a ValueError listing the sizes."""
    # (name, size) pairs, not a dict by name: several arrays may share a name (the
    # outputs' targets are all "y"), and each one must be checked
    names = list(names)
    labels = [f"{n}[{names[:i].count(n)}]" if names.count(n) > 1 else n
              for i, n in enumerate(names)]
    sizes = [(label, a.shape[0]) for a, label in zip(arrays, labels) if a is not None]
    if len({s for _, s in sizes}) > 1:
        detail = ", ".join(f"{n}: {s}" for n, s in sizes)
        raise ValueError(
            f"Data cardinality is ambiguous: all arrays must have the same number of "
            f"samples. Received sizes {detail}"
        )


def check_sample_weight(sample_weight, n, dtype, name="sample_weight"):
    """A (n,) float array of finite non-negative weights, or None."""
    if sample_weight is None:
        return None
    w = to_float_array(sample_weight, name, dtype)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(
            f"Expected {name} to have shape ({n},), one weight per sample. "
            f"Received: {name} with shape {w.shape}"
        )
    if (w < 0).any():
        raise ValueError(f"Expected {name} to be >= 0. Received: a negative weight")
    return np.ascontiguousarray(w)
