"""``fastnn bench``'s run: its presets, its plan, and the one result dict it returns.

``run_bench`` measures, with the contenders interleaved (each in its own worker process,
``fastnn.bench.isolate``, unless ``isolation="in-process"``):

- GEMM GFLOP/s of fastnn's native ``matmul`` against the NumPy backend's
  (``numpy.matmul``) over square products and the products of the seeds' MLP;
- training samples/s of the seeds' models at batch sizes 32, 128 and 256;
- inference samples/s of the same models at batch sizes 1, 32 and 1024;
- thread scaling from 1 thread to every usable core (the 784-500-500-10 MLP at batch
  256, and a square GEMM);
- the CPU's FMA peak at every thread count used, so results can be read as a fraction
  of what the cores can do.

The result is one plain dict (written as JSON by ``fastnn.bench.report.write_outputs``);
``docs/benchmarks.md`` documents its keys.
"""

import contextlib
import datetime
import time

from .. import threads as fastnn_threads
from . import isolate
from .compare import benchmark_gemm, benchmark_inference, benchmark_training, set_peak
from .contenders import CONTENDERS, GEMM_CONTENDERS, contender_table
from .machine import best_fma_peaks, machine_info
from .scenarios import gemm_shapes, inference_scenario, seed_models, sized_scenario
from .threads import scaling_thread_counts

#: Sections of a run, in the order they are measured and reported.
SECTIONS = ("gemm", "training", "inference", "scaling", "distributed", "cnn")

#: The sections a run without ``--only`` measures: ``distributed`` starts MPI jobs
#: (``fastnn.bench.distributed``) and ``cnn`` one process per model and contender
#: (``fastnn.bench.cnn``), so they run when asked for.
DEFAULT_SECTIONS = ("gemm", "training", "inference", "scaling")

#: ``distributed``'s sizes per preset: samples per rank per step, steps per timed
#: epoch, timed epochs, layers (the smoke preset's net is tiny).
DISTRIBUTED_SIZES = {
    "full": (128, 16, 5, (784, 500, 500, 10)),
    "quick": (128, 8, 3, (784, 500, 500, 10)),
    "smoke": (8, 2, 1, (32, 16, 10)),
}

#: How much each run measures.  ``train_samples``: samples in one run, one epoch of
#: ``fit`` (at least two batches); ``infer_samples``: samples predicted in one run, one
#: call per batch (at least one batch).  Kept small so that the slowest contender's run
#: stays short on the big MLPs; ``min_seconds``: least duration of a timed sample, fast contenders
#: repeat their run up to it (the untimed run that measures this is also a warm-up, so
#: the short presets add none); ``peak_size``: side of the FMA-peak proxy matmul;
#: ``isolation``: the default mode (``fastnn.bench.isolate.ISOLATION_MODES``): the
#: measuring presets give each contender its own worker process, the smoke preset keeps
#: them in this one (starting workers would be most of its few seconds).
PRESETS = {
    "full": {"repeats": 5, "warmup": 1, "train_samples": 1024, "infer_samples": 256,
             "min_seconds": 0.25, "gemm_squares": (512, 1024, 2048),
             "gemm_batches": (32, 128, 256), "gemm_min_seconds": 0.05,
             "train_batches": (32, 128, 256), "infer_batches": (1, 32, 1024),
             "peak_size": 2048, "scaling_square": 1024, "settle_seconds": 1.0,
             "isolation": "processes"},
    "quick": {"repeats": 3, "warmup": 0, "train_samples": 256, "infer_samples": 64,
              "min_seconds": 0.04, "gemm_squares": (256, 512), "gemm_batches": (128,),
              "gemm_min_seconds": 0.01, "train_batches": (32, 128, 256),
              "infer_batches": (1, 32, 1024), "peak_size": 1024, "scaling_square": 512,
              "settle_seconds": 1.0, "isolation": "processes"},
    # For tests and for checking an installation: seconds long, numbers meaningless.
    "smoke": {"repeats": 1, "warmup": 0, "train_samples": 64, "infer_samples": 32,
              "min_seconds": None, "gemm_squares": (64,), "gemm_batches": (32,),
              "gemm_min_seconds": 0.0, "train_batches": (32,), "infer_batches": (1, 32),
              "peak_size": 256, "scaling_square": 64, "settle_seconds": 0.0,
              "isolation": "in-process"},
}


