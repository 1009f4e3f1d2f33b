"""``fastnn bench``: the whole comparison in one run, and its reports.

``run_bench`` measures, in one process and with the contenders interleaved (see
``fastnn.benchmarking``):

- GEMM GFLOP/s of fastnn's native ``matmul`` against the NumPy backend's
  (``numpy.matmul``) over square products and the products of the seeds' MLP;
- training samples/s of the seeds' models at batch sizes 32, 128 and 256;
- inference samples/s of the same models at batch sizes 1, 32 and 1024;
- thread scaling from 1 thread to every usable core (the 784-500-500-10 MLP at batch
  256, and a square GEMM);
- the CPU's FMA peak at every thread count used, so results can be read as a fraction
  of what the cores can do.

The result is one plain dict (written as JSON).  ``format_text``, ``format_markdown``
and ``plot_chart`` turn it into the terminal table, the Markdown report and a PNG chart;
all three render the same tables from ``report_tables``.  ``docs/benchmarks.md``
documents the keys and how to read the report.
"""

import datetime
import json
import os
import time

from . import benchmarking as B

#: Sections of a run, in the order they are measured and reported.
SECTIONS = ("gemm", "training", "inference", "scaling")

#: How much each run measures.  ``train_samples``: samples in one run, one epoch of
#: ``fit`` (at least two batches); ``infer_samples``: samples predicted in one run, one
#: call per batch (at least one batch).  Kept small so that the slowest contender's run
#: stays short on the big MLPs; ``min_seconds``: least duration of a timed sample, fast contenders
#: repeat their run up to it (the untimed run that measures this is also a warm-up, so
#: the short presets add none); ``peak_size``: side of the FMA-peak proxy matmul.
PRESETS = {
    "full": {"repeats": 5, "warmup": 1, "train_samples": 1024, "infer_samples": 256,
             "min_seconds": 0.25, "gemm_squares": (512, 1024, 2048),
             "gemm_batches": (32, 128, 256), "gemm_min_seconds": 0.05,
             "train_batches": (32, 128, 256), "infer_batches": (1, 32, 1024),
             "peak_size": 2048, "scaling_square": 1024, "settle_seconds": 0.2},
    "quick": {"repeats": 3, "warmup": 0, "train_samples": 256, "infer_samples": 64,
              "min_seconds": 0.04, "gemm_squares": (256, 512), "gemm_batches": (128,),
              "gemm_min_seconds": 0.01, "train_batches": (32, 128, 256),
              "infer_batches": (1, 32, 1024), "peak_size": 1024, "scaling_square": 512,
              # a shorter settle keeps --quick under a minute; its numbers are rougher
              "settle_seconds": 0.05},
    # For tests and for checking an installation: seconds long, numbers meaningless.
    "smoke": {"repeats": 1, "warmup": 0, "train_samples": 64, "infer_samples": 32,
              "min_seconds": None, "gemm_squares": (64,), "gemm_batches": (32,),
              "gemm_min_seconds": 0.0, "train_batches": (32,), "infer_batches": (1, 32),
              "peak_size": 256, "scaling_square": 64, "settle_seconds": 0.0},
}


def models():
    """The seeds' models, as scenario templates (batch size and samples set per run).

    Returns:
        A list of ``(key, label, scenario)``: the 784-500-500-10 relu MLP with Adam
        (the issue's reference), seed 001's 10-500-500-10 sigmoid MLP, seed 000's
        Wide&Deep model and the 100-32-8-1 tabular net.
    """
    return [
        ("mlp784", "784-500-500-10 relu",
         B.mlp_scenario([784, 500, 500, 10], "relu", "softmax")),
        ("seed001", "10-500-500-10 sigmoid",
         B.mlp_scenario([10, 500, 500, 10], "sigmoid", "softmax")),
        ("wide_deep", "wide&deep 2x100",
         B.wide_deep_scenario(input_dim=100)),
        ("tabular", "tabular 100-32-8-1",
         B.mlp_scenario([100, 32, 8, 1], "relu", "sigmoid")),
    ]


def _scenario(template, label, key, batch_size, n_samples):
    return dict(template, name=f"{label} b{batch_size}", label=label, key=key,
                batch_size=batch_size, n_samples=n_samples)


