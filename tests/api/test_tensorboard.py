"""The TensorBoard callback: Keras' layout and tags, read back with TensorBoard's own
EventAccumulator.  Skipped when tensorboard is not installed (the test extra has it)."""

import json
import os
import sys

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.callbacks import ReduceLROnPlateau, TensorBoard

pytestmark = pytest.mark.usefixtures("ops_backend")


@pytest.fixture(autouse=True)
def _tensorboard():
    pytest.importorskip("tensorboard")


def _accumulator(run_dir):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc


def _scalars(acc, tag):
    """(steps, values) of a scalar tag, checking it is a scalar summary of the plugin
    TensorBoard's Scalars tab shows."""
    from tensorboard.util import tensor_util

    assert acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    events = acc.Tensors(tag)
    return ([e.step for e in events],
            [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events])


def _model(seed=0):
    fastnn.utils.set_random_seed(seed)
    model = fastnn.Sequential([
        layers.Dense(8, activation="relu", input_shape=(4,), name="hidden"),
        layers.Dense(3, activation="softmax", name="out"),
    ])
    model.compile(optimizer=fastnn.optimizers.SGD(learning_rate=0.05),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1)


def test_epoch_scalars_in_train_and_validation(tmp_path):
    model = _model()
    x, y = _data()
    history = model.fit(x, y, epochs=3, batch_size=10, validation_split=0.25, verbose=0,
                        callbacks=[TensorBoard(log_dir=tmp_path)])
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train, val = _accumulator(tmp_path / "train"), _accumulator(tmp_path / "validation")
    for name in ("loss", "accuracy"):
        steps, values = _scalars(train, f"epoch_{name}")
        assert steps == [0, 1, 2]
        np.testing.assert_allclose(values, history.history[name], rtol=1e-6)
        steps, values = _scalars(val, f"epoch_{name}")
        assert steps == [0, 1, 2]
        np.testing.assert_allclose(values, history.history[f"val_{name}"], rtol=1e-6)
    steps, lrs = _scalars(train, "epoch_learning_rate")
    assert steps == [0, 1, 2] and lrs == pytest.approx([0.05] * 3)
    assert "epoch_learning_rate" not in val.Tags()["tensors"]
    assert not any(tag.startswith("batch_") for tag in train.Tags()["tensors"])
    # after each validation run, against the optimizer's iterations (3 batches an epoch)
    steps, _ = _scalars(val, "evaluation_loss_vs_iterations")
    assert steps == [3, 6, 9]


def test_learning_rate_follows_the_optimizer(tmp_path):
    model = _model()
    x, y = _data()
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    model.fit(x, y, epochs=3, batch_size=10, verbose=0,
              callbacks=[reduce, TensorBoard(log_dir=tmp_path)])
    _, lrs = _scalars(_accumulator(tmp_path / "train"), "epoch_learning_rate")
    # the optimizer's rate when the epoch ends (the first epoch is an improvement, each
    # later one is not and halves the rate before TensorBoard reads it), as in Keras
    assert lrs == pytest.approx([0.05, 0.025, 0.0125])
    assert not os.path.exists(tmp_path / "validation")  # no validation, no folder


@pytest.mark.parametrize("update_freq, steps", [("batch", [1, 2, 3, 4, 5, 6, 7, 8]),
                                                (3, [3, 6])])
def test_batch_scalars(update_freq, steps, tmp_path):
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=10, verbose=0,
              callbacks=[TensorBoard(log_dir=tmp_path, update_freq=update_freq,
                                     write_steps_per_second=True)])
    train = _accumulator(tmp_path / "train")
    got_steps, losses = _scalars(train, "batch_loss")
    assert got_steps == steps
    assert all(np.isfinite(losses))
    assert _scalars(train, "batch_accuracy")[0] == steps
    assert _scalars(train, "batch_steps_per_second")[0] == steps
    assert _scalars(train, "epoch_steps_per_second")[0] == [0, 1]


