"""The argument checks every public constructor uses (fastnn.utils.validation)."""

import inspect
import numbers
import re

import numpy as np
import pytest

import fastnn
from fastnn import initializers, layers, losses, metrics, regularizers
from fastnn.datasets import digits
from fastnn.datasets._download import get_file
from fastnn.utils.progbar import Progbar
from fastnn.utils.validation import (
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_int,
    check_path,
    check_real,
    check_shape,
    check_str,
    refuse_argument,
)


def test_int_bounds_types_and_message():
    assert check_int("units", 3, low=1) == 3
    assert type(check_int("units", np.int64(3), low=1)) is int
    assert check_int("seed", None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"^Invalid value for argument `units`: expected "
                       r"an integer >= 1\. Received: units=-3$"):
        check_int("units", -3, low=1)
    with pytest.raises(ValueError, match=r"in \[0, 5\]"):
        check_int("k", 6, low=0, high=5)
    for bad in ("3", 3.0, True, None):
        with pytest.raises(ArgumentTypeError, match="units"):
            check_int("units", bad, low=1)


def test_wrong_type_is_both_type_and_value_error():
    with pytest.raises(TypeError):
        check_int("units", "a")
    with pytest.raises(ValueError):
        check_int("units", "a")
    assert issubclass(ArgumentTypeError, TypeError)
    assert issubclass(ArgumentTypeError, ValueError)


def test_real_bounds_nan_inf_and_zero_d_arrays():
    assert check_real("rate", 0, low=0, high=1, high_open=True) == 0.0
    assert check_real("lr", np.array(0.5), low=0, low_open=True) == 0.5
    assert check_real("x", float("inf"), allow_inf=True) == float("inf")
    assert check_real("x", None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"a finite number in \[0, 1\)\. Received: rate=1"):
        check_real("rate", 1, low=0, high=1, high_open=True)
    with pytest.raises(ValueError, match="> 0"):
        check_real("lr", 0.0, low=0, low_open=True)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            check_real("x", bad)
    with pytest.raises(ValueError, match="NaN|nan"):
        check_real("x", float("nan"), allow_inf=True)
    for bad in ("1", True, [1.0], None):
        with pytest.raises(ArgumentTypeError):
            check_real("x", bad)


def test_bool_choice_str_and_owner_prefix():
    assert check_bool("centered", np.bool_(True)) is True
    with pytest.raises(ArgumentTypeError, match="expected a boolean. Received: centered=1"):
        check_bool("centered", 1)
    assert check_choice("mode", "min", ("auto", "min", "max")) == "min"
    with pytest.raises(ValueError, match=r"one of 'auto', 'min', 'max'\. Received: mode='x'"):
        check_choice("mode", "x", ("auto", "min", "max"))
    with pytest.raises(ValueError, match="one of"):
        check_choice("mode", ["unhashable"], {"auto"})
    assert check_str("monitor", "loss") == "loss"
    with pytest.raises(ValueError, match="non-empty string"):
        check_str("monitor", "")
    with pytest.raises(ArgumentTypeError, match="^EarlyStopping: Invalid value"):
        check_str("monitor", 3, owner="EarlyStopping")


def test_shape_entries_none_and_inferred_dims():
    assert check_shape("input_shape", [2, np.int64(3)]) == (2, 3)
    assert type(check_shape("input_shape", (np.int64(3),))[0]) is int
    assert check_shape("input_shape", (None, 4), unknown_dims=True) == (None, 4)
    assert check_shape("target_shape", (2, -1), inferred_dim=True) == (2, -1)
    assert check_shape("noise_shape", None, allow_none=True) is None
    assert check_shape("input_shape", ()) == ()
    with pytest.raises(ValueError, match=r"^Invalid value for argument `input_shape`: "
                       r"expected a tuple of positive integers\. "
                       r"Received: input_shape=\(2, 0\)$"):
        check_shape("input_shape", (2, 0))
    with pytest.raises(ValueError, match=r"at most one -1.*Received: target_shape=\(-1, -1\)"):
        check_shape("target_shape", (-1, -1), inferred_dim=True)
    for bad in ((-1, 2), (None, 2)):  # only where allowed
        with pytest.raises(ValueError, match="Received: input_shape="):
            check_shape("input_shape", bad)
    with pytest.raises(ValueError, match=r"target_shape=\(-2,\)"):
        check_shape("target_shape", (-2,), inferred_dim=True)
    # not iterable, or entries that are not integers: the wrong type
    for bad in (5, None, (2, 2.5), (True,), ("a",)):
        with pytest.raises(ArgumentTypeError, match="Received: input_shape="):
            check_shape("input_shape", bad)
    with pytest.raises(ValueError) as info:
        check_shape("input_shape", (0,))
    assert not isinstance(info.value, TypeError)  # right type, out of range


