"""pytest-benchmark suite: one training epoch per call, per contender and shape.

Kept out of the default run; run it from the repository root with

    pytest benchmarks --benchmark-only
    pytest benchmarks --benchmark-only --bench-threads 1 --benchmark-json out.json
    pytest benchmarks/test_bench_training.py --benchmark-only -k "wide"

Each group is one model at one batch size, so its table compares the contenders on the
same work: fastnn's native and NumPy backends, and PyTorch CPU eager, a hand-written
NumPy loop and scikit-learn's MLPClassifier when they can run (a missing one, or one
that cannot express the model, is skipped with the reason).  The models are
``fastnn.bench.seed_models()``, the ones ``fastnn bench`` measures.  ``extra_info``
carries the samples per call so samples/s can be computed from the JSON.  For ratios
measured interleaved in one run, with the spread and the fraction of FMA peak, use
``fastnn bench`` instead: pytest-benchmark runs one test after the other, so machine
drift between tests is not shared alike.
"""

import pytest

from fastnn import bench

CONTENDERS = list(bench.CONTENDERS)
BATCH_SIZES = [32, 128, 256]
STEPS = 8  # gradient steps per call: fit()'s fixed costs stay small, a call stays short

SHAPES = [(f"train {label} b{b}", key, b)
          for key, label, _ in bench.seed_models() for b in BATCH_SIZES]


def _scenario(key, batch_size):
    template = {k: sc for k, _, sc in bench.seed_models()}[key]
    return dict(template, name=f"{key} b{batch_size}", batch_size=batch_size,
                n_samples=batch_size * STEPS)


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0].replace(" ", "_") for s in SHAPES])
@pytest.mark.parametrize("contender", CONTENDERS)
def test_train_epoch(benchmark, bench_threads, contender, shape):
    group, key, batch_size = shape
    scenario = _scenario(key, batch_size)
    try:
        run = bench.training_runner(contender, scenario)
    except RuntimeError as exc:  # not installed, or cannot express this model
        pytest.skip(str(exc))
    run()  # warm-up outside the timer: buffers, optimizer state, thread pools
    benchmark.group = group
    benchmark.extra_info.update(samples=scenario["n_samples"], batch_size=batch_size,
                                threads=bench_threads["threads"],
                                blas_threads=bench_threads["blas"])
    benchmark(run)