def _plan(preset, sections, contenders, threads, thread_counts):
    """Every measurement of a run as ``(section, description, job)``, in order.

    A job is ``{"shape": ..., "threads": ...}`` or ``{"scenario": ..., "threads": ...}``.
    Listed before anything runs so the progress indicator can say "step i of n".
    """
    p = PRESETS[preset]
    plan = []
    if "gemm" in sections and set(contenders) & set(GEMM_CONTENDERS):
        for shape in gemm_shapes(p["gemm_squares"], batch_sizes=p["gemm_batches"]):
            plan.append(("gemm", f"GEMM {shape['name']}", {"shape": shape, "threads": threads}))
    for section, batches in (("training", p["train_batches"]),
                             ("inference", p["infer_batches"])):
        if section not in sections:
            continue
        for key, label, template in seed_models():
            for b in batches:
                if section == "training":
                    sc = sized_scenario(template, label, key, b, max(2 * b, p["train_samples"]))
                else:
                    sc = inference_scenario(
                        sized_scenario(template, label, key, b, max(b, p["infer_samples"])), b)
                plan.append((section, f"{section} {sc['name']}",
                             {"scenario": sc, "threads": threads}))
    if "scaling" in sections:
        key, label, template = seed_models()[0]
        for t in thread_counts:
            sc = sized_scenario(template, label, key, 256, max(2 * 256, p["train_samples"]))
            plan.append(("scaling", f"scaling training {sc['name']} {t}t",
                         {"scenario": sc, "threads": t}))
        square = p["scaling_square"]
        shape = gemm_shapes((square,), batch_sizes=())[0]
        for t in thread_counts if set(contenders) & set(GEMM_CONTENDERS) else ():
            plan.append(("scaling", f"scaling GEMM {shape['name']} {t}t",
                         {"shape": shape, "threads": t}))
    return plan


