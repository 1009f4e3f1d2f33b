"""fastnn.bench at tiny sizes: it runs and its results have the documented shape.

No test here asserts a speed; the measurements themselves live in ``benchmarks/``.
"""

import contextlib
import json
import os
import threading
import time

import numpy as np
import pytest

import fastnn
from fastnn import backend, bench, threads
from fastnn.bench import contenders, machine, optional, timing
from fastnn.bench.threads import openblas_handles

TINY = dict(batch_size=16, n_samples=48)
ENTRY_KEYS = {"status", "seconds", "runs_per_sample", "samples_per_s", "gflops",
              "fraction_of_peak", "vs_fastnn_numpy", "vs_torch"}
RESULT_KEYS = {"scenario", "threads", "repeats", "warmup", "thread_control", "peak_gflops",
               "noisy_starts", "isolation", "workers", "results"}


def _local_contenders():
    names = ["fastnn-numpy", "numpy-handwritten"]
    return (["fastnn-native"] if backend.native_available() else []) + names


@pytest.fixture(autouse=True)
def _restore_backend():
    previous = backend.current()
    yield
    fastnn.set_backend(previous.name)


def test_flops_match_the_issue_formula():
    # Forward and weight gradients for all layers, input gradients for layers 2 and 3.
    expected = 2 * (784 * 500 + 500 * 500 + 500 * 10) * 3 - 2 * 784 * 500
    assert bench.mlp_training_flops([784, 500, 500, 10]) == expected
    assert abs(expected / 1e6 - 3.1) < 0.01


def test_scenario_validation():
    sc = bench.mlp_scenario([8, 4, 3], **TINY)
    assert sc["loss"] == "sparse_categorical_crossentropy"
    assert sc["flops_per_sample"] == bench.mlp_training_flops([8, 4, 3])
    with pytest.raises(ValueError):
        bench.mlp_scenario([8, 4, 3], output="sigmoid")
    with pytest.raises(ValueError):
        bench.mlp_scenario([8, 4, 3], hidden_activation="nope")
    with pytest.raises(ValueError):
        bench.mlp_scenario([8])


@pytest.mark.parametrize("output,layers", [("softmax", [8, 6, 3]), ("sigmoid", [8, 6, 4, 1])])
def test_benchmark_training_result_shape(output, layers):
    scenario = bench.mlp_scenario(layers, output=output, **TINY)
    names = _local_contenders()
    res = bench.benchmark_training(scenario, contenders=names, threads=1, repeats=2,
                               peak_gflops=10.0)
    json.dumps(res)  # plain data all the way down
    assert set(res) == RESULT_KEYS
    assert list(res["results"]) == names
    for name, entry in res["results"].items():
        assert entry["status"] == "ok", (name, entry)
        assert set(entry) == ENTRY_KEYS
        assert len(entry["seconds"]) == 2
        sps = entry["samples_per_s"]
        assert set(sps) == {"median", "min", "max", "spread"}
        assert sps["min"] <= sps["median"] <= sps["max"]
        assert entry["fraction_of_peak"] == pytest.approx(entry["gflops"] / 10.0)
        assert entry["vs_torch"] is None  # torch was not among the contenders
    assert res["results"]["fastnn-numpy"]["vs_fastnn_numpy"] == pytest.approx(1.0)
    assert res["thread_control"]["threads"] == 1
    frac = res["results"]["fastnn-numpy"]["fraction_of_peak"]
    bench.set_peak(res, 20.0)
    assert res["peak_gflops"] == 20.0
    assert res["results"]["fastnn-numpy"]["fraction_of_peak"] == pytest.approx(frac / 2)


def test_missing_contender_is_skipped_with_reason(monkeypatch):
    real = optional.load
    monkeypatch.setattr(optional, "load",
                        lambda m: None if m.split(".")[0] in ("torch", "sklearn") else real(m))
    monkeypatch.setattr(backend, "native_available", lambda: False)
    scenario = bench.mlp_scenario([8, 6, 3], **TINY)
    res = bench.benchmark_training(scenario, contenders=["fastnn-native", "fastnn-numpy",
                                                     "torch", "sklearn"],
                               threads=1, repeats=1)
    json.dumps(res)
    for name, word in (("torch", "PyTorch"), ("sklearn", "scikit-learn"),
                       ("fastnn-native", "native")):
        assert res["results"][name]["status"] == "skipped"
        assert word in res["results"][name]["reason"]
    assert res["results"]["fastnn-numpy"]["status"] == "ok"
    assert res["results"]["fastnn-numpy"]["vs_torch"] is None
    table = bench.format_training_table([res])
    assert "skipped" in table and "fastnn-numpy" in table
    with pytest.raises(RuntimeError, match="PyTorch"):
        bench.training_runner("torch", scenario)


