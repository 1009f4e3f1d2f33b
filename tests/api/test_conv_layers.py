"""The convolution, pooling and image layers as a user meets them: shapes, summary(),
count_params(), configs, saving, Keras's weight layout, and the errors for bad input.

The numerics (gradients, backends against each other, PyTorch) are tested in
tests/gradients/test_conv_gradients.py and tests/kernels/; bad constructor arguments in
tests/api/test_validation.py.  Here every layer runs inside a model, on each backend.
"""

import json
import re

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.layers import REGISTRY
from fastnn.models import Sequential, load_model

# (layer factory, input shape without the batch axis, output shape, parameter count);
# the counts are worked out by hand from Keras's kernel shapes.
CASES = [
    pytest.param(lambda: layers.Conv2D(4, 3), (9, 7, 2), (7, 5, 4), 3 * 3 * 2 * 4 + 4,
                 id="conv2d-valid"),
    pytest.param(lambda: layers.Conv2D(5, (3, 1), strides=2, padding="same",
                                       use_bias=False),
                 (9, 8, 3), (5, 4, 5), 3 * 1 * 3 * 5, id="conv2d-same-stride2-nobias"),
    pytest.param(lambda: layers.Conv2D(4, 3, dilation_rate=2, activation="relu"),
                 (10, 9, 2), (6, 5, 4), 3 * 3 * 2 * 4 + 4, id="conv2d-dilated"),
    pytest.param(lambda: layers.Conv2D(6, 3, groups=2, activation="tanh"),
                 (8, 8, 4), (6, 6, 6), 3 * 3 * 2 * 6 + 6, id="conv2d-groups"),
    pytest.param(lambda: layers.Conv2D(3, 2, data_format="channels_first"),
                 (2, 6, 5), (3, 5, 4), 2 * 2 * 2 * 3 + 3, id="conv2d-channels-first"),
    pytest.param(lambda: layers.Conv1D(4, 3), (10, 2), (8, 4), 3 * 2 * 4 + 4,
                 id="conv1d-valid"),
    pytest.param(lambda: layers.Conv1D(4, 3, strides=2, padding="causal"), (11, 3),
                 (6, 4), 3 * 3 * 4 + 4, id="conv1d-causal-stride2"),
    pytest.param(lambda: layers.Conv1D(2, 4, padding="same", activation="sigmoid"),
                 (7, 3), (7, 2), 4 * 3 * 2 + 2, id="conv1d-same"),
    pytest.param(lambda: layers.MaxPooling2D(), (7, 6, 3), (3, 3, 3), 0, id="maxpool2d"),
    pytest.param(lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (7, 6, 3),
                 (4, 3, 3), 0, id="maxpool2d-same"),
    pytest.param(lambda: layers.AveragePooling2D((2, 3)), (6, 7, 2), (3, 2, 2), 0,
                 id="avgpool2d"),
    pytest.param(lambda: layers.AveragePooling2D(2, strides=1, padding="same"),
                 (5, 4, 2), (5, 4, 2), 0, id="avgpool2d-same"),
    pytest.param(lambda: layers.MaxPooling1D(3), (10, 2), (3, 2), 0, id="maxpool1d"),
    pytest.param(lambda: layers.AveragePooling1D(2, strides=1, padding="same"), (5, 2),
                 (5, 2), 0, id="avgpool1d-same"),
    pytest.param(lambda: layers.GlobalAveragePooling2D(), (8, 6, 3), (3,), 0,
                 id="gap2d"),
    pytest.param(lambda: layers.GlobalMaxPooling2D(keepdims=True), (8, 6, 3), (1, 1, 3),
                 0, id="gmp2d-keepdims"),
    pytest.param(lambda: layers.GlobalAveragePooling2D(data_format="channels_first",
                                                       keepdims=True),
                 (3, 5, 4), (3, 1, 1), 0, id="gap2d-channels-first"),
    pytest.param(lambda: layers.GlobalAveragePooling1D(), (7, 4), (4,), 0, id="gap1d"),
    pytest.param(lambda: layers.GlobalMaxPooling1D(keepdims=True), (7, 4), (1, 4), 0,
                 id="gmp1d-keepdims"),
    pytest.param(lambda: layers.ZeroPadding2D(), (4, 5, 2), (6, 7, 2), 0, id="zeropad"),
    pytest.param(lambda: layers.ZeroPadding2D(((1, 2), (0, 3))), (4, 5, 2), (7, 8, 2), 0,
                 id="zeropad-asymmetric"),
    pytest.param(lambda: layers.SpatialDropout2D(0.5, seed=3), (4, 4, 3), (4, 4, 3), 0,
                 id="spatial-dropout"),
]