def _plan(preset, sections, contenders, threads, thread_counts):
    """Every measurement of a run as ``(section, description, function)``, in order.

    Listed before anything runs so the progress indicator can say "step i of n".
    """
    p = PRESETS[preset]
    plan = []
    if "gemm" in sections and set(contenders) & set(B.GEMM_CONTENDERS):
        for shape in B.gemm_shapes(p["gemm_squares"], batch_sizes=p["gemm_batches"]):
            plan.append(("gemm", f"GEMM {shape['name']}", {"shape": shape, "threads": threads}))
    for section, batches in (("training", p["train_batches"]),
                             ("inference", p["infer_batches"])):
        if section not in sections:
            continue
        for key, label, template in models():
            for b in batches:
                if section == "training":
                    sc = _scenario(template, label, key, b, max(2 * b, p["train_samples"]))
                else:
                    sc = B.inference_scenario(
                        _scenario(template, label, key, b, max(b, p["infer_samples"])), b)
                plan.append((section, f"{section} {sc['name']}",
                             {"scenario": sc, "threads": threads}))
    if "scaling" in sections:
        key, label, template = models()[0]
        for t in thread_counts:
            sc = _scenario(template, label, key, 256, max(2 * 256, p["train_samples"]))
            plan.append(("scaling", f"scaling training {sc['name']} {t}t",
                         {"scenario": sc, "threads": t}))
        square = p["scaling_square"]
        shape = B.gemm_shapes((square,), batch_sizes=())[0]
        for t in thread_counts if set(contenders) & set(B.GEMM_CONTENDERS) else ():
            plan.append(("scaling", f"scaling GEMM {shape['name']} {t}t",
                         {"shape": shape, "threads": t}))
    return plan


def contender_table(names):
    """Which contenders run here, with the reason for each one that does not.

    Args:
        names: Contender names.

    Returns:
        Dict name -> ``{"status": "ok" | "skipped", "reason", "version"}``.
    """
    from . import __version__

    dists = {"torch": "torch", "sklearn": "scikit-learn", "numpy-handwritten": "numpy"}
    out = {}
    for name in names:
        ok, reason = B.contender_status(name)
        version = __version__ if name.startswith("fastnn") else B._version(dists[name])
        out[name] = {"status": "ok" if ok else "skipped", "reason": reason,
                     "version": version if ok else None}
    return out