def test_path_accepts_str_and_pathlike(tmp_path):
    assert check_path("fname", "a.npz") == "a.npz"
    assert check_path("cache_dir", tmp_path) == tmp_path
    assert check_path("cache_dir", "", allow_empty=True) == ""
    assert check_path("cache_dir", None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"^Invalid value for argument `fname`: expected a "
                       r"non-empty path \(str or os\.PathLike\)\. Received: fname=''$"):
        check_path("fname", "")
    for bad in (None, 3, b"a.npz"):
        with pytest.raises(ArgumentTypeError, match="Received: fname="):
            check_path("fname", bad)


def test_refuse_argument_uses_the_one_message():
    with pytest.raises(ValueError, match=r"^PReLU: Invalid value for argument `shared_axes`: "
                       r"expected axes in \[1, 1\]\. Received: shared_axes=\[3\]$") as info:
        refuse_argument("shared_axes", [3], "axes in [1, 1]", owner="PReLU")
    assert not isinstance(info.value, TypeError)
    with pytest.raises(ArgumentTypeError, match="Received: layer=3"):
        refuse_argument("layer", 3, "a fastnn layer", wrong_type=True)


# ------------------------------------------------------------------ every constructor
def _row(cls, name, value, wrong_type, update=None, shown=None, **other):
    """A constructor call ``cls(name=value, **other)`` that must be refused: with an
    ArgumentTypeError when ``wrong_type``, else with a plain ValueError.  ``update``:
    ``(y_true, y_pred)`` for a metric whose argument is checked at ``update_state``;
    ``shown``: the value the message names when not ``value`` itself (the refused
    entry of a list)."""
    return pytest.param(cls, {name: value, **other}, name,
                        value if shown is None else shown, wrong_type, update,
                        id=f"{cls.__name__}-{name}={value!r}")


_SEEDED = sorted(name for name, cls in initializers._REGISTRY.items()
                 if "seed" in inspect.signature(cls.__init__).parameters)
_NAN = float("nan")

