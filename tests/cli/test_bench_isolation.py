"""fastnn.bench.isolate: each contender in its own worker process, driven over a pipe.

Toy contenders (tests/cli/isolation_toys.py) check the protocol, the interleaving, the
quiet wait over other processes, crashes and shutdown; the bench's own contenders check
the results and the command-line flag.  No test here asserts a speed.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import fastnn
from fastnn import backend, bench, cli
from fastnn.bench import isolate, timing
from fastnn.bench.run import PRESETS

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
TOYS = "isolation_toys"
TINY = dict(batch_size=16, n_samples=48)

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"),
                                reason="needs Linux's /proc/<pid>/task/*/schedstat")


@pytest.fixture
def pool():
    with isolate.WorkerPool(paths=[HERE]) as p:
        yield p


def _alive(pid):
    return not isolate.wait_for_exit([pid], timeout=0.0)


def test_worker_protocol_setup_and_sample(pool):
    worker = pool.worker("toy")
    assert worker.pid != os.getpid() and worker.alive()
    reply = worker.setup(f"{TOYS}:sleeper", {"seconds": 0.001}, threads=1, min_seconds=0.05)
    assert reply["pid"] == worker.pid
    assert reply["calls"] >= 5  # 0.05 s of 0.001 s calls, counted on an untimed call
    assert reply["thread_control"]["threads"] == 1
    assert "torch" not in reply["loaded"]  # only what the contender needs
    seconds, quiet = worker.sample(settle_seconds=0.5)
    assert seconds >= reply["calls"] * 0.001 and quiet is True
    # A new job replaces the old one in the same, persistent process.
    assert worker.setup(f"{TOYS}:sleeper", {"seconds": 0.0}, threads=1)["calls"] == 1
    assert pool.worker("toy") is worker


def test_rounds_interleave_in_rotating_order(pool, tmp_path):
    log = tmp_path / "order.txt"
    for name in "abc":
        pool.worker(name).setup(f"{TOYS}:logger", {"path": str(log), "name": name}, 1)
    noisy = []
    times = isolate.isolated_times(pool, list("abc"), repeats=3, warmup=1,
                                   settle_seconds=0.5, noisy_starts=noisy)
    assert log.read_text().split() == list("abc" "bca" "cab" "abc")
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert noisy == []


def test_wait_until_quiet_over_pids_waits_for_a_busy_process():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; print(1, flush=True); "
                             "time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        idle.stdout.readline()  # its start-up (which runs) is over
        assert timing.wait_until_quiet(2.0, pids=[idle.pid]) is True
        start = time.perf_counter()
        assert timing.wait_until_quiet(0.1, pids=[idle.pid, busy.pid]) is False
        assert time.perf_counter() - start >= 0.1
    finally:
        busy.kill()
        busy.wait()
        idle.kill()
        idle.wait()
    # Processes that have ended count as quiet.
    assert timing.wait_until_quiet(1.0, pids=[busy.pid, idle.pid]) is True


def test_samples_wait_for_the_other_workers_and_their_own_threads(pool):
    pool.worker("quiet").setup(f"{TOYS}:sleeper", {"seconds": 0.0}, 1)
    pool.worker("busy").setup(f"{TOYS}:spinner_in_background", {}, 1)
    noisy = []
    isolate.isolated_times(pool, ["quiet", "busy"], repeats=3, warmup=0,
                           settle_seconds=0.05, noisy_starts=noisy)
    # "quiet" waited for the busy worker's process, "busy" for its own spinning thread.
    # (On a loaded machine the spinner can miss a whole 5 ms window and pass for quiet
    # once: three rounds make that rare.)
    assert set(noisy) == {"quiet", "busy"}


def test_a_crashing_worker_is_named_and_replaced(pool):
    pool.worker("steady").setup(f"{TOYS}:sleeper", {"seconds": 0.0}, 1)
    crashing = pool.worker("crashy")
    crashing.setup(f"{TOYS}:crasher", {"status": 7}, 1)
    errors = {}
    times = isolate.isolated_times(pool, ["steady", "crashy"], repeats=2, warmup=0,
                                   settle_seconds=0.0, errors=errors)
    assert len(times["steady"]) == 2 and times["crashy"] == []
    assert list(errors) == ["crashy"]
    assert "contender 'crashy'" in errors["crashy"] and "exit status 7" in errors["crashy"]
    assert not crashing.alive()
    with pytest.raises(isolate.WorkerCrashed, match="'crashy'"):
        crashing.sample(0.0)
    fresh = pool.worker("crashy")  # a fresh worker for the next job
    assert fresh is not crashing and fresh.alive()


def test_a_contender_error_keeps_its_worker(pool):
    worker = pool.worker("toy")
    with pytest.raises(isolate.WorkerError, match="cannot build the toy model"):
        worker.setup(f"{TOYS}:broken_factory", {}, 1)
    worker.setup(f"{TOYS}:raiser", {}, 1)
    with pytest.raises(isolate.WorkerError, match="contender 'toy': ValueError: toy failure"):
        worker.sample(0.0)
    assert worker.alive()
    with pytest.raises(isolate.WorkerError, match="factory must be 'module:function'"):
        worker.setup("no_colon", {}, 1)


def test_close_leaves_no_worker_behind():
    with isolate.WorkerPool(paths=[HERE]) as p:
        for name in "ab":
            p.worker(name).setup(f"{TOYS}:sleeper", {}, 1)
        pids = p.pids()
    assert len(pids) == 2 and isolate.wait_for_exit(pids, timeout=5.0)
    with pytest.raises(RuntimeError, match="closed"):
        p.worker("a")


_PARENT = """
import sys, time
sys.path[:0] = [{paths!r}]
from fastnn.bench import isolate
with isolate.WorkerPool(paths=[{here!r}]) as pool:
    w = pool.worker("a")
    w.setup("isolation_toys:sleeper", {{"seconds": 60}}, 1)
    print(w.pid, flush=True)
    w.sample(0)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_orphan_when_the_parent_is_interrupted_or_killed(sig):
    code = _PARENT.format(paths=PACKAGE_PARENT, here=HERE)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        worker_pid = int(parent.stdout.readline())
        time.sleep(0.2)  # the sample (a 60 s sleep) is under way
        assert _alive(worker_pid)
        parent.send_signal(sig)
        parent.wait(timeout=20)
        # Ctrl-C: the pool kills the busy worker on the way out; a killed parent: the
        # kernel does (PR_SET_PDEATHSIG).
        assert isolate.wait_for_exit([worker_pid], timeout=10.0)
    finally:
        parent.kill()
        parent.wait()
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in parent.stderr.read()


