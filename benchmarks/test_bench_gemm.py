"""pytest-benchmark suite: one matrix product per call, fastnn native against NumPy.

Kept out of the default run; run it from the repository root with

    pytest benchmarks/test_bench_gemm.py --benchmark-only [--bench-threads 2]
        [--benchmark-json out.json]

Each group is one product shape (``fastnn.bench.gemm_shapes``: squares and the
three products of each Dense layer of the 784-500-500-10 MLP at batch 32, 128 and 256),
so its table compares ``fastnn-native`` (the native backend's ``matmul``) with
``fastnn-numpy`` (``numpy.matmul``) on the same operands.  ``extra_info`` carries the
flop count, so GFLOP/s = flops / mean seconds / 1e9.
"""

import pytest

from fastnn import bench

SHAPES = bench.gemm_shapes()


@pytest.mark.parametrize("shape", SHAPES, ids=[s["name"].replace(" ", "_") for s in SHAPES])
@pytest.mark.parametrize("contender", bench.GEMM_CONTENDERS)
def test_matmul(benchmark, bench_threads, contender, shape):
    try:
        run = bench.gemm_runner(contender, shape, dtype="float32")
    except RuntimeError as exc:  # the native extension is not built
        pytest.skip(str(exc))
    run()  # warm-up: packing buffers, BLAS threads
    benchmark.group = f"gemm {shape['name']} ({shape['m']}x{shape['n']}x{shape['k']})"
    benchmark.extra_info.update(flops=2 * shape["m"] * shape["n"] * shape["k"],
                                threads=bench_threads["threads"],
                                blas_threads=bench_threads["blas"])
    benchmark(run)
