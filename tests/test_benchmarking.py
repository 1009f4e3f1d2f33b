"""fastnn.benchmarking at tiny sizes: it runs and its results have the documented shape.

No test here asserts a speed; the measurements themselves live in ``benchmarks/``.
"""

import json

import numpy as np
import pytest

import fastnn
from fastnn import backend, benchmarking as B, threads

TINY = dict(batch_size=16, n_samples=48)
ENTRY_KEYS = {"status", "seconds", "runs_per_sample", "samples_per_s", "gflops",
              "fraction_of_peak", "vs_fastnn_numpy", "vs_torch"}
RESULT_KEYS = {"scenario", "threads", "repeats", "warmup", "thread_control", "peak_gflops",
               "results"}


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
    assert B.mlp_training_flops([784, 500, 500, 10]) == expected
    assert abs(expected / 1e6 - 3.1) < 0.01


def test_scenario_validation():
    sc = B.mlp_scenario([8, 4, 3], **TINY)
    assert sc["loss"] == "sparse_categorical_crossentropy"
    assert sc["flops_per_sample"] == B.mlp_training_flops([8, 4, 3])
    with pytest.raises(ValueError):
        B.mlp_scenario([8, 4, 3], output="sigmoid")
    with pytest.raises(ValueError):
        B.mlp_scenario([8, 4, 3], hidden_activation="nope")
    with pytest.raises(ValueError):
        B.mlp_scenario([8])


@pytest.mark.parametrize("output,layers", [("softmax", [8, 6, 3]), ("sigmoid", [8, 6, 4, 1])])
def test_benchmark_training_result_shape(output, layers):
    scenario = B.mlp_scenario(layers, output=output, **TINY)
    names = _local_contenders()
    res = B.benchmark_training(scenario, contenders=names, threads=1, repeats=2,
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
    B.set_peak(res, 20.0)
    assert res["peak_gflops"] == 20.0
    assert res["results"]["fastnn-numpy"]["fraction_of_peak"] == pytest.approx(frac / 2)


def test_missing_contender_is_skipped_with_reason(monkeypatch):
    real = B._optional_import
    monkeypatch.setattr(B, "_optional_import",
                        lambda m: None if m.split(".")[0] in ("torch", "sklearn") else real(m))
    monkeypatch.setattr(backend, "native_available", lambda: False)
    scenario = B.mlp_scenario([8, 6, 3], **TINY)
    res = B.benchmark_training(scenario, contenders=["fastnn-native", "fastnn-numpy",
                                                     "torch", "sklearn"],
                               threads=1, repeats=1)
    json.dumps(res)
    for name, word in (("torch", "PyTorch"), ("sklearn", "scikit-learn"),
                       ("fastnn-native", "native")):
        assert res["results"][name]["status"] == "skipped"
        assert word in res["results"][name]["reason"]
    assert res["results"]["fastnn-numpy"]["status"] == "ok"
    assert res["results"]["fastnn-numpy"]["vs_torch"] is None
    table = B.format_training_table([res])
    assert "skipped" in table and "fastnn-numpy" in table
    with pytest.raises(RuntimeError, match="PyTorch"):
        B.training_runner("torch", scenario)


def test_unknown_contender_is_refused():
    with pytest.raises(ValueError):
        B.benchmark_training(B.mlp_scenario([8, 6, 3], **TINY), contenders=["keras"])


def test_torch_contender_runs():
    pytest.importorskip("torch")
    scenario = B.mlp_scenario([8, 6, 1], output="sigmoid", **TINY)
    res = B.benchmark_training(scenario, contenders=["fastnn-numpy", "torch"], threads=1,
                               repeats=1)
    assert res["results"]["torch"]["status"] == "ok"
    assert res["results"]["torch"]["vs_torch"] == pytest.approx(1.0)
    assert res["results"]["fastnn-numpy"]["vs_torch"] is not None


def test_sklearn_contender_runs():
    pytest.importorskip("sklearn")
    res = B.benchmark_training(B.mlp_scenario([8, 6, 3], **TINY), contenders=["sklearn"],
                               threads=1, repeats=1)
    assert res["results"]["sklearn"]["status"] == "ok"


def test_interleaving_rotates_the_order():
    calls = []
    runners = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    times = B.interleaved_times(runners, repeats=3, warmup=1)
    assert calls == list("abc" "bca" "cab" "abc")
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}


def test_thread_limits_restore_everything():
    before = threads.get_num_threads()
    with threads.num_threads(2):  # an explicit setting that must come back
        with B.thread_limits(1) as control:
            assert fastnn.get_num_threads() == 1
            assert control["blas"] in ("threadpoolctl", "openblas-ctypes", "uncontrolled")
            assert isinstance(control["note"], str)
        assert threads.get_num_threads() == 2
    assert threads.get_num_threads() == before


