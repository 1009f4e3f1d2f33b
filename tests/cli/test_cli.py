"""The command line: ``fastnn demo`` and ``fastnn info`` (also ``python -m fastnn``)."""

import importlib.util
import os
import sys

import pytest
from subproc import run_python

from fastnn import backend, cli


def test_info_prints_the_configuration(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("fastnn", "backend", "openmp", "num_threads", "simd_kernel"):
        assert key in out


def test_demo_trains_and_reports_accuracy_and_speed(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the picture goes to the current folder
    assert cli.main(["demo", "--backend", "numpy", "--epochs", "2", "--verbose", "2"]) == 0
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "test accuracy" in out and "ms per epoch" in out
    if importlib.util.find_spec("matplotlib") is not None:
        assert "wrote fastnn-demo.png" in out
        assert (tmp_path / "fastnn-demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_picture_where_asked_or_not_at_all(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    picture = tmp_path / "curves" / "demo.png"
    assert cli.main(["demo", "--backend", "numpy", "--epochs", "1", "--verbose", "0",
                     "--plot", str(picture)]) == 0
    assert picture.stat().st_size > 1000
    assert f"wrote {picture}" in capsys.readouterr().out
    assert cli.main(["demo", "--backend", "numpy", "--epochs", "1", "--verbose", "0",
                     "--no-plot"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["curves"]
    assert "wrote" not in capsys.readouterr().out


def test_demo_without_matplotlib_says_so_and_succeeds(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["demo", "--backend", "numpy", "--epochs", "1", "--verbose", "0"]) == 0
    assert "pip install 'fastnn[plot]'" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []


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


def test_demo_lenet_trains_lenet5_with_the_progress_bar(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "--model", "lenet", "--backend", "numpy", "--epochs", "2",
                     "--batch-size", "64", "--verbose", "1", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "upscaled to 16x16 for LeNet-5" in out
    assert "Epoch 2/2" in out and "23/23" in out  # 1438 images in batches of 64
    assert "test accuracy" in out and "ms per epoch" in out


def test_demo_lenet_model_and_defaults():
    model = cli.lenet5()
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense",
        "Dense"]
    assert [getattr(layer, "filters", getattr(layer, "units", None))
            for layer in model.layers] == [6, None, 16, None, None, 120, 84, 10]
    assert model.layers[0].padding == "same" and model.layers[2].padding == "valid"
    assert model.layers[0].kernel_size == model.layers[2].kernel_size == (5, 5)
    import numpy as np
    images = cli.digits_as_images(np.arange(2 * 64).reshape(2, 64) % 17)
    assert images.shape == (2, 16, 16, 1) and images.dtype == np.float32
    # pixel (0, 1) of the first image is 1 (of 16); it fills rows 0-1, columns 2-3
    np.testing.assert_array_equal(images[0, :2, 2:4, 0], np.full((2, 2), 1 / 16))
    assert images.max() == 1.0 and images[0, 0, 0, 0] == 0
    # the usage error for a model the demo does not have
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--model", "resnet"])
    assert info.value.code == 2
    with pytest.raises(ValueError, match="Received: model='resnet'"):
        cli.run_demo(["numpy"], model="resnet")


@pytest.mark.skipif(not backend.native_available(), reason="native backend not built")
def test_demo_lenet_compares_backends():
    results = cli.run_demo(["native", "numpy"], epochs=1, batch_size=64, verbose=0, seed=0,
                           print_fn=lambda *a: None, model="lenet")
    assert set(results) == {"native", "numpy"}
    for r in results.values():
        assert 0.2 < r["accuracy"] <= 1 and r["samples_per_second"] > 0
    # the same seed and the same model: the backends agree to rounding
    assert abs(results["native"]["loss"] - results["numpy"]["loss"]) < 1e-3