def _model(make, in_shape):
    layer = make()
    return Sequential([layers.Input(in_shape), layer]), layer


def _batch(in_shape, n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n,) + in_shape).astype("float32")


@pytest.mark.parametrize("make, in_shape, out_shape, params", CASES)
def test_shapes_summary_and_parameter_count(make, in_shape, out_shape, params,
                                            ops_backend):
    model, layer = _model(make, in_shape)
    assert layer.compute_output_shape((None,) + in_shape) == (None,) + out_shape
    assert model.output_shape == (None,) + out_shape
    assert layer.count_params() == params and model.count_params() == params
    # what runs has the shape that inference promised, in training and inference
    x = _batch(in_shape)
    assert model.predict(x, verbose=0).shape == (3,) + out_shape
    assert model(x, training=True).shape == (3,) + out_shape
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    row = next(line for line in text.splitlines() if f"({type(layer).__name__})" in line)
    assert str((None,) + out_shape) in row and re.search(rf"\b{params}\b", row), row
    assert f"Total params: {params}" in text


@pytest.mark.parametrize("make, in_shape, out_shape, params", CASES)
def test_config_round_trip_rebuilds_the_same_layer(make, in_shape, out_shape, params):
    model, layer = _model(make, in_shape)
    config = layer.get_config()
    json.dumps(config)  # configs are saved as JSON
    cls = REGISTRY[type(layer).__name__]
    assert cls is type(layer)
    clone = cls.from_config(config)
    assert clone.get_config() == config
    twin = Sequential([layers.Input(in_shape), clone])
    twin.set_weights(model.get_weights())
    x = _batch(in_shape)
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("make, in_shape, out_shape, params", CASES)
def test_save_and_load_model_give_the_same_predictions(make, in_shape, out_shape, params,
                                                       tmp_path):
    model, layer = _model(make, in_shape)
    if params:  # non-zero biases, so that a bias lost on the way would show
        model.set_weights([w + 0.25 for w in model.get_weights()])
    path = tmp_path / "model.fastnn"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded.layers[-1]) is type(layer)
    assert loaded.layers[-1].get_config() == layer.get_config()
    x = _batch(in_shape, n=5, seed=1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_keras_defaults_in_the_configs():
    conv = layers.Conv2D(8, 3).get_config()
    assert (conv["strides"], conv["padding"], conv["data_format"], conv["dilation_rate"],
            conv["groups"], conv["activation"], conv["use_bias"]) == (
        [1, 1], "valid", "channels_last", [1, 1], 1, "linear", True)
    assert conv["kernel_size"] == [3, 3]
    pool = layers.MaxPooling2D().get_config()
    assert (pool["pool_size"], pool["strides"], pool["padding"]) == ([2, 2], [2, 2],
                                                                     "valid")
    assert layers.MaxPooling2D(3, strides=1).get_config()["strides"] == [1, 1]
    assert layers.GlobalAveragePooling2D().get_config()["keepdims"] is False
    assert layers.ZeroPadding2D().get_config()["padding"] in ([[1, 1], [1, 1]],
                                                              ((1, 1), (1, 1)))
    # Keras's short names are the same classes
    assert layers.MaxPool2D is layers.MaxPooling2D
    assert layers.AvgPool1D is layers.AveragePooling1D


# ------------------------------------------------------------------ Keras's weight layout


def _correlate2d(x, kernel, bias):
    """Keras's convolution written out: a cross-correlation (the kernel not flipped),
    valid padding, stride 1, kernel indexed (row, column, in channel, filter)."""
    kh, kw = kernel.shape[:2]
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for a in range(kh):
        for b in range(kw):
            out += np.einsum("nijc,cf->nijf", x[:, a:a + oh, b:b + ow, :], kernel[a, b])
    return out + bias


def test_conv2d_kernel_is_kh_kw_in_filters(ops_backend):
    fastnn.config.set_floatx("float64")
    model = Sequential([layers.Input((6, 7, 3)), layers.Conv2D(4, (3, 2))])
    conv = model.layers[-1]
    assert conv.kernel.shape == (3, 2, 3, 4) and conv.bias.shape == (4,)
    assert [w.shape for w in conv.get_weights()] == [(3, 2, 3, 4), (4,)]
    rng = np.random.default_rng(5)
    kernel, bias = rng.normal(size=(3, 2, 3, 4)), rng.normal(size=4)
    conv.set_weights([kernel, bias])
    x = rng.normal(size=(2, 6, 7, 3))
    np.testing.assert_allclose(model.predict(x, verbose=0), _correlate2d(x, kernel, bias),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(conv.get_weights()[0], kernel)


def test_conv1d_kernel_is_k_in_filters(ops_backend):
    fastnn.config.set_floatx("float64")
    model = Sequential([layers.Input((9, 2)), layers.Conv1D(3, 4)])
    conv = model.layers[-1]
    assert conv.kernel.shape == (4, 2, 3)
    rng = np.random.default_rng(6)
    kernel, bias = rng.normal(size=(4, 2, 3)), rng.normal(size=3)
    conv.set_weights([kernel, bias])
    x = rng.normal(size=(2, 9, 2))
    want = _correlate2d(x[:, None], kernel[None], bias)[:, 0]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-12, atol=1e-12)


def test_flatten_keeps_keras_row_major_h_w_c_order(ops_backend):
    x = _batch((3, 4, 2))
    flat = Sequential([layers.Input((3, 4, 2)), layers.Flatten()]).predict(x, verbose=0)
    np.testing.assert_array_equal(flat, x.reshape(3, -1))
    # channels_first input flattens in the same (h, w, c) order, as in Keras
    first = Sequential([layers.Input((2, 3, 4)),
                        layers.Flatten(data_format="channels_first")])
    np.testing.assert_array_equal(
        first.predict(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), verbose=0), flat)


