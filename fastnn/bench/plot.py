"""The chart of a benchmark run: training, inference, GEMM and thread scaling in one PNG.

matplotlib is an optional extra (``pip install 'fastnn[plot]'``); without it the chart
is skipped with the reason.
"""

from . import optional
from .contenders import GEMM_CONTENDERS
from .run import contenders_that_ran


def plot_chart(doc, path):
    """Draw the results as a PNG: training, inference, GEMM and thread scaling.

    matplotlib is an optional extra (``pip install 'fastnn[plot]'``).

    Args:
        doc: A result of ``run_bench``.
        path: Where to write the PNG.

    Returns:
        ``(path, "")`` when written, ``(None, reason)`` when matplotlib is missing.
    """
    figure = optional.load("matplotlib.figure")
    if figure is None:
        return None, "matplotlib is not installed (pip install 'fastnn[plot]'): chart skipped"

    names = contenders_that_ran(doc)
    panels = [(k, t) for k, t in (("training", "Training samples/s"),
                                  ("inference", "Inference samples/s"),
                                  ("gemm", "GEMM GFLOP/s (float32)"),
                                  ("scaling", "Thread scaling (speedup vs 1 thread)"))
              if (doc[k]["training"] or doc[k]["gemm"] if k == "scaling" else doc[k])]
    if not panels:
        return None, "nothing was measured: chart skipped"
    cols = 2 if len(panels) > 1 else 1
    rows = -(-len(panels) // cols)
    # A standalone Figure draws with the Agg canvas: no window, and no change to the
    # pyplot backend of a process (a notebook) that calls run_bench.
    fig = figure.Figure(figsize=(7.5 * cols, 5.5 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (kind, title) in zip(axes.flat, panels):
        if kind == "scaling":
            _plot_scaling(ax, doc)
        elif kind == "gemm":
            labels = [r["shape"]["name"] for r in doc["gemm"]]
            _plot_bars(ax, labels, [n for n in names if n in GEMM_CONTENDERS],
                       [r["results"] for r in doc["gemm"]], "gflops")
        else:
            labels = [f"{r['scenario'].get('label', r['scenario']['name'])} "
                      f"b{r['scenario']['batch_size']}" for r in doc[kind]]
            _plot_bars(ax, labels, names, [r["results"] for r in doc[kind]], "samples_per_s")
        ax.set_title(title)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    m = doc["machine"]
    fig.suptitle(f"fastnn bench: {m['cpu_model']}, {doc['settings']['threads']} thread(s), "
                 f"kernel {m['simd_kernel']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path, ""


def _plot_bars(ax, labels, names, results, metric):
    """Horizontal grouped bars (one group per row, one bar per contender), log scale."""
    height = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [r.get(name, {}).get(metric, {}).get("median", 0)
                  if r.get(name, {}).get("status") == "ok" else 0 for r in results]
        ax.barh([j + i * height for j in range(len(labels))], values, height=height,
                label=name)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(labels))])
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7)


def _plot_scaling(ax, doc):
    counts = doc["settings"]["scaling_thread_counts"]
    for kind, table in doc["scaling"]["speedup"].items():
        for name, by_threads in table.items():
            ts = sorted(int(t) for t in by_threads)
            ax.plot(ts, [by_threads[str(t)] for t in ts], marker="o",
                    label=f"{'train' if kind == 'training' else 'GEMM'} {name}")
    ax.plot(counts, counts, linestyle="--", color="grey", label="ideal")
    ax.set_xlabel("threads")
    ax.set_xticks(counts)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