def test_unknown_contender_is_refused():
    with pytest.raises(ValueError):
        bench.benchmark_training(bench.mlp_scenario([8, 6, 3], **TINY), contenders=["keras"])


def test_torch_contender_runs():
    pytest.importorskip("torch")
    scenario = bench.mlp_scenario([8, 6, 1], output="sigmoid", **TINY)
    res = bench.benchmark_training(scenario, contenders=["fastnn-numpy", "torch"], threads=1,
                               repeats=1)
    assert res["results"]["torch"]["status"] == "ok"
    assert res["results"]["torch"]["vs_torch"] == pytest.approx(1.0)
    assert res["results"]["fastnn-numpy"]["vs_torch"] is not None
    infer = bench.benchmark_inference(bench.inference_scenario(scenario, 4),
                                      contenders=["fastnn-numpy", "torch"], threads=1,
                                      repeats=1)
    assert infer["results"]["torch"]["status"] == "ok", infer["results"]["torch"]


def test_sklearn_contender_runs():
    pytest.importorskip("sklearn")
    res = bench.benchmark_training(bench.mlp_scenario([8, 6, 3], **TINY), contenders=["sklearn"],
                               threads=1, repeats=1)
    assert res["results"]["sklearn"]["status"] == "ok"


def test_interleaving_rotates_the_order():
    calls = []
    runners = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    times = bench.interleaved_times(runners, repeats=3, warmup=1)
    assert calls == list("abc" "bca" "cab" "abc")
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}


def test_thread_limits_restore_everything():
    before = threads.get_num_threads()
    with threads.num_threads(2):  # an explicit setting that must come back
        with bench.thread_limits(1) as control:
            assert fastnn.get_num_threads() == 1
            assert control["blas"] in ("threadpoolctl", "openblas-ctypes", "uncontrolled")
            assert isinstance(control["note"], str)
        assert threads.get_num_threads() == 2
    assert threads.get_num_threads() == before


def test_thread_limits_restore_after_an_error_and_put_blas_back():
    handles = openblas_handles()
    blas_before = [get() for get, _ in handles]
    before = threads.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with bench.thread_limits(1) as control:
            assert threads.get_num_threads() == 1
            if control["blas"] == "openblas-ctypes":
                assert [get() for get, _ in handles] == [1] * len(handles)
            raise RuntimeError("inside")
    assert threads.get_num_threads() == before
    assert [get() for get, _ in handles] == blas_before


def test_thread_limits_set_and_restore_torch():
    torch = pytest.importorskip("torch")
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with bench.thread_limits(1) as control:
            assert control["torch"] is True and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def test_settle_wait_is_passed_down_not_set_on_the_module(monkeypatch):
    waits = []
    monkeypatch.setattr(timing, "wait_until_quiet", lambda s: waits.append(s) or True)
    bench.benchmark_training(bench.mlp_scenario([8, 6, 3], **TINY),
                             contenders=["fastnn-numpy", "numpy-handwritten"], threads=1,
                             repeats=2, warmup=0, settle_seconds=0.003)
    assert waits == [0.003] * 4  # before each of 2 rounds x 2 contenders
    waits.clear()
    shape = bench.gemm_shapes((8,), batch_sizes=())[0]
    bench.benchmark_gemm(shape, contenders=["fastnn-numpy"], threads=1, repeats=1, warmup=0,
                         min_seconds=0.0, settle_seconds=0.0)
    assert waits == []
    bench.interleaved_times({"a": lambda: None}, repeats=1, warmup=0)
    assert waits == [timing.SETTLE_SECONDS] == [1.0]


@contextlib.contextmanager
def _busy_thread():
    """A second thread of this process that runs (spins) until the block ends."""
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [None for _ in iter(stop.is_set, True)])
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()