# ---------------------------------------------------------------------------- bad input


def test_two_dimensional_data_into_conv2d_names_the_expected_layout():
    model = Sequential([layers.Conv2D(4, 3)])
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros((5, 64), "float32"), verbose=0)
    message = str(info.value)
    assert "Conv2D" in message and "expects 4-D inputs (batch, height, width, channels)" \
        in message and message.endswith("Received: input_shape=(None, 64)"), message
    with pytest.raises(ValueError, match=r"expects 3-D inputs \(batch, steps, channels\)"):
        Sequential([layers.Conv1D(4, 3, input_shape=(10, 2, 1))])


def test_grayscale_images_without_their_channel_axis_get_a_hint():
    x = np.zeros((5, 12, 12), "float32")
    with pytest.raises(ValueError, match=re.escape(
            "(a single channel without its axis? Add it with x[..., None]). "
            "Received: input_shape=(None, 12, 12)")):
        Sequential([layers.Conv2D(4, 3)]).predict(x, verbose=0)
    built = Sequential([layers.Input((12, 12, 1)), layers.Conv2D(4, 3)])
    with pytest.raises(ValueError, match=re.escape(
            "expected shape (None, 12, 12, 1), received shape (5, 12, 12) (add the missing "
            "channel axis with x[..., None])")):
        built.predict(x, verbose=0)
    assert built.predict(x[..., None], verbose=0).shape == (5, 10, 10, 4)
    # three channels given where one is expected is no missing axis: no hint
    with pytest.raises(ValueError) as info:
        built.predict(np.zeros((5, 12, 12, 3), "float32"), verbose=0)
    assert "missing channel axis" not in str(info.value)


@pytest.mark.parametrize("make, argument, shown", [
    (lambda: layers.Conv2D(4, 5), "kernel_size", (5, 5)),
    (lambda: layers.Conv2D(4, (2, 5), dilation_rate=1), "kernel_size", (2, 5)),
    (lambda: layers.Conv2D(4, 3, dilation_rate=2), "kernel_size", (3, 3)),
    (lambda: layers.MaxPooling2D(5), "pool_size", (5, 5)),
    (lambda: layers.AveragePooling2D((1, 6)), "pool_size", (1, 6)),
])
def test_window_larger_than_a_valid_input(make, argument, shown):
    with pytest.raises(ValueError) as info:
        Sequential([layers.Input((4, 4, 1)), make()])
    message = str(info.value)
    assert f"Invalid value for argument `{argument}`" in message, message
    assert "spatial size (4, 4) (with padding='valid')" in message, message
    assert message.endswith(f"Received: {argument}={shown!r}"), message


