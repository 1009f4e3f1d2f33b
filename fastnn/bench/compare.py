"""One measurement: every contender on one model (or one product), interleaved, summarized.

``benchmark_training``, ``benchmark_inference`` and ``benchmark_gemm`` build each
contender's runner (``fastnn.bench.contenders``), limit every library to the same thread
count (``fastnn.bench.threads``), time the runners in interleaved rounds
(``fastnn.bench.timing``) and return plain dicts, lists, strings and numbers, so results
can be written with ``json.dump`` as they are.  A contender that cannot run here is
``skipped`` with the reason; one that raises is an ``error`` entry, and the others carry on.

Given a ``fastnn.bench.isolate.WorkerPool`` (``pool=``), each contender is built and
timed in its own worker process instead, in the same interleaved rounds, and the result
says so (``isolation``: ``"processes"`` or ``"in-process"``, and ``workers``: each
worker's pid and the optional libraries it had loaded).
"""

from .. import threads as fastnn_threads
from . import contenders, isolate, optional
from .scenarios import synthetic_data
from .threads import thread_limits
from .timing import calls_for, interleaved_times, repeated, summarize


def _error_entry(exc):
    return {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}


def _guarded(name, run, results):
    """Wrap a runner so that an exception records an error entry and later rounds skip it.

    A contender failing mid-benchmark (a library bug, running out of memory) then costs
    its own result only, not the whole comparison.
    """

    def guarded():
        if name in results:
            return
        try:
            run()
        except Exception as exc:
            results[name] = _error_entry(exc)

    return guarded


def _add_ratios(results, metric, references):
    """Each ok entry's median ``metric`` over each reference's, None where it did not run."""
    for entry in results.values():
        if entry["status"] != "ok":
            continue
        for ref, key in references:
            other = results.get(ref, {})
            entry[key] = (entry[metric]["median"] / other[metric]["median"]
                          if other.get("status") == "ok" else None)


def benchmark_training(scenario, contenders=None, threads=None, repeats=5, warmup=1,
                       seed=0, peak_gflops=None, progress=None, min_seconds=None,
                       settle_seconds=None, pool=None):
    """Train one scenario's model with every contender, interleaved, and summarize.

    Args:
        scenario: A dict from ``mlp_scenario`` or ``wide_deep_scenario``.
        contenders: Names from ``CONTENDERS``; defaults to ``DEFAULT_CONTENDERS``.
        threads: Threads for every contender; defaults to ``fastnn.get_num_threads()``.
        repeats: Timed rounds.
        warmup: Untimed rounds first.
        seed: Seeds the data and every contender's initialisation and shuffling.
        peak_gflops: The CPU's FMA peak at ``threads`` (see ``measure_fma_peak``); when
            given, each contender gets ``fraction_of_peak``.
        progress: Optional callable taking one status string.
        min_seconds: When given, each timed sample repeats a contender's run (one epoch
            over ``n_samples``) until it lasts at least this long, counted once on a
            first, untimed run.  Keeps ``n_samples`` small for slow contenders while
            fast ones are not timed over a few milliseconds.
        settle_seconds: Longest wait before each timed run for the other contenders'
            threads to stop spinning (see ``interleaved_times``).
        pool: A ``fastnn.bench.isolate.WorkerPool``: time each contender in its own
            worker process; None times them all in this one.

    Returns:
        A dict: ``scenario``, ``threads``, ``repeats``, ``warmup``, ``thread_control``
        (from ``thread_limits``; with a pool, the first worker's), ``peak_gflops``,
        ``noisy_starts``, ``isolation``, ``workers`` and ``results``, a dict by contender
        name.  A result is ``{"status": "skipped", "reason": ...}`` or ``{"status": "ok",
        "seconds": [...], "runs_per_sample", "samples_per_s": {median, min, max,
        spread}, "gflops", "fraction_of_peak", "vs_fastnn_numpy", "vs_torch"}``;
        ``seconds`` are per run, one per round; the ratios compare median samples/s and
        are None when the reference did not run.  A contender that raised is
        ``{"status": "error", "reason": ...}``.
    """
    return _compare(scenario, "training", scenario.get("flops_per_sample"), contenders,
                    threads, repeats, warmup, seed, peak_gflops, progress, min_seconds,
                    settle_seconds, pool)