# One row per numeric (or shape) argument that a public constructor checks.
BAD_ARGUMENTS = [
    _row(layers.Dense, "units", 0, False),
    _row(layers.Dense, "units", "3", True),
    _row(layers.Dense, "input_dim", 0, False, units=2),
    _row(layers.Dense, "input_dim", 2.5, True, units=2),
    _row(layers.Dense, "input_shape", (3, 0), False, units=2),
    _row(layers.Maxout, "units", 0, False),
    _row(layers.Maxout, "num_pieces", 0, False, units=3),
    _row(layers.Maxout, "num_pieces", 1.5, True, units=3),
    _row(layers.LeakyReLU, "negative_slope", -0.1, False),
    _row(layers.LeakyReLU, "negative_slope", _NAN, False),
    _row(layers.LeakyReLU, "negative_slope", "a", True),
    _row(layers.PReLU, "shared_axes", 1.5, True),
    _row(layers.Dropout, "rate", 1.0, False),
    _row(layers.Dropout, "rate", -0.1, False),
    _row(layers.Dropout, "rate", None, True),
    _row(layers.Dropout, "seed", -1, False, rate=0.5),
    _row(layers.Dropout, "seed", 1.0, True, rate=0.5),
    _row(layers.Dropout, "noise_shape", (None, 0), False, rate=0.5),
    _row(layers.Reshape, "target_shape", (2, -1, -1), False),
    _row(layers.Reshape, "target_shape", 5, True),
    _row(layers.Concatenate, "axis", 1.0, True),
    _row(layers.Merge, "concat_axis", 1.0, True),
    _row(layers.Merge, "dot_axes", 2, False),
    _row(layers.BatchNormalization, "axis", "1", True),
    _row(layers.BatchNormalization, "momentum", 1.5, False),
    _row(layers.BatchNormalization, "momentum", True, True),
    _row(layers.BatchNormalization, "epsilon", 0, False),
    _row(layers.BatchNormalization, "epsilon", -1e-3, False),
    _row(layers.Conv2D, "filters", 0, False, kernel_size=3),
    _row(layers.Conv2D, "filters", "8", True, kernel_size=3),
    _row(layers.Conv2D, "kernel_size", 0, False, filters=2),
    _row(layers.Conv2D, "kernel_size", (3, 0), False, shown=0, filters=2),
    _row(layers.Conv2D, "kernel_size", (3, 3, 3), False, filters=2),
    _row(layers.Conv2D, "kernel_size", "3", True, filters=2),
    _row(layers.Conv2D, "strides", 0, False, filters=2, kernel_size=3),
    _row(layers.Conv2D, "strides", (1, -1), False, shown=-1, filters=2, kernel_size=3),
    _row(layers.Conv2D, "dilation_rate", 0, False, filters=2, kernel_size=3),
    _row(layers.Conv2D, "groups", 0, False, filters=2, kernel_size=3),
    _row(layers.Conv2D, "groups", 3, False, filters=4, kernel_size=3),
    _row(layers.Conv2D, "padding", "causal", False, filters=2, kernel_size=3),
    _row(layers.Conv2D, "padding", 1, True, filters=2, kernel_size=3),
    _row(layers.Conv2D, "data_format", "NHWC", False, filters=2, kernel_size=3),
    _row(layers.Conv1D, "filters", -1, False, kernel_size=3),
    _row(layers.Conv1D, "kernel_size", 0, False, filters=2),
    _row(layers.Conv1D, "strides", 0, False, filters=2, kernel_size=3),
    _row(layers.Conv1D, "dilation_rate", 1.5, True, filters=2, kernel_size=3),
    _row(layers.Conv1D, "groups", 0, False, filters=2, kernel_size=3),
    _row(layers.MaxPooling2D, "pool_size", 0, False),
    _row(layers.MaxPooling2D, "pool_size", (2, 0), False, shown=0),
    _row(layers.MaxPooling2D, "strides", 0, False),
    _row(layers.MaxPooling2D, "padding", "full", False),
    _row(layers.AveragePooling2D, "pool_size", -2, False),
    _row(layers.AveragePooling2D, "strides", (2, 2.5), True, shown=2.5),
    _row(layers.MaxPooling1D, "pool_size", 0, False),
    _row(layers.MaxPooling1D, "strides", 0, False),
    _row(layers.AveragePooling1D, "pool_size", (2, 2), False),
    _row(layers.AveragePooling1D, "strides", -1, False),
    _row(layers.GlobalAveragePooling2D, "keepdims", "yes", True),
    _row(layers.GlobalMaxPooling1D, "data_format", "channels_middle", False),
    _row(layers.ZeroPadding2D, "padding", -1, False),
    _row(layers.ZeroPadding2D, "padding", (1, 2, 3), False),
    _row(layers.ZeroPadding2D, "padding", ((1, 2), (0, -3)), False, shown=-3),
    _row(layers.SpatialDropout2D, "rate", 1.0, False),
    _row(layers.SpatialDropout2D, "seed", -1, False, rate=0.5),
    _row(layers.SpatialDropout2D, "data_format", "nchw", False, rate=0.5),
    _row(layers.Embedding, "input_dim", 0, False, output_dim=3),
    _row(layers.Embedding, "output_dim", -2, False, input_dim=3),
    _row(layers.Embedding, "output_dim", 2.0, True, input_dim=3),
    _row(layers.Embedding, "input_length", 0, False, input_dim=3, output_dim=2),
    *[_row(initializers._REGISTRY[name], "seed", -1, False) for name in _SEEDED],
    _row(initializers.RandomNormal, "seed", "1", True),
    _row(initializers.VarianceScaling, "scale", 0.0, False),
    _row(initializers.VarianceScaling, "scale", -1, False),
    _row(initializers.VarianceScaling, "scale", "big", True),
    _row(regularizers.L1, "l1", -0.1, False),
    _row(regularizers.L2, "l2", _NAN, False),
    _row(regularizers.L1L2, "l1", "a", True),
    _row(regularizers.L1L2, "l2", -1, False),
    _row(losses.BinaryCrossentropy, "label_smoothing", 1.5, False),
    _row(losses.CategoricalCrossentropy, "label_smoothing", "0.1", True),
    _row(losses.BinaryCrossentropy, "axis", 1, False),
    _row(losses.CategoricalCrossentropy, "axis", 0, False),
    _row(losses.SparseCategoricalCrossentropy, "axis", 1, False),
    _row(losses.SparseCategoricalCrossentropy, "ignore_class", 0, False),
    _row(losses.MeanSquaredError, "reduction", "avg", False),
    _row(metrics.AUC, "num_thresholds", 1, False),
    _row(metrics.AUC, "num_thresholds", 2.5, True),
    _row(metrics.AUC, "thresholds", [0.5, 2.0], False, shown=2.0),
    _row(metrics.Precision, "thresholds", 1.5, False),
    _row(metrics.Recall, "thresholds", [0.5, "a"], True, shown="a"),
    _row(metrics.Recall, "thresholds", np.array([0.5, -0.5]), False, shown=-0.5),
    _row(metrics.BinaryCrossentropy, "label_smoothing", 2, False,
         update=([[1.0]], [[0.5]])),
    _row(metrics.CategoricalCrossentropy, "label_smoothing", -1, False,
         update=([[1.0, 0.0]], [[0.5, 0.5]])),
]

