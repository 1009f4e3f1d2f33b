"""pytest-benchmark suite: inference samples/s per contender, model and batch size.

Kept out of the default run; run it from the repository root with

    pytest benchmarks/test_bench_inference.py --benchmark-only [--bench-threads 2]
        [--benchmark-json out.json]

Each call predicts ``SAMPLES`` (at least one batch) synthetic samples, one call of the
contender per batch, as a server answering requests of that size would
(``fastnn.bench.inference_runner``).  Each group is one model at one batch size,
so its table compares the contenders on the same work.  ``extra_info`` carries the
samples per call.
"""

import pytest

from fastnn import bench

CONTENDERS = list(bench.CONTENDERS)
BATCH_SIZES = [1, 32, 1024]
SAMPLES = 256

SHAPES = [(f"infer {label} b{b}", key, b)
          for key, label, _ in bench.seed_models() for b in BATCH_SIZES]


@pytest.mark.parametrize("shape", SHAPES, ids=[s[0].replace(" ", "_") for s in SHAPES])
@pytest.mark.parametrize("contender", CONTENDERS)
def test_predict(benchmark, bench_threads, contender, shape):
    group, key, batch_size = shape
    template = {k: sc for k, _, sc in bench.seed_models()}[key]
    scenario = bench.inference_scenario(template, batch_size,
                                        n_samples=max(batch_size, SAMPLES))
    try:
        run = bench.inference_runner(contender, scenario)
    except RuntimeError as exc:  # not installed, or cannot express this model
        pytest.skip(str(exc))
    run()  # warm-up outside the timer
    benchmark.group = group
    benchmark.extra_info.update(samples=scenario["n_samples"], batch_size=batch_size,
                                threads=bench_threads["threads"],
                                blas_threads=bench_threads["blas"])
    benchmark(run)