def benchmark_inference(scenario, contenders=None, threads=None, repeats=5, warmup=1,
                        seed=0, peak_gflops=None, progress=None, min_seconds=None,
                        settle_seconds=None, pool=None):
    """Predict with one scenario's model by every contender, interleaved, and summarize.

    Args:
        scenario: A dict from ``inference_scenario``: its ``batch_size`` is the number
            of samples per call, its ``n_samples`` the samples per timed run.
        contenders, threads, repeats, warmup, seed, peak_gflops, progress,
            min_seconds, settle_seconds, pool: As for ``benchmark_training``.

    Returns:
        The same structure as ``benchmark_training``; ``gflops`` counts the forward
        products only (``forward_flops_per_sample``).
    """
    return _compare(scenario, "inference", scenario.get("forward_flops_per_sample"),
                    contenders, threads, repeats, warmup, seed, peak_gflops, progress,
                    min_seconds, settle_seconds, pool)


def _ready_contenders(names, results, scenario=None):
    """The contenders of ``names`` that can run (and express ``scenario``'s model); each
    other one gets a ``skipped`` entry in ``results`` saying why."""
    ready = []
    for name in names:
        ok, reason = contenders.contender_status(name)
        if scenario is not None:
            reason = reason or contenders.unsupported_reason(name, scenario)
        if ok and not reason:
            ready.append(name)
        else:
            results[name] = {"status": "skipped", "reason": reason}
    return ready


def _compare(scenario, task, flops, names, threads, repeats, warmup, seed, peak_gflops,
             progress, min_seconds, settle_seconds, pool):
    """Build every contender's runner for ``task``, time them interleaved, and summarize."""
    names = list(contenders.DEFAULT_CONTENDERS if names is None else names)
    for name in names:
        contenders.contender_status(name)  # raises on an unknown name before any work
    threads = fastnn_threads.get_num_threads() if threads is None else int(threads)
    results = {}
    ready = _ready_contenders(names, results, scenario)
    rounds = dict(repeats=repeats, warmup=warmup, progress=progress,
                  settle_seconds=settle_seconds)
    if pool is not None:
        control, runs, times, noisy, workers = _time_in_workers(
            pool, task, scenario, ready, threads, seed, min_seconds or None, rounds,
            results)
    else:
        workers = {}
        x, y = synthetic_data(scenario, seed)
        if "torch" in ready:
            optional.load("torch")  # imported before thread_limits, so that it is limited too
        # Looked up here, not bound at import, so that a test can replace one.
        make_runner = (contenders.make_training_runner if task == "training"
                       else contenders.make_inference_runner)
        runs = {}
        with thread_limits(threads) as control:
            runners = {}
            for name in ready:
                try:
                    run = make_runner(name, scenario, x, y, seed)
                    runs[name] = calls_for(run, min_seconds) if min_seconds else 1
                    runners[name] = _guarded(name, repeated(run, runs[name]), results)
                except Exception as exc:  # one broken contender must not sink the others
                    results[name] = _error_entry(exc)
            noisy = []
            times = interleaved_times(runners, noisy_starts=noisy, **rounds)
    n = scenario["n_samples"]
    for name, secs in times.items():
        if name in results:  # it raised during a round: already an error entry
            continue
        secs = [s / runs[name] for s in secs]
        sps = summarize([n / s for s in secs])
        entry = {"status": "ok", "seconds": secs, "runs_per_sample": runs[name],
                 "samples_per_s": sps}
        entry["gflops"] = sps["median"] * flops / 1e9 if flops else None
        entry["fraction_of_peak"] = None
        results[name] = entry
    _add_ratios(results, "samples_per_s", (("fastnn-numpy", "vs_fastnn_numpy"),
                                           ("torch", "vs_torch")))
    ordered = {name: results[name] for name in names}
    result = {"scenario": dict(scenario), "threads": threads, "repeats": repeats,
              "warmup": warmup, "thread_control": control, "peak_gflops": None,
              "noisy_starts": len(noisy), "isolation": _mode(pool), "workers": workers,
              "results": ordered}
    return set_peak(result, peak_gflops)