# Numeric constructor arguments that fastnn converts with float() but does not check
# (Keras leaves them unchecked too).
UNCHECKED = {
    ("Constant", "value"), ("RandomNormal", "mean"), ("RandomNormal", "stddev"),
    ("RandomUniform", "minval"), ("RandomUniform", "maxval"),
    ("TruncatedNormal", "mean"), ("TruncatedNormal", "stddev"),
    ("BinaryAccuracy", "threshold"),
}


@pytest.mark.parametrize("cls, kwargs, name, shown, wrong_type, update", BAD_ARGUMENTS)
def test_every_constructor_refuses_with_the_one_message(cls, kwargs, name, shown,
                                                        wrong_type, update):
    with pytest.raises(ValueError) as info:
        obj = cls(**kwargs)
        if update is not None:
            obj.update_state(*update)
    message = str(info.value)
    assert re.fullmatch(
        rf"(\w+: )?Invalid value for argument `{name}`: expected .+\. "
        # a misspelt choice may end with the registries' " Did you mean 'x'?" hint
        rf"Received: {name}={re.escape(repr(shown))}( Did you mean '\w+'\?)?", message), message
    assert isinstance(info.value, ArgumentTypeError) == wrong_type, message


def test_the_table_covers_every_numeric_constructor_argument():
    """A numeric argument (one with a number as default, or a seed) added to a public
    class fails here until the table above has a bad-value row for it, or it is listed
    as unchecked."""
    registries = (layers.REGISTRY, initializers._REGISTRY, regularizers._REGISTRY,
                  losses._REGISTRY, metrics._REGISTRY)
    numeric = {
        (cls_name, p.name)
        for registry in registries
        for cls_name, cls in registry.items()
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name == "seed"
        or (isinstance(p.default, numbers.Real) and not isinstance(p.default, bool))
    }
    covered = {(row.values[0].__name__, row.values[2]) for row in BAD_ARGUMENTS}
    missing = numeric - covered - UNCHECKED
    assert not missing, f"numeric arguments without a bad-value row: {sorted(missing)}"


@pytest.mark.parametrize("call, name, value, wrong_type", [
    (lambda: fastnn.utils.set_random_seed(-1), "seed", -1, False),
    (lambda: fastnn.utils.set_random_seed(1.5), "seed", 1.5, True),
    (lambda: fastnn.config.set_floatx("float16"), "value", "float16", False),
    (lambda: Progbar(10, width=0), "width", 0, False),
    (lambda: Progbar(target=2.5), "target", 2.5, True),
    (lambda: Progbar(10, verbose=3), "verbose", 3, False),
    (lambda: digits.load_data(test_split=1.0), "test_split", 1.0, False),
    (lambda: digits.load_data(seed="1"), "seed", "1", True),
    (lambda: digits.citation("apa"), "style", "apa", False),
    (lambda: get_file("", origin="file:///x"), "fname", "", False),
    (lambda: get_file("x", origin=None), "origin", None, True),
    (lambda: get_file("x", origin="file:///x", file_hash="abc"), "file_hash", "abc", False),
    (lambda: get_file("x", origin="file:///x", cache_dir=3), "cache_dir", 3, True),
    (lambda: layers.Dense(2, name=3), "name", 3, True),
    (lambda: layers.Dense(2, dtype="float16"), "dtype", "float16", False),
    (lambda: fastnn.Sequential().add(3), "layer", 3, True),
], ids=lambda v: v if isinstance(v, str) else None)
def test_functions_refuse_with_the_one_message(call, name, value, wrong_type):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert re.fullmatch(rf"([\w.]+: )?Invalid value for argument `{name}`: expected .+\. "
                        rf"Received: {name}={re.escape(repr(value))}"
                        rf"( Did you mean '\w+'\?)?", message), message
    assert isinstance(info.value, ArgumentTypeError) == wrong_type, message
