"""The CNN benchmark runs end to end in smoke mode (seconds; its numbers mean nothing).

Plain tests, not pytest-benchmark ones: ``benchmarks/bench_cnn.py`` and ``fastnn bench
--only cnn`` time in fresh processes themselves.  Run with ``pytest benchmarks/test_bench_cnn.py``.
"""

import os
import subprocess
import sys

import pytest

from fastnn import backend
from fastnn.bench import cnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_flop_counts_follow_the_layer_shapes():
    # LeNet: 28x28 same 5x5 1->6, then 14x14 -> 10x10 valid 5x5 6->16
    assert cnn.forward_conv_flops("lenet") == 2 * (28 * 28 * 25 * 6 + 10 * 10 * 150 * 16)
    assert [s[6:] for s in cnn.conv_shapes("vgg")] == [(32, 32), (32, 32), (16, 16), (16, 16)]


def test_measure_rejects_unknown_names():
    with pytest.raises(ValueError, match="models"):
        cnn.measure("smoke", models=["resnet"], peak_gflops=1.0)
    with pytest.raises(ValueError, match="preset"):
        cnn.measure("huge", peak_gflops=1.0)


@pytest.mark.skipif(not backend.native_available(), reason="native extension not built")
def test_bench_cnn_smoke_prints_the_table():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_cnn.py"),
                          "--smoke", "--threads", "1", "--models", "lenet", "--contenders",
                          "fastnn-native", "fastnn-numpy"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "CPU:" in text and "FMA peak" in text and "% FMA peak" in text
    rows = [line for line in text.splitlines() if line.startswith("LeNet-5")]
    assert len(rows) == 2, text
    native = next(r for r in rows if "fastnn-native" in r)
    assert float(native.split()[3]) > 0  # samples/s were measured


@pytest.mark.skipif(not backend.native_available(), reason="native extension not built")
def test_fastnn_bench_only_cnn_records_every_contender():
    from fastnn.bench import run

    doc = run.run_bench("smoke", contenders=["fastnn-native", "torch"], threads=1,
                        sections=["cnn"])
    runs = doc["cnn"]["runs"]
    assert [(r["model"], r["contender"]) for r in runs] == [
        (m, c) for m in cnn.MODELS for c in ("fastnn-native", "torch")]
    for r in runs:
        if r["contender"] == "torch" and r["status"].startswith("skipped"):
            continue  # torch not installed
        assert r["status"] == "ok", r["status"]
        assert r["samples_per_s"] > 0 and r["rss_peak_mib"] >= r["rss_start_mib"] > 0
        assert 0 < r["fraction_of_peak"]
    from fastnn.bench import report

    assert "CNN training" in report.format_text(doc)
