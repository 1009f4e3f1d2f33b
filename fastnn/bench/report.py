"""The reports of a benchmark run: the terminal tables, Markdown, and the files written.

``format_text`` and ``format_markdown`` render the same tables, from ``report_tables``,
of a ``fastnn.bench.run.run_bench`` result; ``write_outputs`` writes ``results.json``,
``report.md`` and ``chart.png`` (see ``fastnn.bench.plot``).  ``format_training_table``
is the one-table report of ``benchmark_training`` results that ``benchmarks/`` prints,
and ``progress_printer`` the status line shown while a run goes.
"""

import json
import os
import sys

from .contenders import GEMM_CONTENDERS
from .plot import plot_chart
from .run import contenders_that_ran


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


def report_tables(doc):
    """The report as tables, shared by the terminal, Markdown and chart outputs.

    Args:
        doc: A result of ``run_bench``.

    Returns:
        A list of dicts: ``title``, ``header`` (column names), ``rows`` (lists of
        strings), ``align`` (``"l"``/``"r"`` per column) and ``notes`` (strings).
    """
    tables = []
    names = contenders_that_ran(doc)
    native = "fastnn-native" in names
    gemm_names = [n for n in names if n in GEMM_CONTENDERS]
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
    if doc.get("distributed"):
        tables.append(_distributed_table(doc["distributed"]))
    if doc.get("cnn"):
        from .cnn import cnn_table

        tables.append(cnn_table(doc["cnn"]))
    if doc.get("preset") == "smoke":
        # A smoke run checks that every contender runs; a reader who sees one of its
        # tables alone (a pasted screenshot, a chart) must not take it for a measurement.
        for table in tables:
            table["notes"].insert(0, SMOKE_NOTE)
    return tables


#: The note every table of a ``--smoke`` run carries.
SMOKE_NOTE = ("--smoke run: these numbers mean nothing (one short round, no warm-up); "
              "they only show that each contender runs. Use the default or --quick "
              "preset to measure.")


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


def _fmt_share(value):
    return "-" if value is None else f"{100 * value:.1f}%"


def _distributed_table(result):
    """``fastnn bench --only distributed``: see ``fastnn.bench.distributed``."""
    s = result["settings"]
    title = (f"Data-parallel weak scaling, {'-'.join(map(str, s['layers']))} MLP, "
             f"{s['samples_per_rank']} samples per rank per step")
    header = ["configuration", "global batch", "samples/s", "allreduce % step",
              "packing % step"]
    rows = [[run["label"], str(run["batch"]), f"{run['samples_per_s']:.0f}",
             _fmt_share(run.get("allreduce_share")), _fmt_share(run.get("pack_share"))]
            for run in result["runs"]]
    notes = []
    if result["status"] != "ok":
        notes.append(result["status"])
    if result["weak_scaling"] is not None:
        notes.append(f"2 ranks x 1 thread reach {result['weak_scaling']:.2f} of twice "
                     "1 rank x 1 thread (target: at least 0.90).")
    return {"title": title, "header": header, "rows": rows,
            "align": ["l", "r", "r", "r", "r"], "notes": notes}


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
    # The family and model say which core it was (the brand string alone, e.g. "AMD
    # EPYC", covers several generations with different FMA widths and caches).
    cpu = (m.get("fastnn_config") or {}).get("cpu") or m["cpu_model"]
    lines = [f"CPU: {cpu}, {m['usable_cores']} usable of {m['logical_cores']} "
             f"logical cores, flags {', '.join(m['cpu_flags'] or [])}",
             f"fastnn {m['versions']['fastnn']}: SIMD kernel {m['simd_kernel']}, "
             f"OpenMP {m['thread_settings']['fastnn_openmp']}; NumPy {m['versions']['numpy']}"
             f" (BLAS threads: {m['blas_thread_control']}); PyTorch "
             f"{m['versions']['torch'] or 'not installed'}; scikit-learn "
             f"{m['versions']['scikit-learn'] or 'not installed'}",
             f"threads {s['threads']}; medians of {s['repeats']} interleaved rounds after "
             f"{s['warmup']} warm-up, "
             + ("each contender in its own worker process"
                if s.get("isolation") == "processes" else "every contender in this process")
             + "; ±: spread (max-min)/median"]
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


def format_training_table(results, scaling=None):
    """A plain-text table of ``benchmark_training`` results.

    Args:
        results: A list of results from ``benchmark_training``.
        scaling: Optional list of ``thread_scaling`` dicts, printed after the table.

    Returns:
        The table as one string.
    """
    head = (f"{'scenario':<30} {'thr':>3} {'contender':<18} {'samples/s':>10} "
            f"{'min..max':>17} {'vs numpy-be':>11} {'vs torch':>8} {'% peak':>6}")
    lines = [head, "-" * len(head)]
    for res in results:
        label = res["scenario"]["name"]
        for name, entry in res["results"].items():
            if entry["status"] != "ok":
                lines.append(f"{label:<30} {res['threads']:>3} {name:<18} "
                             f"{entry['status']}: {entry['reason']}")
                continue
            s = entry["samples_per_s"]
            lines.append(
                f"{label:<30} {res['threads']:>3} {name:<18} {s['median']:>10,.0f} "
                f"{s['min']:>8,.0f}..{s['max']:<7,.0f} {_fmt_ratio(entry['vs_fastnn_numpy']):>11} "
                f"{_fmt_ratio(entry['vs_torch']):>8} "
                f"{_fmt_pct(entry.get('fraction_of_peak')):>6}")
        lines.append("")
    for sc in scaling or []:
        t_hi, t_lo = sc["threads"]
        parts = [f"{k} {_fmt_ratio(v)}" for k, v in sc.items()
                 if k not in ("threads", "scenario") and v is not None]
        lines.append(f"scaling {t_hi} vs {t_lo} threads"
                     f"{' (' + sc['scenario'] + ')' if sc.get('scenario') else ''}: "
                     + ", ".join(parts))
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- progress
def progress_printer(stream=None):
    """A one-line status printer for long runs.

    On a terminal it rewrites one line; otherwise (a log file, a pipe) it prints a line
    per status, so logs stay readable.

    Args:
        stream: A text stream; defaults to ``sys.stderr``, keeping stdout for results.

    Returns:
        ``(show, done)``: ``show(msg)`` displays a status, ``done()`` clears the line.
    """
    stream = sys.stderr if stream is None else stream
    tty = hasattr(stream, "isatty") and stream.isatty()

    def show(msg):
        stream.write(("\r\033[K" + msg) if tty else (msg + "\n"))
        stream.flush()

    def done():
        if tty:
            stream.write("\r\033[K")
            stream.flush()

    return show, done


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
