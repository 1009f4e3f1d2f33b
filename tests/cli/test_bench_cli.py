"""``fastnn bench`` at its smallest size: it runs and writes what docs/benchmarks.md says.

No test here asserts a speed.  The run uses ``--smoke`` (a few steps of every model) and
hides PyTorch and scikit-learn, so it stays fast and shows how a missing contender is
reported; PyTorch's own contender is covered by tests/cli/test_benchmarking.py.
"""

import json
import os

import pytest

from fastnn import backend, bench, cli
from fastnn.bench import optional
from subproc import run_python

TOP_KEYS = {"format", "format_version", "command", "preset", "started_at", "settings",
            "machine", "contenders", "fma_peak", "gemm", "training", "inference",
            "scaling", "notes", "elapsed_s", "outputs"}
MACHINE_KEYS = {"cpu_model", "cpu_flags", "logical_cores", "usable_cores", "simd_kernel",
                "fastnn_config", "versions", "blas_thread_control", "thread_settings"}
HIDDEN = ("torch", "sklearn")


def _hide_optional(monkeypatch, names):
    real = optional.load
    monkeypatch.setattr(optional, "load",
                        lambda m: None if m.split(".")[0] in names else real(m))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One ``fastnn bench --smoke`` run with PyTorch and scikit-learn hidden."""
    out = tmp_path_factory.mktemp("bench")
    contenders = ["fastnn-numpy", "numpy-handwritten", "torch", "sklearn"]
    if backend.native_available():
        contenders.insert(0, "fastnn-native")
    previous = backend.current()
    with pytest.MonkeyPatch.context() as mp:
        _hide_optional(mp, HIDDEN)
        capture = []
        mp.setattr("builtins.print", lambda *a, **k: capture.append(" ".join(map(str, a))))
        code = cli.main(["bench", "--smoke", "--out", str(out), "--contenders", *contenders])
    backend.set_backend(previous.name)
    with open(out / "results.json", encoding="utf-8") as f:
        doc = json.load(f)
    return {"code": code, "out": out, "doc": doc, "stdout": "\n".join(capture),
            "contenders": contenders}


def test_bench_runs_and_writes_documented_json(smoke_run):
    assert smoke_run["code"] == 0
    doc = smoke_run["doc"]
    assert TOP_KEYS <= set(doc)
    assert doc["format"] == "fastnn-bench" and doc["preset"] == "smoke"
    assert MACHINE_KEYS <= set(doc["machine"])
    assert doc["machine"]["versions"]["numpy"]
    assert doc["settings"]["contenders"] == smoke_run["contenders"]
    assert doc["fma_peak"] and all(p["gflops"] > 0 for p in doc["fma_peak"].values())
    # every model at every batch size of the preset, every section
    labels = {r["scenario"]["label"] for r in doc["training"]}
    assert labels == {label for _, label, _ in bench.seed_models()}
    assert {r["scenario"]["batch_size"] for r in doc["inference"]} == {1, 32}
    assert doc["gemm"] and doc["scaling"]["training"] and doc["scaling"]["gemm"]
    assert "training" in doc["scaling"]["speedup"]
    for res in doc["training"] + doc["inference"]:
        entry = res["results"]["fastnn-numpy"]
        assert entry["status"] == "ok"
        assert entry["samples_per_s"]["min"] <= entry["samples_per_s"]["median"]
    for res in doc["gemm"]:
        assert res["results"]["fastnn-numpy"]["gflops"]["median"] > 0
    if backend.native_available():
        nat = doc["training"][0]["results"]["fastnn-native"]
        assert nat["vs_fastnn_numpy"] > 0 and nat["fraction_of_peak"] > 0


def test_missing_contenders_are_listed_as_skipped(smoke_run):
    doc = smoke_run["doc"]
    for name, word in (("torch", "PyTorch"), ("sklearn", "scikit-learn")):
        assert doc["contenders"][name]["status"] == "skipped"
        assert word in doc["contenders"][name]["reason"]
        assert all(r["results"][name]["status"] == "skipped" for r in doc["training"])
    assert "skipped: torch" in smoke_run["stdout"]
    assert "native/torch" not in smoke_run["stdout"]  # no ratio against a missing reference
    # a contender that cannot express a model is "n/a" with the reason
    wide = next(r for r in doc["training"] if r["scenario"]["model"] == "wide_deep")
    assert wide["results"]["numpy-handwritten"]["status"] == "skipped"
    assert "n/a" in smoke_run["stdout"]


def test_markdown_report_and_terminal_table(smoke_run):
    md = (smoke_run["out"] / "report.md").read_text(encoding="utf-8")
    for title in ("## GEMM", "## Training", "## Inference", "## Thread scaling"):
        assert title in md
    assert "| model | batch |" in md and "fastnn-numpy" in md
    assert "fastnn bench --smoke" in md
    assert "Training, samples/s" in smoke_run["stdout"]
    assert str(smoke_run["out"] / "results.json") in smoke_run["stdout"]


def test_chart_written_when_matplotlib_is_present(smoke_run):
    outputs = smoke_run["doc"]["outputs"]
    if optional.load("matplotlib") is None:
        assert outputs["chart"] is None and "matplotlib" in outputs["chart_note"]
        pytest.skip("matplotlib is not installed: the chart is skipped with a note")
    chart = smoke_run["out"] / "chart.png"
    assert outputs["chart"] == str(chart)
    with open(chart, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "![fastnn bench chart](chart.png)" in (smoke_run["out"] / "report.md").read_text()


def test_chart_skipped_with_a_note_without_matplotlib(smoke_run, monkeypatch, tmp_path):
    _hide_optional(monkeypatch, ("matplotlib",))
    doc = dict(smoke_run["doc"], outputs={})
    outputs = bench.write_outputs(doc, str(tmp_path))
    assert outputs["chart"] is None and "matplotlib" in outputs["chart_note"]
    assert not os.path.exists(tmp_path / "chart.png")
    assert json.loads((tmp_path / "results.json").read_text())["outputs"]["chart"] is None


def test_bad_arguments_and_python_dash_m():
    with pytest.raises(ValueError, match="preset"):
        bench.run_bench("huge")
    with pytest.raises(ValueError, match="sections"):
        bench.run_bench("smoke", sections=["nope"])
    with pytest.raises(ValueError, match="contender"):
        bench.run_bench("smoke", contenders=["keras"])
    proc = run_python(["-m", "fastnn", "bench", "--help"])
    assert proc.returncode == 0 and "--quick" in proc.stdout and "--out" in proc.stdout
    proc = run_python(["-m", "fastnn", "bench", "--threads", "0"])
    assert proc.returncode == 2 and "--threads" in proc.stderr


def test_count_options_refuse_with_check_ints_message(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["bench", "--threads", "3", "--repeats", "2"])
    assert (args.threads, args.repeats) == (3, 2)
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(["bench", "--repeats", bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert ("argument --repeats: Invalid value for argument `repeats`: expected an "
                "integer >= 1. Received: repeats=") in err


def test_every_smoke_table_says_its_numbers_mean_nothing(smoke_run):
    tables = bench.report_tables(smoke_run["doc"])
    assert len(tables) >= 4  # GEMM, training, inference, scaling
    assert all(t["notes"][0] == bench.SMOKE_NOTE for t in tables)
    # once per table in the terminal report and in the Markdown one
    assert smoke_run["stdout"].count(bench.SMOKE_NOTE) == len(tables)
    markdown = (smoke_run["out"] / "report.md").read_text(encoding="utf-8")
    assert markdown.count(bench.SMOKE_NOTE) == len(tables)


def test_a_measuring_preset_carries_no_smoke_note(smoke_run):
    doc = dict(smoke_run["doc"], preset="quick")
    assert all(bench.SMOKE_NOTE not in t["notes"] for t in bench.report_tables(doc))


def test_the_report_names_the_cpu_family_and_model(smoke_run):
    cpu = smoke_run["doc"]["machine"]["fastnn_config"].get("cpu")
    if not cpu:
        pytest.skip("this build reports no CPU identification")
    assert f"CPU: {cpu}," in smoke_run["stdout"]