def _mode(pool):
    return "in-process" if pool is None else "processes"


#: Optional libraries a contender's worker imports before its thread limits are set,
#: so that they are limited too (scikit-learn brings SciPy's own OpenBLAS).
_WORKER_IMPORTS = {"torch": ("torch",), "sklearn": ("sklearn.neural_network",)}


def _time_in_workers(pool, kind, job, names, threads, seed, min_seconds, rounds, results,
                     dtype="float32"):
    """Set up each contender's worker for one measurement and time them interleaved.

    A contender whose worker raises or dies gets an ``error`` entry in ``results`` (the
    message names it) and the others carry on.

    Returns:
        ``(thread_control, calls per sample, times, noisy starts, workers)``.
    """
    runs, workers, control, ready = {}, {}, None, []
    for name in names:
        try:
            reply = pool.worker(name).setup(
                isolate.CONTENDER_FACTORY,
                {"kind": kind, "name": name, "job": job, "seed": seed, "dtype": dtype},
                threads, min_seconds=min_seconds, imports=_WORKER_IMPORTS.get(name, ()))
        except (isolate.WorkerError, isolate.WorkerCrashed) as exc:
            results[name] = {"status": "error", "reason": str(exc)}
            continue
        runs[name] = reply["calls"]
        workers[name] = {"pid": reply["pid"], "loaded": reply["loaded"]}
        control = control or reply["thread_control"]
        ready.append(name)
    noisy, errors = [], {}
    times = isolate.isolated_times(pool, ready, noisy_starts=noisy, errors=errors, **rounds)
    for name, message in errors.items():
        results[name] = {"status": "error", "reason": message}
    if control is None:
        control = {"threads": threads, "fastnn": None, "torch": None, "blas": "uncontrolled",
                   "note": "no contender's worker could be set up"}
    return control, runs, times, noisy, workers


def benchmark_gemm(shape, contenders=None, threads=None, dtype="float32", repeats=5,
                   warmup=1, min_seconds=0.02, peak_gflops=None, progress=None,
                   settle_seconds=None, pool=None):
    """GFLOP/s of one product by each GEMM contender, interleaved, and summarize.

    Each timed sample is a batch of calls lasting at least ``min_seconds``; samples of
    the contenders alternate in rotating order (see ``interleaved_times``).

    Args:
        shape: A dict from ``gemm_shapes``.
        contenders: Names from ``GEMM_CONTENDERS``; defaults to all of them.
        threads: Threads; defaults to ``fastnn.get_num_threads()``.
        dtype: ``"float32"`` or ``"float64"``.
        repeats: Timed samples per contender.
        warmup: Untimed rounds first.
        min_seconds: Least duration of one sample.
        peak_gflops: The FMA peak at ``threads``; gives ``fraction_of_peak``.
        progress: Optional callable taking one status string.
        settle_seconds, pool: As for ``benchmark_training``.

    Returns:
        A dict: ``shape``, ``dtype``, ``flops`` (2mnk), ``threads``, ``repeats``,
        ``warmup``, ``thread_control``, ``peak_gflops``, ``noisy_starts``,
        ``isolation``, ``workers`` and ``results`` by contender:
        ``{"status": "ok", "calls_per_sample", "seconds" (per call, one per sample),
        "gflops": {median, min, max, spread}, "fraction_of_peak", "vs_fastnn_numpy"}``
        or ``{"status": "skipped" | "error", "reason"}``.
    """
    return _compare_gemm(shape, contenders, threads, dtype, repeats, warmup, min_seconds,
                         peak_gflops, progress, settle_seconds, pool)