def test_weight_histograms(tmp_path):
    from tensorboard.util import tensor_util

    model = _model()
    x, y = _data()
    # epochs 0, 1, 2: histograms after 0 and 2, the last one of the final weights
    model.fit(x, y, epochs=3, batch_size=10, verbose=0,
              callbacks=[TensorBoard(log_dir=tmp_path, histogram_freq=2)])
    train = _accumulator(tmp_path / "train")
    tags = {"hidden/kernel/histogram", "hidden/bias/histogram", "out/kernel/histogram",
            "out/bias/histogram"}
    assert tags <= set(train.Tags()["tensors"])
    events = train.Tensors("hidden/kernel/histogram")
    assert [e.step for e in events] == [0, 2]
    assert train.SummaryMetadata("hidden/kernel/histogram").plugin_data.plugin_name == \
        "histograms"
    buckets = tensor_util.make_ndarray(events[-1].tensor_proto)  # (left, right, count)
    kernel = model.get_layer("hidden").kernel.value
    assert buckets[:, 2].sum() == kernel.size
    assert buckets[0, 0] == pytest.approx(kernel.min(), rel=1e-6)
    assert buckets[-1, 1] == pytest.approx(kernel.max(), rel=1e-6)


def test_no_histograms_by_default(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(log_dir=tmp_path)])
    assert not any("histogram" in t for t in _accumulator(tmp_path / "train").Tags()["tensors"])


def _graph_inputs(run_dir, model):
    """{node: its inputs} of the graph TensorBoard draws, names without the model's
    scope (TensorBoard puts a model's layers under its name)."""
    scope = f"{model.name}/"
    strip = lambda name: name[len(scope):] if name.startswith(scope) else name  # noqa: E731
    return {strip(node.name): [strip(i) for i in node.input]
            for node in _graph_def(run_dir).node}


def _graph_def(run_dir):
    from tensorboard.plugins.graph import keras_util
    from tensorboard.util import tensor_util

    acc = _accumulator(run_dir)
    assert acc.SummaryMetadata("keras").plugin_data.plugin_name == "graph_keras_model"
    (event,) = acc.Tensors("keras")
    config = json.loads(tensor_util.make_ndarray(event.tensor_proto).item())
    return keras_util.keras_model_to_graph_def(config)


def test_write_graph_gives_tensorboard_the_conceptual_graph(tmp_path):
    a = layers.Input(shape=(4,), name="a")
    b = layers.Input(shape=(2,), name="b")
    joined = layers.Concatenate(name="join")([layers.Dense(3, name="da")(a), b])
    out = layers.Dense(1, name="head")(joined)
    model = fastnn.Model(inputs=[a, b], outputs=out)
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    model.fit([rng.normal(size=(8, 4)), rng.normal(size=(8, 2))], rng.normal(size=(8, 1)),
              epochs=1, verbose=0, callbacks=[TensorBoard(log_dir=tmp_path)])
    inputs = _graph_inputs(tmp_path / "train", model)
    assert inputs["join"] == ["da", "b"] and inputs["head"] == ["join"]
    assert inputs["da"] == ["a"]


def test_write_graph_sequential_and_off(tmp_path):
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(log_dir=tmp_path / "on")])
    inputs = _graph_inputs(tmp_path / "on" / "train", model)
    assert list(inputs)[-2:] == ["hidden", "out"]
    assert inputs["out"] == ["hidden"] and inputs["hidden"] == [list(inputs)[-3]]
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[TensorBoard(log_dir=tmp_path / "off", write_graph=False)])
    assert "keras" not in _accumulator(tmp_path / "off" / "train").Tags()["tensors"]


@pytest.mark.parametrize("kwargs, name", [
    ({"update_freq": "sometimes"}, "update_freq"),
    ({"update_freq": 0}, "update_freq"),
    ({"update_freq": True}, "update_freq"),
    ({"histogram_freq": -1}, "histogram_freq"),
    ({"histogram_freq": 1.5}, "histogram_freq"),
    ({"write_graph": "yes"}, "write_graph"),
    ({"log_dir": 3}, "log_dir"),
    ({"write_images": True}, "write_images"),
    ({"profile_batch": 5}, "profile_batch"),
    ({"embeddings_freq": 1}, "embeddings_freq"),
])
def test_bad_arguments_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        TensorBoard(**kwargs)


def test_without_tensorboard_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install 'fastnn\[tensorboard\]'"):
        TensorBoard()