def run_bench(preset="full", contenders=None, threads=None, sections=SECTIONS, repeats=None,
              seed=0, progress=None, command=None):
    """Run the comparison and return every measurement as one plain dict.

    Args:
        preset: ``"full"`` (under ten minutes on two cores), ``"quick"`` (under a
            minute) or ``"smoke"`` (seconds; checks that everything runs).
        contenders: Names from ``fastnn.benchmarking.CONTENDERS``; defaults to all of
            them (a missing one is recorded as skipped with the reason).
        threads: Threads for the GEMM, training and inference sections; defaults to
            ``fastnn.get_num_threads()``.  Thread scaling goes from 1 to
            ``max(threads, usable cores)``.
        sections: Which of ``SECTIONS`` to run.
        repeats: Timed rounds; defaults to the preset's.
        seed: Seeds data and initialisation.
        progress: Optional callable taking one status string.
        command: The command line, recorded in the result.

    Returns:
        The result dict; see ``docs/benchmarks.md`` for its keys.

    Raises:
        ValueError: For an unknown preset, section or contender.
    """
    from .threads import get_num_threads, usable_cores

    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}. Received: {preset!r}")
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"Unknown sections {unknown}; expected some of {SECTIONS}")
    names = list(B.CONTENDERS if contenders is None else contenders)
    status = contender_table(names)  # raises on an unknown name before any work
    p = dict(PRESETS[preset])
    if repeats is not None:
        p["repeats"] = int(repeats)
    threads = get_num_threads() if threads is None else int(threads)
    thread_counts = B.scaling_thread_counts(max(threads, usable_cores()))
    sections = [s for s in SECTIONS if s in sections]
    progress = progress or (lambda msg: None)
    started = time.perf_counter()
    plan = _plan(preset, sections, names, threads, thread_counts)
    peak_threads = sorted({threads} | (set(thread_counts) if "scaling" in sections else set()))

    def say(step, msg):
        elapsed = time.perf_counter() - started
        progress(f"[{step}/{len(plan)} {elapsed:4.0f}s] {msg}")

    say(0, "FMA peak at " + ", ".join(f"{t}" for t in peak_threads) + " thread(s)")
    peaks = B.best_fma_peaks(peak_threads, size=p["peak_size"])
    doc = {
        "format": "fastnn-bench", "format_version": 1,
        "command": command, "preset": preset,
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {
            "threads": threads, "scaling_thread_counts": thread_counts,
            "repeats": p["repeats"], "warmup": p["warmup"],
            "min_seconds_per_sample": p["min_seconds"], "sections": sections,
            "contenders": names, "training_batch_sizes": list(p["train_batches"]),
            "inference_batch_sizes": list(p["infer_batches"]), "gemm_dtype": "float32",
            "seed": seed,
        },
        "machine": None, "contenders": status, "fma_peak": None,
        "gemm": [], "training": [], "inference": [],
        "scaling": {"training": [], "gemm": [], "speedup": {}},
        "notes": [], "elapsed_s": None, "outputs": {},
    }
    gemm_names = [n for n in names if n in B.GEMM_CONTENDERS]
    # the preset's pause before each timed run (see benchmarking.SETTLE_SECONDS)
    settle_before, B.SETTLE_SECONDS = B.SETTLE_SECONDS, p["settle_seconds"]
    try:
        for step, (section, label, job) in enumerate(plan, 1):
            def show(msg, step=step, label=label):
                say(step, f"{label}: {msg}")

            t = job["threads"]
            common = dict(repeats=p["repeats"], warmup=p["warmup"], threads=t, progress=show,
                          peak_gflops=peaks[t]["gflops"])
            if "shape" in job:
                res = B.benchmark_gemm(job["shape"], contenders=gemm_names,
                                       min_seconds=p["gemm_min_seconds"], **common)
                (doc["scaling"]["gemm"] if section == "scaling" else doc["gemm"]).append(res)
            elif section == "inference":
                doc["inference"].append(B.benchmark_inference(
                    job["scenario"], contenders=names, seed=seed, min_seconds=p["min_seconds"],
                    **common))
            else:
                res = B.benchmark_training(job["scenario"], contenders=names, seed=seed,
                                           min_seconds=p["min_seconds"], **common)
                (doc["scaling"]["training"] if section == "scaling" else doc["training"]).append(res)
    finally:
        B.SETTLE_SECONDS = settle_before
    say(len(plan), "FMA peak again (the best of two is kept)")
    peaks = B.best_fma_peaks(peak_threads, size=p["peak_size"], previous=peaks)
    _apply_peaks(doc, peaks)
    doc["fma_peak"] = {str(t): peak for t, peak in peaks.items()}
    doc["scaling"]["speedup"] = _speedups(doc["scaling"])
    # Read after the runs, so torch's thread count is known when torch was imported.
    doc["machine"] = B.machine_info()
    doc["notes"] = _notes(doc)
    doc["elapsed_s"] = time.perf_counter() - started
    return doc


def _apply_peaks(doc, peaks):
    """Recompute every fraction of peak against the final (best-of-two) peaks."""
    for res in doc["training"] + doc["inference"] + doc["scaling"]["training"]:
        B.set_peak(res, peaks[res["threads"]]["gflops"])
    for res in doc["gemm"] + doc["scaling"]["gemm"]:
        peak = peaks[res["threads"]]["gflops"]
        res["peak_gflops"] = peak
        for entry in res["results"].values():
            if entry.get("status") == "ok":
                entry["fraction_of_peak"] = entry["gflops"]["median"] / peak if peak else None


def _speedups(scaling):
    """Speedup over one thread, by section and contender, at every thread count."""
    out = {}
    for kind, metric in (("training", "samples_per_s"), ("gemm", "gflops")):
        runs = scaling[kind]
        base = next((r for r in runs if r["threads"] == 1), None)
        if base is None:
            continue
        table = {}
        for name, first in base["results"].items():
            if first.get("status") != "ok":
                continue
            table[name] = {str(r["threads"]): (r["results"][name][metric]["median"]
                                               / first[metric]["median"])
                           for r in runs if r["results"].get(name, {}).get("status") == "ok"}
        out[kind] = table
    return out


def _notes(doc):
    notes = []
    peak = next(iter(doc["fma_peak"].values()), None) if doc["fma_peak"] else None
    if peak and peak["method"] != "native-fma-loop":
        notes.append("FMA peak: " + peak["note"] + "; the native FMA-loop kernel "
                     "(fastnn._native fma_peak_gflops) was not found in this build.")
    over = any((e.get("fraction_of_peak") or 0) > 1
               for r in doc["training"] + doc["inference"] + doc["gemm"]
               for e in r["results"].values())
    if over:
        notes.append("A fraction of peak above 100% means the peak was measured while the "
                     "machine was busy: read '% peak' in this run as unreliable.")
    if doc["machine"]["blas_thread_control"] == "uncontrolled":
        notes.append("NumPy's BLAS thread count could not be controlled (install "
                     "threadpoolctl): the NumPy contenders used their default.")
    return notes