def _compare_gemm(shape, names, threads, dtype, repeats, warmup, min_seconds, peak_gflops,
                  progress, settle_seconds, pool):
    names = list(contenders.GEMM_CONTENDERS if names is None else names)
    for name in names:
        if name not in contenders.GEMM_CONTENDERS:
            raise ValueError(f"Unknown GEMM contender {name!r}; expected one of "
                             f"{contenders.GEMM_CONTENDERS}")
    threads = fastnn_threads.get_num_threads() if threads is None else int(threads)
    flops = 2.0 * shape["m"] * shape["n"] * shape["k"]
    results, runners, calls = {}, {}, {}
    ready = _ready_contenders(names, results)
    rounds = dict(repeats=repeats, warmup=warmup, progress=progress,
                  settle_seconds=settle_seconds)
    if pool is not None:
        # min_seconds as given (0.0 included): the worker's counting call is the second
        # call, after the factory's first, as below.
        control, calls, times, noisy, workers = _time_in_workers(
            pool, "gemm", shape, ready, threads, 0, float(min_seconds), rounds, results,
            dtype=dtype)
    else:
        workers = {}
        with thread_limits(threads) as control:
            for name in ready:
                try:
                    fn = contenders.gemm_runner(name, shape, dtype)
                    fn()  # packing buffers are allocated and BLAS threads start on first use
                    calls[name] = calls_for(fn, min_seconds)
                except Exception as exc:
                    results[name] = _error_entry(exc)
                    continue
                runners[name] = _guarded(name, repeated(fn, calls[name]), results)
            noisy = []
            times = interleaved_times(runners, noisy_starts=noisy, **rounds)
    for name, secs in times.items():
        if name in results:
            continue
        per_call = [t / calls[name] for t in secs]
        results[name] = {"status": "ok", "calls_per_sample": calls[name], "seconds": per_call,
                         "gflops": summarize([flops / t / 1e9 for t in per_call]),
                         "fraction_of_peak": None}
    _add_ratios(results, "gflops", (("fastnn-numpy", "vs_fastnn_numpy"),))
    result = {"shape": dict(shape), "dtype": dtype, "flops": flops, "threads": threads,
              "repeats": repeats, "warmup": warmup, "thread_control": control,
              "peak_gflops": None, "noisy_starts": len(noisy), "isolation": _mode(pool),
              "workers": workers, "results": {name: results[name] for name in names}}
    return set_peak(result, peak_gflops)


def set_peak(result, peak_gflops):
    """Set (or replace) the FMA peak of a ``benchmark_*`` result.

    Recomputes every contender's ``fraction_of_peak``.  Useful because on a busy machine
    a peak measured once can be low; measuring it again after the runs and keeping the
    best gives a steadier denominator.

    Args:
        result: A dict from ``benchmark_training``, ``benchmark_inference`` or
            ``benchmark_gemm``; changed in place.
        peak_gflops: GFLOP/s, or None to clear.

    Returns:
        The same dict.
    """
    result["peak_gflops"] = peak_gflops
    for entry in result["results"].values():
        if entry.get("status") == "ok":
            gflops = entry.get("gflops")
            if isinstance(gflops, dict):  # a GEMM result: a summary over samples
                gflops = gflops["median"]
            entry["fraction_of_peak"] = gflops / peak_gflops if peak_gflops and gflops else None
    return result


def thread_scaling(result_many, result_few):
    """Median samples/s ratio of two ``benchmark_training`` results, by contender.

    Args:
        result_many: The run with more threads.
        result_few: The same scenario with fewer threads.

    Returns:
        Dict contender -> ratio (None when either run skipped it), plus the thread counts
        under ``"threads"``.
    """
    out = {"threads": [result_many["threads"], result_few["threads"]]}
    for name, hi in result_many["results"].items():
        lo = result_few["results"].get(name, {})
        ok = hi.get("status") == "ok" and lo.get("status") == "ok"
        out[name] = (hi["samples_per_s"]["median"] / lo["samples_per_s"]["median"]
                     if ok else None)
    return out