def test_window_larger_than_its_input_is_fine_with_same_padding():
    model = Sequential([layers.Input((4, 4, 1)), layers.Conv2D(2, 5, padding="same"),
                        layers.MaxPooling2D(5, padding="same")])
    assert model.output_shape == (None, 1, 1, 2)
    assert model.predict(_batch((4, 4, 1)), verbose=0).shape == (3, 1, 1, 2)


def test_window_too_large_for_the_data_given_to_an_unbuilt_model():
    model = Sequential([layers.Conv1D(2, 6)])
    with pytest.raises(ValueError, match=r"spatial size \(4,\).*Received: kernel_size=\(6,\)"):
        model.predict(np.zeros((2, 4, 3), "float32"), verbose=0)


@pytest.mark.parametrize("make, argument, value", [
    (lambda: layers.Conv2D(0, 3), "filters", 0),
    (lambda: layers.Conv2D(-3, 3), "filters", -3),
    (lambda: layers.Conv2D(4, -1), "kernel_size", -1),
    (lambda: layers.Conv1D(4, 0), "kernel_size", 0),
    (lambda: layers.Conv2D(4, 3, strides=(0, 1)), "strides", 0),
    (lambda: layers.Conv1D(4, 3, strides=-2), "strides", -2),
    (lambda: layers.MaxPooling2D((0, 2)), "pool_size", 0),
    (lambda: layers.AveragePooling1D(2, strides=0), "strides", 0),
])
def test_non_positive_sizes_name_the_argument(make, argument, value):
    with pytest.raises(ValueError) as info:
        make()
    message = str(info.value)
    assert f"argument `{argument}`: expected an integer >= 1" in message, message
    assert message.endswith(f"Received: {argument}={value}"), message


def test_set_weights_with_the_wrong_channel_count():
    conv = layers.Conv2D(4, 3)
    Sequential([layers.Input((8, 8, 3)), conv])
    with pytest.raises(ValueError) as info:
        conv.set_weights([np.zeros((3, 3, 2, 4)), np.zeros(4)])
    message = str(info.value)
    assert "built for inputs of 3 channels" in message and "(3, 3, 3, 4)" in message
    assert "Received: a kernel of shape (3, 3, 2, 4) in `weights`, with 2 input " \
        "channels" in message, message
    grouped = layers.Conv2D(4, 3, groups=2)
    Sequential([layers.Input((8, 8, 4)), grouped])
    with pytest.raises(ValueError, match=r"2 input channels per group"):
        grouped.set_weights([np.zeros((3, 3, 4, 4)), np.zeros(4)])


@pytest.mark.parametrize("shape", [(3, 3, 3, 5), (5, 5, 3, 4), (27, 4), (4, 3, 3, 3)])
def test_set_weights_with_another_kernel_shape_names_keras_layout(shape):
    conv = layers.Conv2D(4, 3)
    Sequential([layers.Input((8, 8, 3)), conv])
    before = conv.get_weights()
    with pytest.raises(ValueError) as info:
        conv.set_weights([np.zeros(shape), np.zeros(4)])
    message = str(info.value)
    assert "(3, 3, 3, 4) (kernel_h, kernel_w, in_channels // groups, filters)" in message
    assert "`weights`" in message and message.endswith(f"shape {shape}"), message
    for a, b in zip(conv.get_weights(), before):  # nothing was half-assigned
        np.testing.assert_array_equal(a, b)


def test_set_weights_on_conv1d_names_its_layout():
    conv = layers.Conv1D(4, 3)
    Sequential([layers.Input((8, 2)), conv])
    with pytest.raises(ValueError, match=re.escape(
            "of shape (3, 2, 4) (kernel_size, in_channels // groups, filters). "
            "Received: a first array of shape (4, 2, 3)")):
        conv.set_weights([np.zeros((4, 2, 3)), np.zeros(4)])
