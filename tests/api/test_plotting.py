"""plot_history: the training curves of fit as a matplotlib figure (optional extra)."""

import os
import sys

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.utils import plot_history
from fastnn.utils.plotting import history_series

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def history():
    fastnn.utils.set_random_seed(0)
    model = fastnn.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    return model.fit(x, (x[:, 0] > 0).astype(int), epochs=4, validation_split=0.2,
                     verbose=0)


def test_series_group_training_and_validation(history):
    epochs, panels = history_series(history)
    assert epochs == [1, 2, 3, 4]
    assert [q for q, _ in panels] == ["loss", "accuracy"]
    loss = dict(panels)["loss"]
    assert loss["training"] == history.history["loss"]
    assert loss["validation"] == history.history["val_loss"]


def test_series_of_a_plain_dict_loss_first():
    epochs, panels = history_series({"accuracy": [0.5, 0.6], "val_mae": [3.0, 2.0],
                                     "loss": [1.0, 0.5]})
    assert epochs == [1, 2]
    assert panels == [("loss", {"training": [1.0, 0.5]}),
                      ("accuracy", {"training": [0.5, 0.6]}),
                      ("mae", {"validation": [3.0, 2.0]})]


def test_png_written_and_non_empty(history, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "plots" / "history.png"  # the folder is created
    fig = plot_history(history, path, title="run 1")
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000
    assert os.listdir(tmp_path / "plots") == ["history.png"]  # no temporary file left
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    lines = axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["training", "validation"]
    np.testing.assert_allclose(lines[0].get_ydata(), history.history["loss"])
    np.testing.assert_allclose(lines[1].get_xdata(), [1, 2, 3, 4])


def test_other_formats_by_extension_and_bad_ones_refused(history, tmp_path):
    pytest.importorskip("matplotlib")
    plot_history(history.history, tmp_path / "h.svg")
    assert b"<svg" in (tmp_path / "h.svg").read_bytes()[:500]
    with pytest.raises(ValueError, match="`path`"):
        plot_history(history, tmp_path / "h.docx")
    assert sorted(os.listdir(tmp_path)) == ["h.svg"]


def test_without_path_the_figure_comes_from_pyplot(history):
    plt = pytest.importorskip("matplotlib.pyplot")
    fig = plot_history(history)
    assert fig.number in plt.get_fignums()  # so plt.show() and notebooks display it
    plt.close(fig)


@pytest.mark.parametrize("bad", [{}, [], "loss", {"loss": 0.5}, None])
def test_bad_history_refused(bad):
    with pytest.raises(ValueError, match="`history`"):
        plot_history(bad)


def test_without_matplotlib_the_error_names_the_extra(history, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'fastnn\[plot\]'"):
        plot_history(history, tmp_path / "h.png")
    assert not os.listdir(tmp_path)