def run_bench(preset="full", contenders=None, threads=None, sections=DEFAULT_SECTIONS,
              repeats=None, seed=0, progress=None, command=None, isolation=None):
    """Run the comparison and return every measurement as one plain dict.

    Args:
        preset: ``"full"`` (under ten minutes on two cores), ``"quick"`` (under a
            minute) or ``"smoke"`` (seconds; checks that everything runs).
        contenders: Names from ``fastnn.bench.CONTENDERS``; defaults to all of
            them (a missing one is recorded as skipped with the reason).
        threads: Threads for the GEMM, training and inference sections; defaults to
            ``fastnn.get_num_threads()``.  Thread scaling goes from 1 to
            ``max(threads, usable cores)``.
        sections: Which of ``SECTIONS`` to run.
        repeats: Timed rounds; defaults to the preset's.
        seed: Seeds data and initialisation.
        progress: Optional callable taking one status string.
        command: The command line, recorded in the result.
        isolation: ``"processes"`` (each contender in its own persistent worker
            process, ``fastnn.bench.isolate``) or ``"in-process"`` (all in this one);
            defaults to the preset's (``processes`` but for ``smoke``).

    Returns:
        The result dict; see ``docs/benchmarks.md`` for its keys.

    Raises:
        ValueError: For an unknown preset, section, contender or isolation mode.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}. Received: {preset!r}")
    isolation = isolate.check_isolation(PRESETS[preset]["isolation"] if isolation is None
                                        else isolation)
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"Unknown sections {unknown}; expected some of {SECTIONS}")
    names = list(CONTENDERS if contenders is None else contenders)
    status = contender_table(names)  # raises on an unknown name before any work
    p = dict(PRESETS[preset])
    if repeats is not None:
        p["repeats"] = int(repeats)
    threads = fastnn_threads.get_num_threads() if threads is None else int(threads)
    thread_counts = scaling_thread_counts(max(threads, fastnn_threads.usable_cores()))
    sections = [s for s in SECTIONS if s in sections]
    progress = progress or (lambda msg: None)
    started = time.perf_counter()
    plan = _plan(preset, sections, names, threads, thread_counts)
    peak_threads = sorted({threads} | (set(thread_counts) if "scaling" in sections else set()))

    def say(step, msg):
        elapsed = time.perf_counter() - started
        progress(f"[{step}/{len(plan)} {elapsed:4.0f}s] {msg}")

    say(0, "FMA peak at " + ", ".join(f"{t}" for t in peak_threads) + " thread(s)")
    peaks = best_fma_peaks(peak_threads, size=p["peak_size"])
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
            "seed": seed, "isolation": isolation,
        },
        "machine": None, "contenders": status, "fma_peak": None,
        "gemm": [], "training": [], "inference": [],
        "scaling": {"training": [], "gemm": [], "speedup": {}},
        "notes": [], "elapsed_s": None, "outputs": {},
    }
    gemm_names = [n for n in names if n in GEMM_CONTENDERS]
    # The pool's workers are stopped on the way out, on an error or Ctrl-C too.
    with (isolate.WorkerPool() if isolation == "processes"
          else contextlib.nullcontext()) as pool:
        _measure_plan(doc, plan, p, names, gemm_names, peaks, seed, say, pool)
    if "distributed" in sections:
        from . import distributed

        per_rank, steps, rounds, layers = DISTRIBUTED_SIZES[preset]
        doc["distributed"] = distributed.measure(
            per_rank, steps, repeats if repeats is not None else rounds, layers,
            progress=lambda msg: say(len(plan), msg))
    if "cnn" in sections:
        from . import cnn

        doc["cnn"] = cnn.measure(
            preset, threads=threads,
            contenders=[n for n in names if n in cnn.CONTENDERS],
            progress=lambda msg: say(len(plan), msg), peak_gflops=peaks[threads]["gflops"])
    say(len(plan), "FMA peak again (the best of two is kept)")
    peaks = best_fma_peaks(peak_threads, size=p["peak_size"], previous=peaks)
    _apply_peaks(doc, peaks)
    if doc.get("cnn"):  # against the final (best-of-two) peak, as every other section
        doc["cnn"]["fma_peak_gflops"] = peaks[threads]["gflops"]
        for r in doc["cnn"]["runs"]:
            if r["status"] == "ok":
                r["fraction_of_peak"] = r["conv_forward_gflops"] / peaks[threads]["gflops"]
    doc["fma_peak"] = {str(t): peak for t, peak in peaks.items()}
    doc["scaling"]["speedup"] = _speedups(doc["scaling"])
    # Read after the runs, so torch's thread count is known when torch was imported.
    doc["machine"] = machine_info()
    doc["notes"] = _notes(doc)
    doc["elapsed_s"] = time.perf_counter() - started
    return doc


def _measure_plan(doc, plan, p, names, gemm_names, peaks, seed, say, pool):
    """Run every GEMM, training, inference and scaling measurement of ``plan`` into
    ``doc``; ``pool`` is the ``WorkerPool`` of an isolated run, None in-process."""
    for step, (section, label, job) in enumerate(plan, 1):
        def show(msg, step=step, label=label):
            say(step, f"{label}: {msg}")

        t = job["threads"]
        # settle_seconds: the longest wait before each timed run for the other contenders'
        # threads to stop spinning (timing.wait_until_quiet)
        common = dict(repeats=p["repeats"], warmup=p["warmup"], threads=t, progress=show,
                      peak_gflops=peaks[t]["gflops"], settle_seconds=p["settle_seconds"])
        if "shape" in job:
            res = benchmark_gemm(job["shape"], contenders=gemm_names,
                                 min_seconds=p["gemm_min_seconds"], pool=pool, **common)
            (doc["scaling"]["gemm"] if section == "scaling" else doc["gemm"]).append(res)
        elif section == "inference":
            doc["inference"].append(benchmark_inference(
                job["scenario"], contenders=names, seed=seed, min_seconds=p["min_seconds"],
                pool=pool, **common))
        else:
            res = benchmark_training(job["scenario"], contenders=names, seed=seed,
                                     min_seconds=p["min_seconds"], pool=pool, **common)
            (doc["scaling"]["training"] if section == "scaling" else doc["training"]).append(res)


def _apply_peaks(doc, peaks):
    """Recompute every fraction of peak against the final (best-of-two) peaks."""
    for res in (doc["training"] + doc["inference"] + doc["scaling"]["training"]
                + doc["gemm"] + doc["scaling"]["gemm"]):
        set_peak(res, peaks[res["threads"]]["gflops"])


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
    measured = (doc["training"] + doc["inference"] + doc["gemm"]
                + doc["scaling"]["training"] + doc["scaling"]["gemm"])
    noisy = sum(r.get("noisy_starts", 0) for r in measured)
    if noisy:
        where = ("another contender's worker process or a thread of this one"
                 if doc["settings"].get("isolation") == "processes"
                 else "another thread of this process")
        notes.append(f"{noisy} timed run(s) started while {where} was still running after "
                     "waiting the longest settle time: another contender's pool spinning, "
                     "or a busy machine. Read those figures as low.")
    if doc["machine"]["blas_thread_control"] == "uncontrolled":
        notes.append("NumPy's BLAS thread count could not be controlled (install "
                     "threadpoolctl): the NumPy contenders used their default.")
    return notes


def contenders_that_ran(doc):
    """The contenders of a run that could run here, in the run's order.

    The tables and the chart give these a column or a bar; one skipped everywhere gets a
    note instead.
    """
    names = doc["settings"]["contenders"]
    return [n for n in names if doc["contenders"].get(n, {}).get("status") == "ok"]