def _contenders():
    return (["fastnn-native"] if backend.native_available() else []) + [
        "fastnn-numpy", "numpy-handwritten"]


def test_benchmarks_in_workers_have_the_in_process_fields():
    scenario = bench.mlp_scenario([8, 6, 3], **TINY)
    names = _contenders()
    local = bench.benchmark_training(scenario, contenders=names, threads=1, repeats=2,
                                     warmup=0, settle_seconds=0.0)
    with isolate.WorkerPool() as p:
        res = bench.benchmark_training(scenario, contenders=names, threads=1, repeats=2,
                                       warmup=0, settle_seconds=0.05, pool=p)
        shape = bench.gemm_shapes((16,), batch_sizes=())[0]
        gemm = bench.benchmark_gemm(shape, contenders=["fastnn-numpy"], threads=1,
                                    repeats=2, warmup=0, min_seconds=0.0, pool=p)
        inf = bench.benchmark_inference(bench.inference_scenario(scenario, 4),
                                        contenders=["numpy-handwritten"], threads=1,
                                        repeats=1, warmup=0, pool=p)
        pids = p.pids()
    json.dumps([res, gemm, inf])
    assert local["isolation"] == "in-process" and local["workers"] == {}
    assert set(res) == set(local) and res["isolation"] == "processes"
    assert res["thread_control"]["threads"] == 1
    assert sorted(res["workers"]) == sorted(names)
    worker_pids = {w["pid"] for w in res["workers"].values()}
    assert len(worker_pids) == len(names) and os.getpid() not in worker_pids
    for name in names:
        assert res["results"][name]["status"] == "ok", res["results"][name]
        assert set(res["results"][name]) == set(local["results"][name])
        assert len(res["results"][name]["seconds"]) == 2
    # The same persistent worker served every measurement of a contender.
    assert gemm["workers"]["fastnn-numpy"]["pid"] == res["workers"]["fastnn-numpy"]["pid"]
    assert gemm["results"]["fastnn-numpy"]["status"] == "ok" and gemm["isolation"] == "processes"
    assert inf["results"]["numpy-handwritten"]["status"] == "ok"
    assert isolate.wait_for_exit(pids)


