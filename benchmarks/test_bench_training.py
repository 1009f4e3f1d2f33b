"""pytest-benchmark suite: one training epoch per call, per contender and shape.

Kept out of the default run; run it from the repository root with

    pytest benchmarks --benchmark-only
    pytest benchmarks --benchmark-only --bench-threads 1 --benchmark-json out.json

Each group is one shape, so its table compares the contenders on the same work: fastnn's
native and NumPy backends, and PyTorch CPU eager and a hand-written NumPy loop when they
can run (a missing one is skipped with the reason).  ``extra_info`` carries the samples
per call so samples/s can be computed from the JSON.  For ratios measured interleaved
in one run, with the spread and the fraction of FMA peak, use
``python benchmarks/bench_training.py`` instead: pytest-benchmark runs one test after the
other, so machine drift between tests is not shared alike.
"""

import pytest

from fastnn import benchmarking

CONTENDERS = ["fastnn-native", "fastnn-numpy", "torch", "numpy-handwritten"]

# (group, layers, output, batch size, samples per call): a few batches per call keeps
# fit()'s fixed costs small beside the steps while a call stays well under a second.
SHAPES = [
    ("mlp 784-500-500-10 b128", [784, 500, 500, 10], "softmax", 128, 1024),
    ("mlp 784-500-500-10 b256", [784, 500, 500, 10], "softmax", 256, 2048),
    ("tabular 100-32-8-1 b32", [100, 32, 8, 1], "sigmoid", 32, 2048),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0].replace(" ", "_") for s in SHAPES])
@pytest.mark.parametrize("contender", CONTENDERS)
def test_train_epoch(benchmark, bench_threads, contender, shape):
    group, layers, output, batch_size, n_samples = shape
    ok, reason = benchmarking.contender_status(contender)
    if not ok:
        pytest.skip(reason)
    scenario = benchmarking.mlp_scenario(layers, output=output, batch_size=batch_size,
                                         n_samples=n_samples)
    run = benchmarking.training_runner(contender, scenario)
    run()  # warm-up outside the timer: buffers, optimizer state, thread pools
    benchmark.group = group
    benchmark.extra_info.update(samples=n_samples, batch_size=batch_size,
                                threads=bench_threads["threads"],
                                blas_threads=bench_threads["blas"])
    benchmark(run)
