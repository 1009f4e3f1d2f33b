"""The command line: ``fastnn demo`` and ``fastnn info`` (also ``python -m fastnn``)."""

import pytest
from subproc import run_python

from fastnn import backend, cli


def test_info_prints_the_configuration(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("fastnn", "backend", "openmp", "num_threads", "simd_kernel"):
        assert key in out


def test_demo_trains_and_reports_accuracy_and_speed(capsys):
    assert cli.main(["demo", "--backend", "numpy", "--epochs", "2", "--verbose", "2"]) == 0
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "test accuracy" in out and "ms per epoch" in out


@pytest.mark.skipif(not backend.native_available(), reason="native backend not built")
def test_demo_compares_backends():
    results = cli.run_demo(["native", "numpy"], epochs=1, batch_size=100, verbose=0, seed=0,
                           print_fn=lambda *a: None)
    assert set(results) == {"native", "numpy"}
    assert all(0 <= r["accuracy"] <= 1 and r["samples_per_second"] > 0 for r in results.values())


def test_python_dash_m_and_bad_arguments():
    proc = run_python(["-m", "fastnn", "info"])
    assert proc.returncode == 0 and "num_threads" in proc.stdout
    proc = run_python(["-m", "fastnn", "demo", "--epochs", "0"])
    assert proc.returncode == 2 and "--epochs" in proc.stderr
    proc = run_python(["-m", "fastnn", "nonsense"])
    assert proc.returncode == 2