# --------------------------------------------------------------------------- tables
def _fmt_rate(entry, key):
    """A median with its spread, or why there is none."""
    if entry is None:
        return "-"
    if entry.get("status") == "skipped":
        return "n/a"
    if entry.get("status") == "error":
        return "error"
    s = entry[key]
    value = f"{s['median']:,.0f}" if s["median"] >= 100 else f"{s['median']:.1f}"
    return f"{value} ±{100 * s['spread']:.0f}%"


def _fmt_ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def _fmt_pct(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def _ran(doc, names):
    """Contenders that ran here (skipped-everywhere ones get a note, not a column)."""
    return [n for n in names if doc["contenders"].get(n, {}).get("status") == "ok"]


def report_tables(doc):
    """The report as tables, shared by the terminal, Markdown and chart outputs.

    Args:
        doc: A result of ``run_bench``.

    Returns:
        A list of dicts: ``title``, ``header`` (column names), ``rows`` (lists of
        strings), ``align`` (``"l"``/``"r"`` per column) and ``notes`` (strings).
    """
    tables = []
    names = _ran(doc, doc["settings"]["contenders"])
    native = "fastnn-native" in names
    gemm_names = [n for n in names if n in B.GEMM_CONTENDERS]
    if doc["gemm"]:
        header = ["shape", "m x n x k"] + [f"{n} GFLOP/s" for n in gemm_names]
        if native and "fastnn-numpy" in gemm_names:
            header += ["native/numpy"]
        if native:
            header += ["native % peak"]
        rows = []
        for res in doc["gemm"]:
            sh, r = res["shape"], res["results"]
            row = [sh["name"], f"{sh['m']}x{sh['n']}x{sh['k']}"]
            row += [_fmt_rate(r.get(n), "gflops") for n in gemm_names]
            nat = r.get("fastnn-native", {})
            if native and "fastnn-numpy" in gemm_names:
                row.append(_fmt_ratio(nat.get("vs_fastnn_numpy")))
            if native:
                row.append(_fmt_pct(nat.get("fraction_of_peak")))
            rows.append(row)
        tables.append({"title": f"GEMM, float32, {doc['settings']['threads']} thread(s)",
                       "header": header, "rows": rows,
                       "align": ["l", "r"] + ["r"] * (len(header) - 2),
                       "notes": ["fastnn-numpy's matmul is numpy.matmul (NumPy's BLAS)."]})
    for section, title in (("training", "Training"), ("inference", "Inference")):
        if doc[section]:
            tables.append(_rate_table(doc, doc[section], names, native,
                                      f"{title}, samples/s, "
                                      f"{doc['settings']['threads']} thread(s)"))
    if doc["scaling"]["training"] or doc["scaling"]["gemm"]:
        tables.append(_scaling_table(doc, names, gemm_names))
    return tables


def _rate_table(doc, results, names, native, title):
    header = ["model", "batch"] + names
    ratios = [("vs_fastnn_numpy", "native/numpy-be", "fastnn-numpy"),
              ("vs_torch", "native/torch", "torch")]
    ratios = [r for r in ratios if native and r[2] in names]
    header += [r[1] for r in ratios] + (["native % peak"] if native else [])
    rows, notes = [], []
    for res in results:
        sc, r = res["scenario"], res["results"]
        row = [sc.get("label", sc["name"]), str(sc["batch_size"])]
        row += [_fmt_rate(r.get(n), "samples_per_s") for n in names]
        nat = r.get("fastnn-native", {})
        row += [_fmt_ratio(nat.get(key)) for key, _, _ in ratios]
        if native:
            row.append(_fmt_pct(nat.get("fraction_of_peak")))
        rows.append(row)
        for n in names:
            entry = r.get(n, {})
            if entry.get("status") in ("skipped", "error"):
                note = f"{n} on {sc.get('label', sc['name'])}: {entry['status']}: " \
                       f"{entry['reason']}"
                if entry["status"] == "skipped":
                    note = f"{n} on {sc.get('label', sc['name'])}: n/a, {entry['reason']}"
                if note not in notes:
                    notes.append(note)
    return {"title": title, "header": header, "rows": rows,
            "align": ["l", "r"] + ["r"] * (len(header) - 2), "notes": notes}


def _scaling_table(doc, names, gemm_names):
    sc = doc["scaling"]
    header = ["benchmark", "threads"] + names
    rows = []
    for kind, runs, metric, cols in (("training", sc["training"], "samples_per_s", names),
                                     ("gemm", sc["gemm"], "gflops", gemm_names)):
        speed = sc["speedup"].get(kind, {})
        for res in runs:
            label = (f"train {res['scenario']['name']}" if kind == "training"
                     else f"GEMM {res['shape']['name']} GFLOP/s")
            row = [label, str(res["threads"])]
            for n in names:
                entry = res["results"].get(n) if n in cols else None
                cell = _fmt_rate(entry, metric)
                ratio = speed.get(n, {}).get(str(res["threads"]))
                if entry is not None and entry.get("status") == "ok" and ratio is not None:
                    cell += f" ({ratio:.2f}x)"
                row.append(cell)
            rows.append(row)
    return {"title": "Thread scaling (speedup over 1 thread in parentheses)",
            "header": header, "rows": rows, "align": ["l", "r"] + ["r"] * len(names),
            "notes": []}


def _summary_lines(doc):
    m = doc["machine"]
    s = doc["settings"]
    lines = [f"CPU: {m['cpu_model']}, {m['usable_cores']} usable of {m['logical_cores']} "
             f"logical cores, flags {', '.join(m['cpu_flags'] or [])}",
             f"fastnn {m['versions']['fastnn']}: SIMD kernel {m['simd_kernel']}, "
             f"OpenMP {m['thread_settings']['fastnn_openmp']}; NumPy {m['versions']['numpy']}"
             f" (BLAS threads: {m['blas_thread_control']}); PyTorch "
             f"{m['versions']['torch'] or 'not installed'}; scikit-learn "
             f"{m['versions']['scikit-learn'] or 'not installed'}",
             f"threads {s['threads']}; medians of {s['repeats']} interleaved rounds after "
             f"{s['warmup']} warm-up; ±: spread (max-min)/median"]
    ts = m["thread_settings"]
    env = ", ".join(f"{k}={v}" for k, v in ts["environment"].items() if v is not None)
    lines.append(f"thread settings: fastnn {ts['fastnn_num_threads']}, torch "
                 f"{ts['torch_num_threads'] or '-'} (outside the runs; each run sets every "
                 f"library to its thread count); environment: {env or 'nothing set'}")
    for t, peak in doc["fma_peak"].items():
        lines.append(f"FMA peak, {t} thread(s): {peak['gflops']:.1f} GFLOP/s ({peak['method']})")
    for name, st in doc["contenders"].items():
        if st["status"] != "ok":
            lines.append(f"skipped: {name}: {st['reason']}")
    return lines


def format_text(doc):
    """The terminal report: a summary, then every table with aligned columns."""
    out = _summary_lines(doc) + [""]
    for table in report_tables(doc):
        widths = [max(len(str(c)) for c in col) for col in zip(table["header"], *table["rows"])]

        def line(cells, table=table, widths=widths):
            return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                             for c, w, a in zip(cells, widths, table["align"])).rstrip()

        out += [table["title"], line(table["header"]),
                line(["-" * w for w in widths])]
        out += [line(row) for row in table["rows"]]
        out += [f"  note: {n}" for n in table["notes"]] + [""]
    out += [f"note: {n}" for n in doc["notes"]]
    if doc.get("elapsed_s") is not None:
        out.append(f"{doc['elapsed_s']:.0f} s in all")
    return "\n".join(out).rstrip() + "\n"