def test_fma_peak_proxy_and_native_hook(monkeypatch):
    monkeypatch.setattr(B, "_native_fma_hook", lambda: None)  # as in a build without it
    peak = B.measure_fma_peak(1, size=64, repeats=1)
    json.dumps(peak)
    assert peak["gflops"] > 0 and peak["method"] == "numpy-matmul-proxy"
    assert "proxy" in peak["note"]
    monkeypatch.setattr(B, "_native_fma_hook", lambda: (lambda threads: 42.0 * threads))
    hooked = B.measure_fma_peak(2)
    assert hooked["method"] == "native-fma-loop" and hooked["gflops"] == 84.0


def test_machine_info_keys():
    info = B.machine_info()
    json.dumps(info)
    assert {"cpu_model", "cpu_flags", "logical_cores", "usable_cores", "fastnn_config",
            "versions", "blas_thread_control"} <= set(info)
    assert info["versions"]["numpy"] == np.__version__


def test_summary_and_scaling():
    s = B.summarize([1.0, 3.0, 2.0])
    assert s == {"median": 2.0, "min": 1.0, "max": 3.0, "spread": 1.0}
    ok = lambda v: {"status": "ok", "samples_per_s": {"median": v}}  # noqa: E731
    many = {"threads": 2, "results": {"a": ok(30.0), "b": {"status": "skipped"}}}
    few = {"threads": 1, "results": {"a": ok(20.0), "b": ok(5.0)}}
    assert B.thread_scaling(many, few) == {"threads": [2, 1], "a": 1.5, "b": None}


def test_contender_failing_mid_run_is_an_error_entry(monkeypatch):
    real = B._make_runner

    def make(name, *args):
        if name == "numpy-handwritten":
            def boom():
                raise MemoryError("simulated")
            return boom
        return real(name, *args)

    monkeypatch.setattr(B, "_make_runner", make)
    res = B.benchmark_training(B.mlp_scenario([8, 6, 3], **TINY),
                               contenders=["fastnn-numpy", "numpy-handwritten"],
                               threads=1, repeats=1)
    json.dumps(res)
    assert res["results"]["numpy-handwritten"] == {"status": "error",
                                                   "reason": "MemoryError: simulated"}
    assert res["results"]["fastnn-numpy"]["status"] == "ok"


def test_wide_deep_flops_and_runs_on_both_backends():
    sc = B.wide_deep_scenario(input_dim=10, batch_size=16, n_samples=48)
    # wide: fwd + dW; tower 10-100-32-8 as an MLP; head 9->1: fwd, dW, dx
    assert sc["flops_per_sample"] == 2 * 2 * 10 + B.mlp_training_flops([10, 100, 32, 8]) + 3 * 2 * 9
    assert sc["forward_flops_per_sample"] == 2 * 10 + B.forward_flops([10, 100, 32, 8]) + 2 * 9
    res = B.benchmark_training(sc, contenders=_local_contenders(), threads=1, repeats=1)
    json.dumps(res)
    assert res["results"]["numpy-handwritten"]["status"] == "skipped"
    assert "two-input" in res["results"]["numpy-handwritten"]["reason"]
    for name in _local_contenders():
        if name != "numpy-handwritten":
            assert res["results"][name]["status"] == "ok", res["results"][name]


def test_inference_and_min_seconds():
    base = B.mlp_scenario([8, 6, 3], **TINY)
    sc = B.inference_scenario(base, batch_size=1, n_samples=4)
    assert sc["task"] == "inference" and sc["name"].endswith("infer b1")
    res = B.benchmark_inference(sc, contenders=_local_contenders(), threads=1, repeats=2,
                                min_seconds=0.002, peak_gflops=10.0)
    json.dumps(res)
    for entry in res["results"].values():
        assert set(entry) == ENTRY_KEYS and entry["runs_per_sample"] >= 1
        assert entry["gflops"] == pytest.approx(
            entry["samples_per_s"]["median"] * sc["forward_flops_per_sample"] / 1e9)


def test_gemm_shapes_and_benchmark():
    shapes = B.gemm_shapes()
    assert len(shapes) == 3 + 3 * 3 * 3
    dz_wt = next(s for s in shapes if s["name"] == "b128 784x500 dz@w.T")
    assert (dz_wt["m"], dz_wt["n"], dz_wt["k"], dz_wt["transpose_b"]) == (128, 784, 500, True)
    names = [n for n in B.GEMM_CONTENDERS if B.contender_status(n)[0]]
    res = B.benchmark_gemm(dz_wt, contenders=names, threads=1, repeats=2, min_seconds=0.001,
                           peak_gflops=100.0)
    json.dumps(res)
    assert res["flops"] == 2 * 128 * 784 * 500
    for entry in res["results"].values():
        assert entry["status"] == "ok" and entry["gflops"]["median"] > 0
        assert entry["fraction_of_peak"] == pytest.approx(entry["gflops"]["median"] / 100.0)
    with pytest.raises(ValueError):
        B.benchmark_gemm(dz_wt, contenders=["torch"])
    assert B.scaling_thread_counts(1) == [1]
    assert B.scaling_thread_counts(6) == [1, 2, 4, 6]
