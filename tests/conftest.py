"""Shared fixtures: every API test runs on each available backend."""

import numpy as np
import pytest

import fastnn
from fastnn import backend
from numthreads import num_threads

BACKENDS = ["numpy"] + (["native"] if backend.native_available() else [])


@pytest.fixture(params=BACKENDS)
def ops_backend(request):
    """Run the test once per backend, restoring the previous one afterwards."""
    with backend.using(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _float32_default():
    """Tests that switch floatx to float64 must not leak it into other tests."""
    before = fastnn.config.floatx()
    yield
    fastnn.config.set_floatx(before)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def nthreads(request):
    """Run the test once on one kernel thread and once on two."""
    with num_threads(request.param):
        yield request.param
