"""Huge layers: initializers never hold a float64 copy of a weight, and a weight that
does not fit in memory is refused with a MemoryError naming the layer and its size."""

import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn import initializers, layers

RANDOM = ["RandomNormal", "RandomUniform", "TruncatedNormal", "GlorotUniform",
          "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal"]


def test_dense_too_big_for_memory_names_layer_weight_shape_dtype_and_bytes():
    # 4e14 bytes (364 TiB): more than a 47-bit address space, so refused even where
    # the kernel overcommits memory without limit
    model = fastnn.Sequential()
    with pytest.raises(MemoryError) as info:
        model.add(layers.Dense(10**7, input_dim=10**7, name="huge"))
    message = str(info.value)
    assert "'huge'" in message and "'kernel'" in message
    assert "(10000000, 10000000)" in message and "float32" in message
    assert "400,000,000,000,000 bytes" in message  # the float32 size, not float64's twice
    assert isinstance(info.value.__cause__, MemoryError)
    assert model.layers[-1].weights == []  # nothing half-made is left on the layer


@pytest.mark.parametrize("name", RANDOM)
def test_float32_weights_peak_near_their_own_size(name):
    # 4 Mi values: 16 MiB as float32; drawing whole in float64 and casting took 48 MiB
    init = getattr(initializers, name)(seed=0)
    tracemalloc.start()
    try:
        value = init((2048, 2048), dtype="float32")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert value.dtype == np.float32
    assert peak < 1.5 * value.nbytes, (peak, value.nbytes)


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_are_those_of_one_whole_float64_draw(name, dtype):
    # the weights of a seed are what they were when initializers drew everything at
    # once in float64 and cast: here rebuilt from the generator itself, over several
    # chunks (700,000 values) so the chunk seams are covered
    shape = (700, 1000)
    init = getattr(initializers, name)(seed=11)
    got = init(shape, dtype=dtype)
    expected = _whole_float64_draw(init, shape).astype(dtype)
    np.testing.assert_array_equal(got, expected)


def _whole_float64_draw(init, shape):
    """The values the pre-chunking initializers made (one float64 draw, then redraws)."""
    rng = np.random.default_rng(init.seed)
    if isinstance(init, initializers.RandomNormal):
        return rng.normal(init.mean, init.stddev, shape)
    if isinstance(init, initializers.RandomUniform):
        return rng.uniform(init.minval, init.maxval, shape)
    if isinstance(init, initializers.TruncatedNormal):
        return init.mean + _truncated(rng, init.stddev, shape)
    fan_in, fan_out = shape
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[init.mode]
    variance = init.scale / n
    if init.distribution == "uniform":
        limit = np.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)
    return _truncated(rng, np.sqrt(variance) / 0.87962566103423978, shape)


def _truncated(rng, std, shape):
    values = rng.normal(0.0, std, shape)
    bad = np.abs(values) > 2 * std
    while bad.any():
        values[bad] = rng.normal(0.0, std, int(bad.sum()))
        bad = np.abs(values) > 2 * std
    return values