def test_a_contender_that_cannot_express_the_model_is_an_error_entry_in_a_worker():
    with isolate.WorkerPool() as p:
        # Past the parent's own unsupported_reason check, as a contender failing in its
        # worker would be: the worker's message is the error.
        worker = p.worker("numpy-handwritten")
        with pytest.raises(isolate.WorkerError, match="plain MLP"):
            worker.setup(isolate.CONTENDER_FACTORY,
                         {"kind": "training", "name": "numpy-handwritten",
                          "job": bench.wide_deep_scenario(batch_size=8, n_samples=16)}, 1)


def test_run_bench_isolation_defaults_and_validation():
    assert PRESETS["full"]["isolation"] == PRESETS["quick"]["isolation"] == "processes"
    assert PRESETS["smoke"]["isolation"] == "in-process"
    with pytest.raises(ValueError, match="isolation must be one of .*Received: "
                                         "isolation='threads'"):
        bench.run_bench("smoke", isolation="threads")


@pytest.mark.parametrize("flag,mode", [(None, "in-process"), ("--in-process", "in-process"),
                                       ("--isolated", "processes")])
def test_cli_flag_sets_and_records_the_mode(tmp_path, flag, mode, monkeypatch):
    monkeypatch.setattr("builtins.print", lambda *a, **k: None)
    argv = ["bench", "--smoke", "--out", str(tmp_path), "--only", "training", "gemm",
            "--contenders", "fastnn-numpy", "numpy-handwritten"] + ([flag] if flag else [])
    previous = backend.current()
    try:
        assert cli.main(argv) == 0
    finally:
        backend.set_backend(previous.name)
    with open(tmp_path / "results.json", encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["settings"]["isolation"] == mode
    assert {r["isolation"] for r in doc["training"] + doc["gemm"]} == {mode}
    assert (flag or "--smoke") in doc["command"]
    words = ("each contender in its own worker process" if mode == "processes"
             else "every contender in this process")
    assert words in (tmp_path / "report.md").read_text(encoding="utf-8")
    if mode == "processes":
        pids = {w["pid"] for r in doc["training"] for w in r["workers"].values()}
        assert len(pids) == 2 and isolate.wait_for_exit(pids)


def test_cli_refuses_both_modes(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--smoke", "--in-process", "--isolated"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPTS = os.path.join(REPO, "benchmarks")


def _script(name, *args, timeout=60):
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not os.path.isdir(SCRIPTS), reason="benchmarks/ is not in this tree")
def test_the_scripts_offer_the_in_process_mode_and_a_smoke_run():
    targets = _script("bench_targets.py", "--help")
    assert targets.returncode == 0 and "--in-process" in targets.stdout
    assert "--smoke" in targets.stdout
    agreement = _script("check_bench_agreement.py", "--help")
    assert agreement.returncode == 0 and "--blocks" in agreement.stdout


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(SCRIPTS), reason="benchmarks/ is not in this tree")
def test_bench_targets_smoke_runs_isolated_and_in_process(tmp_path):
    for flag, mode in (([], "processes"), (["--in-process"], "in-process")):
        out = tmp_path / f"{mode}.json"
        proc = _script("bench_targets.py", "--smoke", "--json", str(out), *flag, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "numbers mean nothing" in proc.stdout
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
        assert doc["isolation"] == mode and doc["preset"] == "smoke" and doc["rows"]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(SCRIPTS), reason="benchmarks/ is not in this tree")
def test_agreement_check_smoke_reports_both_ways(tmp_path):
    out = tmp_path / "agreement.json"
    proc = _script("check_bench_agreement.py", "--smoke", "--json", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "in-run:" in proc.stdout and "isolated:" in proc.stdout
    with open(out, encoding="utf-8") as f:
        doc = json.load(f)
    assert set(doc["differing"]) == {"in-run", "isolated"} and doc["rows"]
    assert {"in_run", "isolated", "alone", "in_run_ratio", "isolated_ratio"} <= set(doc["rows"][0])
