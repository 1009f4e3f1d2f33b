"""FASTNN_DISTRIBUTED_REDUCTION: how a step's buffer is summed (no MPI needed)."""

import pytest

from fastnn import distributed


@pytest.mark.parametrize("value, local_size, expected", [
    (None, 2, "shared"), (None, 1, "allreduce"), ("auto", 4, "shared"),
    ("AUTO", 1, "allreduce"), ("shared", 1, "shared"), ("allreduce", 8, "allreduce"),
    ("", 2, "shared"),
])
def test_reduction_setting(monkeypatch, value, local_size, expected):
    if value is None:
        monkeypatch.delenv(distributed.REDUCTION_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(distributed.REDUCTION_VARIABLE, value)
    assert distributed._reduction_setting(local_size) == expected


def test_reduction_setting_refuses_unknown_values(monkeypatch):
    monkeypatch.setenv(distributed.REDUCTION_VARIABLE, "ring")
    with pytest.raises(ValueError, match=r"FASTNN_DISTRIBUTED_REDUCTION must be one of "
                                         r"\['auto', 'shared', 'allreduce'\]; received 'ring'"):
        distributed._reduction_setting(2)