def test_wait_until_quiet_waits_for_spinning_threads():
    if not os.path.exists("/proc/self/task"):
        pytest.skip("needs Linux's /proc/self/task/*/schedstat")
    # Idle pools left by earlier tests in this process may spin for a while: the wait
    # must end once they stop, whenever that is.
    assert timing.wait_until_quiet(10.0) is True
    with _busy_thread():
        start = time.perf_counter()
        assert timing.wait_until_quiet(0.1) is False  # it spins all along: gives up
        assert time.perf_counter() - start >= 0.1
        noisy = []
        bench.interleaved_times({"a": lambda: None, "b": lambda: None}, repeats=2,
                                warmup=1, settle_seconds=0.02, noisy_starts=noisy)
        assert sorted(noisy) == ["a", "a", "b", "b"]  # the timed runs only
    noisy = []
    bench.interleaved_times({"a": lambda: None}, repeats=2, warmup=0, settle_seconds=0.5,
                            noisy_starts=noisy)
    assert noisy == []


def test_fma_peak_proxy_and_native_hook(monkeypatch):
    monkeypatch.setattr(machine, "native_fma_peak", lambda: None)  # as in a build without it
    peak = bench.measure_fma_peak(1, size=64, repeats=1)
    json.dumps(peak)
    assert peak["gflops"] > 0 and peak["method"] == "numpy-matmul-proxy"
    assert "proxy" in peak["note"]
    monkeypatch.setattr(machine, "native_fma_peak", lambda: (lambda threads: 42.0 * threads))
    hooked = bench.measure_fma_peak(2)
    assert hooked["method"] == "native-fma-loop" and hooked["gflops"] == 84.0


def test_machine_info_keys():
    info = bench.machine_info()
    json.dumps(info)
    assert {"cpu_model", "cpu_flags", "logical_cores", "usable_cores", "fastnn_config",
            "versions", "blas_thread_control"} <= set(info)
    assert info["versions"]["numpy"] == np.__version__


def test_summary_and_scaling():
    s = bench.summarize([1.0, 3.0, 2.0])
    assert s == {"median": 2.0, "min": 1.0, "max": 3.0, "spread": 1.0}
    ok = lambda v: {"status": "ok", "samples_per_s": {"median": v}}  # noqa: E731
    many = {"threads": 2, "results": {"a": ok(30.0), "b": {"status": "skipped"}}}
    few = {"threads": 1, "results": {"a": ok(20.0), "b": ok(5.0)}}
    assert bench.thread_scaling(many, few) == {"threads": [2, 1], "a": 1.5, "b": None}


def test_contender_failing_mid_run_is_an_error_entry(monkeypatch):
    real = contenders.make_training_runner

    def make(name, *args):
        if name == "numpy-handwritten":
            def boom():
                raise MemoryError("simulated")
            return boom
        return real(name, *args)

    monkeypatch.setattr(contenders, "make_training_runner", make)
    res = bench.benchmark_training(bench.mlp_scenario([8, 6, 3], **TINY),
                               contenders=["fastnn-numpy", "numpy-handwritten"],
                               threads=1, repeats=1)
    json.dumps(res)
    assert res["results"]["numpy-handwritten"] == {"status": "error",
                                                   "reason": "MemoryError: simulated"}
    assert res["results"]["fastnn-numpy"]["status"] == "ok"


def test_wide_deep_flops_and_runs_on_both_backends():
    sc = bench.wide_deep_scenario(input_dim=10, batch_size=16, n_samples=48)
    # wide: fwd + dW; tower 10-100-32-8 as an MLP; head 9->1: fwd, dW, dx
    tower = [10, 100, 32, 8]
    assert sc["flops_per_sample"] == 2 * 2 * 10 + bench.mlp_training_flops(tower) + 3 * 2 * 9
    assert sc["forward_flops_per_sample"] == 2 * 10 + bench.forward_flops(tower) + 2 * 9
    res = bench.benchmark_training(sc, contenders=_local_contenders(), threads=1, repeats=1)
    json.dumps(res)
    assert res["results"]["numpy-handwritten"]["status"] == "skipped"
    assert "two-input" in res["results"]["numpy-handwritten"]["reason"]
    for name in _local_contenders():
        if name != "numpy-handwritten":
            assert res["results"][name]["status"] == "ok", res["results"][name]