def format_markdown(doc):
    """The Markdown report: how it was measured, the machine, the tables, the notes."""
    out = ["# fastnn bench", ""]
    if doc.get("command"):
        out += [f"Command: `{doc['command']}` (preset `{doc['preset']}`), "
                f"{doc['started_at']}, {doc['elapsed_s']:.0f} s.", ""]
    out += [f"- {line}" for line in _summary_lines(doc)] + [""]
    chart = doc.get("outputs", {}).get("chart")
    if chart:
        out += [f"![fastnn bench chart]({os.path.basename(chart)})", ""]
    for table in report_tables(doc):
        sep = ["---:" if a == "r" else "---" for a in table["align"]]
        out += [f"## {table['title']}", "",
                "| " + " | ".join(table["header"]) + " |",
                "| " + " | ".join(sep) + " |"]
        out += ["| " + " | ".join(row) + " |" for row in table["rows"]]
        out += [""] + [f"- {n}" for n in table["notes"]] + ([""] if table["notes"] else [])
    if doc["notes"]:
        out += ["## Notes", ""] + [f"- {n}" for n in doc["notes"]] + [""]
    out += ["Samples/s and GFLOP/s are medians over the rounds; ± is (max-min)/median. "
            "native/numpy-be and native/torch divide fastnn-native's median by the NumPy "
            "backend's and PyTorch's; % peak divides the GFLOP/s of the matrix products by "
            "the measured FMA peak at the same thread count. See docs/benchmarks.md.", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- chart
def plot_chart(doc, path):
    """Draw the results as a PNG: training, inference, GEMM and thread scaling.

    matplotlib is an optional extra (``pip install 'fastnn[plot]'``).

    Args:
        doc: A result of ``run_bench``.
        path: Where to write the PNG.

    Returns:
        ``(path, "")`` when written, ``(None, reason)`` when matplotlib is missing.
    """
    matplotlib = B._optional_import("matplotlib")
    if matplotlib is None:
        return None, "matplotlib is not installed (pip install 'fastnn[plot]'): chart skipped"
    matplotlib.use("Agg")  # no display needed, and never a window from a CLI
    import matplotlib.pyplot as plt

    names = _ran(doc, doc["settings"]["contenders"])
    panels = [(k, t) for k, t in (("training", "Training samples/s"),
                                  ("inference", "Inference samples/s"),
                                  ("gemm", "GEMM GFLOP/s (float32)"),
                                  ("scaling", "Thread scaling (speedup vs 1 thread)"))
              if (doc[k]["training"] or doc[k]["gemm"] if k == "scaling" else doc[k])]
    if not panels:
        return None, "nothing was measured: chart skipped"
    cols = 2 if len(panels) > 1 else 1
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 5.5 * rows), squeeze=False)
    for ax, (kind, title) in zip(axes.flat, panels):
        if kind == "scaling":
            _plot_scaling(ax, doc)
        elif kind == "gemm":
            labels = [r["shape"]["name"] for r in doc["gemm"]]
            _plot_bars(ax, labels, [n for n in names if n in B.GEMM_CONTENDERS],
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
    plt.close(fig)
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


# --------------------------------------------------------------------------- files
def write_outputs(doc, out_dir):
    """Write ``results.json``, ``report.md`` and ``chart.png`` (when possible) to a folder.

    Args:
        doc: A result of ``run_bench``; ``doc["outputs"]`` is filled in.
        out_dir: The folder, created when missing.

    Returns:
        ``doc["outputs"]``: ``json``, ``markdown``, ``chart`` (None when skipped) and
        ``chart_note`` (why it was skipped, else "").
    """
    os.makedirs(out_dir, exist_ok=True)
    chart, note = plot_chart(doc, os.path.join(out_dir, "chart.png"))
    doc["outputs"] = {"json": os.path.join(out_dir, "results.json"),
                      "markdown": os.path.join(out_dir, "report.md"),
                      "chart": chart, "chart_note": note}
    with open(doc["outputs"]["markdown"], "w", encoding="utf-8") as f:
        f.write(format_markdown(doc))
    # Written last and through a temporary name: a reader never sees half a file.
    tmp = doc["outputs"]["json"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, doc["outputs"]["json"])
    return doc["outputs"]


def main(args):
    """The ``fastnn bench`` command, given parsed arguments (see ``fastnn.cli``)."""
    preset = "smoke" if args.smoke else ("quick" if args.quick else "full")
    # The command as parsed (not sys.argv, which is pytest's or python's when called
    # in-process), so the report says how to repeat the run.
    command = ["fastnn", "bench"] + ([f"--{preset}"] if preset != "full" else [])
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.contenders:
        command += ["--contenders", *args.contenders]
    if args.only:
        command += ["--only", *args.only]
    if args.repeats:
        command += ["--repeats", str(args.repeats)]
    show, done = B.progress_printer()
    try:
        doc = run_bench(preset, contenders=args.contenders, threads=args.threads,
                        sections=args.only or SECTIONS, repeats=args.repeats,
                        progress=show, command=" ".join(command + ["--out", args.out]))
    finally:
        done()
    outputs = write_outputs(doc, args.out)
    print(format_text(doc), end="")
    print(f"wrote {outputs['json']} and {outputs['markdown']}")
    print(f"wrote {outputs['chart']}" if outputs["chart"] else f"note: {outputs['chart_note']}")
    return 0
