"""Convolutional networks learn: LeNet-5 on the bundled digits, and a BatchNormalization
CNN that trains and survives save/load_model.

The digits are 8x8; LeNet-5's second 5x5 convolution needs at least 6x6 maps after the
first pooling, so each pixel is repeated 2x2 (16x16 images, docs/convolutions.md).
"""

import pathlib
import re

import numpy as np
import pytest

import fastnn
from fastnn import backend, cli, layers
from fastnn.datasets import digits
from fastnn.models import Sequential, load_model

# the fastest backend built: the learning tests check the recipe, the backends are
# compared with each other in tests/kernels
FAST = "native" if backend.native_available() else "numpy"


def _digit_images():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    return ((cli.digits_as_images(x_train), y_train),
            (cli.digits_as_images(x_test), y_test))


def test_lenet5_reaches_97_percent_on_the_digits():
    """The recipe of docs/convolutions.md and ``fastnn demo --model lenet``: conv 6@5x5
    same, pool, conv 16@5x5 valid, pool, dense 120, 84, 10, all tanh."""
    (x_train, y_train), (x_test, y_test) = _digit_images()
    assert x_train.shape[1:] == (16, 16, 1)
    with backend.using(FAST):
        fastnn.utils.set_random_seed(0)
        model = cli.lenet5()
        assert model.output_shape == (None, 10)
        shapes, shape = [], (None, 16, 16, 1)
        for layer in model.layers[:5]:
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        assert shapes == [
            (None, 16, 16, 6), (None, 8, 8, 6), (None, 4, 4, 16), (None, 2, 2, 16),
            (None, 64)]
        # LeNet's 5x5 kernels: 6*(25+1) + 16*(6*25+1) + dense 64*120+120 + 120*84+84 + 850
        assert model.count_params() == 156 + 2416 + 7800 + 10164 + 850
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x_train, y_train, epochs=15, batch_size=16, verbose=0)
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 10
    assert accuracy >= 0.97, f"LeNet-5 reached only {accuracy:.4f} test accuracy"


def _batchnorm_cnn():
    # momentum 0.9, not Keras's default 0.99: 45 steps an epoch would leave the moving
    # statistics (what inference uses) far behind the batches' for several epochs
    return Sequential([
        layers.Input((16, 16, 1)),
        layers.Conv2D(8, 3, padding="same", use_bias=False),  # BN's beta is the bias
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", use_bias=False),
        layers.BatchNormalization(momentum=0.9),
        layers.Activation("relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def test_batchnorm_cnn_trains_and_round_trips_save_and_load(tmp_path):
    (x_train, y_train), (x_test, y_test) = _digit_images()
    with backend.using(FAST):
        fastnn.utils.set_random_seed(1)
        model = _batchnorm_cnn()
        bn = model.layers[1]
        # gamma, beta (trainable), moving mean and variance, one per channel of the conv
        assert [w.shape for w in bn.get_weights()] == [(8,)] * 4
        assert bn.count_params() == 32
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        assert accuracy >= 0.93, f"the BatchNormalization CNN reached only {accuracy:.4f}"
        gamma, beta, moving_mean, moving_var = bn.get_weights()
        # the moving statistics left their initial zeros and ones
        assert np.abs(moving_mean).max() > 1e-3 and np.abs(moving_var - 1).max() > 1e-3
        path = tmp_path / "bn_cnn.fastnn"
        model.save(path)
        loaded = load_model(path)
        np.testing.assert_array_equal(loaded.predict(x_test, verbose=0),
                                      model.predict(x_test, verbose=0))
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
        # and the loaded model keeps training where the saved one left off
        model.fit(x_train[:64], y_train[:64], epochs=1, batch_size=32, shuffle=False,
                  verbose=0)
        loaded.fit(x_train[:64], y_train[:64], epochs=1, batch_size=32, shuffle=False,
                   verbose=0)
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        # inference uses the moving statistics, training the batch's: they differ.
        # (model(x, training=True) updates the moving statistics, so it comes last)
        batch = x_test[:32]
        in_training = loaded(batch, training=True)
        assert np.abs(in_training - loaded.predict(batch, verbose=0)).max() > 1e-3


@pytest.mark.parametrize("backend_name", ["numpy"] + (["native"] if FAST == "native" else []))
def test_batchnorm_cnn_predictions_agree_across_backends(backend_name, tmp_path):
    """A model saved on one backend predicts the same on the other."""
    (_, _), (x_test, _) = _digit_images()
    other = "native" if backend_name == "numpy" else "numpy"
    with backend.using(backend_name):
        fastnn.utils.set_random_seed(2)
        model = _batchnorm_cnn()
        model.set_weights([w + 0.1 for w in model.get_weights()])  # non-trivial BN state
        want = model.predict(x_test[:50], verbose=0)
        model.save(tmp_path / "m.fastnn")
    if not backend.native_available():
        pytest.skip("native backend not built")
    with backend.using(other):
        got = load_model(tmp_path / "m.fastnn").predict(x_test[:50], verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _doc_blocks():
    text = (pathlib.Path(__file__).parents[2] / "docs" / "convolutions.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_docs_seed_003_program_runs_as_written(monkeypatch):
    """docs/convolutions.md's fashion_mnist program, with the download replaced by a few
    random images of the same shapes and dtypes (tests never download)."""
    from fastnn.datasets import fashion_mnist

    rng = np.random.default_rng(4)

    def stand_in(**kwargs):
        def split(n):
            return (rng.integers(0, 256, (n, 28, 28)).astype(np.uint8),
                    rng.integers(0, 10, n).astype(np.uint8))
        return split(40), split(8)
    monkeypatch.setattr(fashion_mnist, "load_data", stand_in)
    program = next(block for block in _doc_blocks() if "fashion_mnist" in block)
    namespace = {}
    with backend.using(FAST):
        exec(compile(program, "convolutions.md", "exec"), namespace)
    model = namespace["model"]
    assert model.output_shape == (None, 10)
    assert model.layers[-1].get_weights()[0].shape == (1024, 10)
    assert namespace["x_train"].shape == (40, 28, 28, 1)


def test_the_docs_lenet_recipe_is_the_tested_one():
    """The LeNet block in the docs builds the model this file trains (same configs)."""
    block = next(b for b in _doc_blocks() if "LeNet" in b or "Conv2D(6, 5" in b)
    assert "epochs=15, batch_size=16" in block and "repeat(2, axis=1)" in block
    namespace = {}
    # everything up to the training, which test_lenet5_reaches_97_percent... runs
    exec(compile(block.split("model.fit(")[0], "convolutions.md", "exec"), namespace)
    ours = [layer.get_config() for layer in namespace["model"].layers]
    demo = [layer.get_config() for layer in cli.lenet5().layers]
    for a, b in zip(ours, demo):
        a.pop("name"), b.pop("name")
    assert len(ours) == len(demo) == 8 and ours == demo
    x = digits.load_data()[0][0][:5]
    np.testing.assert_array_equal(namespace["images"](x), cli.digits_as_images(x))