def test_inference_and_min_seconds():
    base = bench.mlp_scenario([8, 6, 3], **TINY)
    sc = bench.inference_scenario(base, batch_size=1, n_samples=4)
    assert sc["task"] == "inference" and sc["name"].endswith("infer b1")
    res = bench.benchmark_inference(sc, contenders=_local_contenders(), threads=1, repeats=2,
                                min_seconds=0.002, peak_gflops=10.0)
    json.dumps(res)
    for entry in res["results"].values():
        assert set(entry) == ENTRY_KEYS and entry["runs_per_sample"] >= 1
        assert entry["gflops"] == pytest.approx(
            entry["samples_per_s"]["median"] * sc["forward_flops_per_sample"] / 1e9)


def test_gemm_shapes_and_benchmark():
    shapes = bench.gemm_shapes()
    assert len(shapes) == 3 + 3 * 3 * 3
    dz_wt = next(s for s in shapes if s["name"] == "b128 784x500 dz@w.T")
    assert (dz_wt["m"], dz_wt["n"], dz_wt["k"], dz_wt["transpose_b"]) == (128, 784, 500, True)
    names = [n for n in bench.GEMM_CONTENDERS if bench.contender_status(n)[0]]
    res = bench.benchmark_gemm(dz_wt, contenders=names, threads=1, repeats=2, min_seconds=0.001,
                           peak_gflops=100.0)
    json.dumps(res)
    assert res["flops"] == 2 * 128 * 784 * 500
    for entry in res["results"].values():
        assert entry["status"] == "ok" and entry["gflops"]["median"] > 0
        assert entry["fraction_of_peak"] == pytest.approx(entry["gflops"]["median"] / 100.0)
    bench.set_peak(res, 200.0)  # a GEMM result's gflops is a summary: its median counts
    assert res["peak_gflops"] == 200.0
    for entry in res["results"].values():
        assert entry["fraction_of_peak"] == pytest.approx(entry["gflops"]["median"] / 200.0)
    with pytest.raises(ValueError):
        bench.benchmark_gemm(dz_wt, contenders=["torch"])
    assert bench.scaling_thread_counts(1) == [1]
    assert bench.scaling_thread_counts(6) == [1, 2, 4, 6]


@pytest.mark.parametrize("hidden, output", [("relu", "softmax"), ("tanh", "sigmoid"),
                                            ("sigmoid", "softmax"), ("linear", "sigmoid")])
def test_handwritten_loop_trains_as_fastnn_does(hidden, output):
    # The baseline the targets quote must compute what a Keras model computes: the same
    # Adam steps from the same weights give the same weights (float32 tolerance), over
    # batches of two sizes so that its per-batch-size buffers are exercised.
    classes = 4 if output == "softmax" else 1
    sc = bench.mlp_scenario([6, 5, 7, classes], hidden_activation=hidden, output=output,
                            batch_size=8, n_samples=20, learning_rate=0.01)
    net = contenders._HandwrittenMLP(sc, seed=3)
    fastnn.set_backend("numpy")
    model = fastnn.Sequential(
        [fastnn.layers.Input((6,)), fastnn.layers.Dense(5, activation=hidden),
         fastnn.layers.Dense(7, activation=hidden),
         fastnn.layers.Dense(classes, activation=output)])
    loss = ("sparse_categorical_crossentropy" if output == "softmax"
            else "binary_crossentropy")
    model.compile(optimizer=fastnn.optimizers.Adam(learning_rate=0.01, epsilon=1e-7),
                  loss=loss)
    model.set_weights([p.copy() for p in net.params])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = (rng.integers(0, classes, 20) if output == "softmax"
         else rng.integers(0, 2, (20, 1)).astype(np.float32))
    for rows in (slice(0, 8), slice(8, 13), slice(13, 20), slice(0, 8)):
        net.step(x[rows], y[rows])
        model.train_on_batch(x[rows], y[rows])
    for mine, theirs in zip(net.params, model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.predict(x), model.predict_on_batch(x), rtol=1e-4,
                               atol=1e-5)
