"""Benchmarks of fastnn against the libraries a user would otherwise reach for.

The measurement library behind ``fastnn bench`` and the scripts in ``benchmarks/``.  It
times, side by side and interleaved, the training and inference of one model by several
contenders (fastnn's two backends, PyTorch, a hand-written NumPy loop, scikit-learn), and
fastnn's native GEMM against NumPy's, in one process or (``fastnn bench``'s default)
each contender in its own worker process (``isolate``).  Only NumPy is required;
PyTorch, scikit-learn, threadpoolctl and matplotlib are used when importable.

Its modules, in the order a run uses them:

- ``scenarios``: the models, their sizes, data and FLOPs, and the GEMM shapes;
- ``contenders``: how each contender builds the model and runs it;
- ``threads``: one thread count for fastnn, PyTorch and NumPy's BLAS;
- ``timing``: interleaved rounds, settle pauses, medians and spreads;
- ``isolate``: one worker process per contender, driven in interleaved rounds;
- ``compare``: one measurement of every contender, as a plain dict;
- ``machine``: the CPU, its measured FMA peak, versions and thread settings;
- ``run``: ``fastnn bench``'s presets, plan and result;
- ``report`` and ``plot``: the terminal tables, Markdown, JSON and the chart.

Example:
    >>> from fastnn import bench
    >>> scenario = bench.mlp_scenario([784, 500, 500, 10], batch_size=128)
    >>> result = bench.benchmark_training(scenario, threads=2, repeats=5)
    >>> print(bench.format_training_table([result]))
"""

from .compare import (benchmark_gemm, benchmark_inference, benchmark_training, set_peak,
                      thread_scaling)
from .contenders import (CONTENDERS, DEFAULT_CONTENDERS, GEMM_CONTENDERS, contender_status,
                         contender_table, gemm_runner, inference_runner, training_runner)
from .machine import best_fma_peaks, machine_info, measure_fma_peak
from .plot import plot_chart
from .report import (SMOKE_NOTE, format_markdown, format_text, format_training_table,
                     progress_printer, report_tables, write_outputs)
from .run import PRESETS, SECTIONS, run_bench
from .scenarios import (SEED_MLP, forward_flops, gemm_shapes, inference_scenario,
                        mlp_scenario, mlp_training_flops, seed_models, wide_deep_scenario)
from .threads import scaling_thread_counts, thread_limits
from .isolate import WorkerPool, isolated_times
from .timing import interleaved_times, summarize

__all__ = [
    "CONTENDERS",
    "DEFAULT_CONTENDERS",
    "GEMM_CONTENDERS",
    "PRESETS",
    "SECTIONS",
    "SEED_MLP",
    "SMOKE_NOTE",
    "WorkerPool",
    "benchmark_gemm",
    "benchmark_inference",
    "benchmark_training",
    "best_fma_peaks",
    "contender_status",
    "contender_table",
    "format_markdown",
    "format_text",
    "format_training_table",
    "forward_flops",
    "gemm_runner",
    "gemm_shapes",
    "inference_runner",
    "inference_scenario",
    "interleaved_times",
    "isolated_times",
    "machine_info",
    "measure_fma_peak",
    "mlp_scenario",
    "mlp_training_flops",
    "plot_chart",
    "progress_printer",
    "report_tables",
    "run_bench",
    "scaling_thread_counts",
    "seed_models",
    "set_peak",
    "summarize",
    "thread_limits",
    "thread_scaling",
    "training_runner",
    "wide_deep_scenario",
    "write_outputs",
]
