"""The argument checks every public constructor uses (fastnn.utils.validation)."""

import numpy as np
import pytest

from fastnn.utils.validation import (
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_str,
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
