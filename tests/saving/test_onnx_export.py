"""ONNX export: every exportable layer, run by onnxruntime, predicts what fastnn predicts.

Skipped when onnx or onnxruntime is not installed (the ``onnx`` and ``test`` extras
install them), except the tests of what happens without them.
"""

import os
import sys

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.backend import activations as act_table
from fastnn.export import onnx as onnx_export

# float32 tolerance, for both dtypes (a float64 model's gelu runs erf in float32)
RTOL, ATOL = 1e-5, 2e-6


@pytest.fixture
def ort():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


@pytest.fixture(params=["float32", "float64"])
def floatx(request):
    fastnn.config.set_floatx(request.param)  # conftest restores the default
    return request.param


def _randomize_weights(model, rng):
    """Random values for every weight (positive variances), so that biases, slopes and
    normalization statistics all take part in the comparison."""
    values = []
    for w in model.weights:
        shape, name = w.value.shape, w.name
        if "variance" in name:
            values.append(rng.uniform(0.5, 2.0, size=shape))
        elif "embeddings" in name:
            values.append(rng.normal(size=shape))
        else:
            values.append(rng.normal(scale=0.7, size=shape))
    model.set_weights([v.astype(w.value.dtype) for v, w in zip(values, model.weights)])


def _run_onnx(ort, path, feeds):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session, session.run(None, dict(zip(names, feeds)))


def _features(rng, shape, dtype, batch):
    # Wide enough to reach both branches of every activation, and large values
    # (softplus, elu and selu must stay finite and exact there).
    x = rng.normal(scale=3.0, size=(batch,) + shape)
    x.flat[0], x.flat[-1] = 40.0, -40.0
    return x.astype(dtype)


def _ids(rng, shape, dtype, batch, vocab=10):
    return rng.integers(0, vocab, size=(batch,) + shape).astype(dtype)


ACTIVATIONS = list(act_table.ACTIVATIONS)

# id -> (layers after the input, sample shape, input maker)
SEQUENTIAL_CASES = {
    **{f"dense_{a}": (lambda a=a: [layers.Dense(6, activation=a)], (5,), _features)
       for a in ACTIVATIONS},
    "dense_no_bias": (lambda: [layers.Dense(4, use_bias=False, activation="tanh")], (5,),
                      _features),
    **{f"activation_{a}": (lambda a=a: [layers.Activation(a)], (3, 4), _features)
       for a in ACTIVATIONS},
    "leaky_relu_layer": (lambda: [layers.LeakyReLU(negative_slope=0.15)], (3, 4), _features),
    "prelu": (lambda: [layers.PReLU()], (6,), _features),
    "prelu_shared_axes": (lambda: [layers.PReLU(shared_axes=[1])], (3, 4), _features),
    "maxout": (lambda: [layers.Maxout(4, num_pieces=3)], (5,), _features),
    "maxout_one_piece": (lambda: [layers.Maxout(3, num_pieces=1, use_bias=False)], (5,),
                         _features),
    "dropout": (lambda: [layers.Dense(6), layers.Dropout(0.5), layers.Dense(3)], (5,),
                _features),
    "batch_norm": (lambda: [layers.BatchNormalization()], (5,), _features),
    "batch_norm_axis1_no_affine": (
        lambda: [layers.BatchNormalization(axis=1, center=False, scale=False)], (3, 4),
        _features),
    "batch_norm_3d_last_axis": (lambda: [layers.BatchNormalization(epsilon=0.1)], (3, 4),
                                _features),
    "flatten": (lambda: [layers.Flatten(), layers.Dense(3)], (2, 3, 4), _features),
    "flatten_channels_first": (lambda: [layers.Flatten(data_format="channels_first")],
                               (2, 3, 4), _features),
    "reshape": (lambda: [layers.Reshape((4, -1)), layers.Activation("softmax")], (2, 3, 4),
                _features),
    "embedding": (lambda: [layers.Embedding(10, 3), layers.Flatten(), layers.Dense(2)], (6,),
                  _ids),
    "everything_in_a_row": (
        lambda: [layers.Dense(8, activation="selu"), layers.BatchNormalization(),
                 layers.Dropout(0.2), layers.Maxout(6, num_pieces=2), layers.PReLU(),
                 layers.Reshape((2, 3)), layers.LeakyReLU(), layers.Flatten(),
                 layers.Dense(4, activation="softmax")],
        (5,), _features),
}


# Convolution, pooling and padding: odd sizes, strides 2, "same" and "valid" (and
# "causal"), dilation, groups, both data formats; "same" pooling with windows that
# overhang the border is where average pooling's count of real cells shows.
SPATIAL_CASES = {
    "conv2d_valid": (lambda: [layers.Conv2D(3, 3, activation="relu")], (7, 9, 2),
                     _features),
    "conv2d_same_stride2": (
        lambda: [layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="tanh")],
        (7, 8, 3), _features),
    "conv2d_same_dilated_no_bias": (
        lambda: [layers.Conv2D(2, 3, dilation_rate=(2, 1), padding="same", use_bias=False)],
        (9, 7, 2), _features),
    "conv2d_groups_swish": (lambda: [layers.Conv2D(4, 3, groups=2, activation="swish")],
                            (6, 5, 4), _features),
    "conv2d_softmax": (lambda: [layers.Conv2D(3, 2, activation="softmax")], (5, 5, 2),
                       _features),
    "conv2d_channels_first": (
        lambda: [layers.Conv2D(3, 3, strides=(2, 1), padding="same",
                               data_format="channels_first", activation="elu"),
                 layers.Flatten(data_format="channels_first")], (2, 7, 6), _features),
    "conv1d_valid": (lambda: [layers.Conv1D(3, 3)], (9, 2), _features),
    "conv1d_causal_dilated": (
        lambda: [layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="gelu")],
        (11, 3), _features),
    "conv1d_same_stride2_groups": (
        lambda: [layers.Conv1D(4, 4, strides=2, padding="same", groups=2)], (9, 4),
        _features),
    "conv1d_channels_first": (
        lambda: [layers.Conv1D(2, 3, padding="same", data_format="channels_first",
                               activation="softmax")], (3, 8), _features),
    "max_pooling2d_odd_valid": (lambda: [layers.MaxPooling2D()], (7, 9, 2), _features),
    "max_pooling2d_same_stride2": (
        lambda: [layers.MaxPooling2D((3, 3), strides=2, padding="same")], (7, 8, 2),
        _features),
    "max_pooling2d_channels_first": (
        lambda: [layers.MaxPooling2D((2, 3), padding="same", data_format="channels_first")],
        (2, 5, 7), _features),
    "average_pooling2d_same": (
        lambda: [layers.AveragePooling2D((3, 2), strides=(2, 1), padding="same")],
        (7, 5, 3), _features),
    "average_pooling2d_valid_stride": (
        lambda: [layers.AveragePooling2D(3, strides=2)], (8, 7, 2), _features),
    "average_pooling2d_channels_first_same": (
        lambda: [layers.AveragePooling2D(3, padding="same", data_format="channels_first")],
        (2, 7, 5), _features),
    "max_pooling1d_same": (lambda: [layers.MaxPooling1D(3, strides=2, padding="same")],
                           (9, 2), _features),
    "average_pooling1d_same": (
        lambda: [layers.AveragePooling1D(4, strides=3, padding="same")], (10, 2), _features),
    "average_pooling1d_channels_first": (
        lambda: [layers.AveragePooling1D(3, data_format="channels_first")], (2, 10),
        _features),
    "global_average_pooling2d": (lambda: [layers.GlobalAveragePooling2D()], (5, 3, 4),
                                 _features),
    "global_average_pooling2d_keepdims": (
        lambda: [layers.GlobalAveragePooling2D(keepdims=True)], (5, 3, 4), _features),
    "global_max_pooling2d_channels_first_keepdims": (
        lambda: [layers.GlobalMaxPooling2D(data_format="channels_first", keepdims=True)],
        (4, 5, 3), _features),
    "global_max_pooling2d": (lambda: [layers.GlobalMaxPooling2D()], (5, 3, 4), _features),
    "global_average_pooling1d_channels_first": (
        lambda: [layers.GlobalAveragePooling1D(data_format="channels_first")], (3, 7),
        _features),
    "global_max_pooling1d_keepdims": (
        lambda: [layers.GlobalMaxPooling1D(keepdims=True)], (7, 3), _features),
    "zero_padding2d": (lambda: [layers.ZeroPadding2D(((1, 2), (0, 3)))], (5, 4, 2),
                       _features),
    "zero_padding2d_channels_first": (
        lambda: [layers.ZeroPadding2D(2, data_format="channels_first")], (2, 3, 4),
        _features),
    "spatial_dropout2d": (
        lambda: [layers.Conv2D(3, 3), layers.SpatialDropout2D(0.5), layers.Flatten(),
                 layers.Dense(2)], (6, 5, 2), _features),
    "conv_stack_then_flatten": (
        lambda: [layers.Conv2D(4, 3, padding="same", activation="relu"),
                 layers.ZeroPadding2D(1), layers.Conv2D(5, 3, strides=2),
                 layers.MaxPooling2D(padding="same"), layers.SpatialDropout2D(0.3),
                 layers.Conv2D(3, 1, activation="selu"), layers.Flatten(),
                 layers.Dense(4, activation="softmax")], (9, 8, 2), _features),
    "conv1d_stack_then_flatten": (
        lambda: [layers.Conv1D(4, 3, padding="causal", activation="relu"),
                 layers.AveragePooling1D(2, padding="same"), layers.Conv1D(3, 2),
                 layers.Flatten(), layers.Dense(2)], (11, 3), _features),
}
SEQUENTIAL_CASES.update(SPATIAL_CASES)

def _sequential(case, rng):
    make_layers, shape, make_input = SEQUENTIAL_CASES[case]
    model = fastnn.Sequential([layers.Input(shape=shape)] + make_layers())
    _randomize_weights(model, rng)
    return model, shape, make_input


@pytest.mark.usefixtures("ops_backend")
@pytest.mark.parametrize("case", sorted(SEQUENTIAL_CASES))
def test_sequential_layer_matches_predict(case, ort, floatx, tmp_path, rng):
    model, shape, make_input = _sequential(case, rng)
    path = model.export(tmp_path / "model.onnx", verbose=False)
    for batch in (1, 7):  # the batch axis is dynamic
        x = make_input(rng, shape, floatx, batch)
        session, (out,) = _run_onnx(ort, path, [x])
        expected = model.predict(x, verbose=0)
        assert out.dtype == np.dtype(floatx)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    (inp,) = session.get_inputs()
    assert inp.shape[0] == "batch" and inp.shape[1:] == list(shape)


def _two_input_model(rng):
    a = layers.Input(shape=(5,), name="features")
    b = layers.Input(shape=(3, 4), name="grid")
    shared = layers.Dense(6, activation="gelu", name="shared")
    left = shared(a)
    right = layers.Dense(6, activation="swish")(layers.Flatten()(b))
    right = shared(layers.Dense(5, activation="elu")(right))  # the shared layer again
    joined = layers.Concatenate()([left, right, layers.Flatten()(b)])
    summed = layers.Add()([left, right, layers.Dense(6, activation="softplus")(joined)])
    probs = layers.Dense(3, activation="softmax", name="probs")(summed)
    value = layers.Dense(1, name="value")(layers.BatchNormalization()(joined))
    model = fastnn.Model(inputs=[a, b], outputs=[probs, value])
    _randomize_weights(model, rng)
    return model


@pytest.mark.usefixtures("ops_backend")
def test_two_input_functional_model_matches_predict(ort, floatx, tmp_path, rng):
    model = _two_input_model(rng)
    path = model.export(str(tmp_path / "two.onnx"), verbose=False)
    for batch in (1, 9):
        xa = _features(rng, (5,), floatx, batch)
        xb = _features(rng, (3, 4), floatx, batch)
        session, outs = _run_onnx(ort, path, [xa, xb])
        expected = model.predict([xa, xb], verbose=0)
        assert len(outs) == 2
        for out, exp in zip(outs, expected):
            np.testing.assert_allclose(out, exp, rtol=RTOL, atol=ATOL)
    assert [i.name for i in session.get_inputs()] == ["features", "grid"]
    assert [o.name for o in session.get_outputs()] == ["probs", "value"]


def test_a_shared_layer_stores_its_weights_once(ort, tmp_path, rng):
    import onnx

    model = _two_input_model(rng)
    proto = onnx_export.model_to_onnx(model)
    names = [init.name for init in proto.graph.initializer]
    assert names.count("shared/kernel") == 1 and names.count("shared/bias") == 1
    assert len(names) == len(set(names))


# Layers with no ONNX exporter yet: export refuses a model holding one, by name
# (test_a_layer_without_exporter_is_refused_by_name).  Shrink this as exporters arrive.
NOT_YET_EXPORTABLE = set()


def test_every_layer_has_an_exporter_and_a_case_here():
    exportable = set(onnx_export.exportable_layers())
    registered = {cls for name, cls in layers.REGISTRY.items() if name != "InputLayer"}
    missing = {cls.__name__ for cls in registered - exportable}
    assert missing == NOT_YET_EXPORTABLE, "layers without an ONNX exporter"
    tested = set()
    for make_layers, _, _ in SEQUENTIAL_CASES.values():
        tested.update(type(layer) for layer in make_layers())
    tested.update({layers.Concatenate, layers.Add})  # the functional test
    tested.add(layers.Merge)  # test_merge_*
    assert exportable - tested == set(), "exporters without a test case"


@pytest.mark.parametrize("opset", [15, 18, onnx_export.DEFAULT_OPSET])
def test_opset_versions(opset, ort, tmp_path, rng):
    import onnx

    model, shape, make_input = _sequential("everything_in_a_row", rng)
    path = model.export(tmp_path / "m.onnx", verbose=False, opset_version=opset)
    proto = onnx.load(path)
    assert [o.version for o in proto.opset_import if o.domain == ""] == [opset]
    x = make_input(rng, shape, "float32", 4)
    _, (out,) = _run_onnx(ort, path, [x])
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=RTOL, atol=ATOL)


def test_dropout_as_the_last_layer_and_an_input_as_an_output(ort, tmp_path, rng):
    a = layers.Input(shape=(4,), name="a")
    out = layers.Dropout(0.5)(a)
    model = fastnn.Model(inputs=a, outputs=[out, a])
    path = model.export(tmp_path / "m.onnx", verbose=False)
    x = _features(rng, (4,), "float32", 3)
    session, outs = _run_onnx(ort, path, [x])
    for got in outs:
        np.testing.assert_array_equal(got, x)
    names = [o.name for o in session.get_outputs()]
    assert len(set(names + ["a"])) == 3


class _Doubler(layers.Layer):
    def forward(self, x, training, cache, skip_activation=False):
        return 2 * x


class _MyDense(layers.Dense):
    pass


@pytest.mark.parametrize("odd_layer", [lambda: _Doubler(name="doubler"),
                                       lambda: _MyDense(3, name="doubler")])
def test_a_layer_without_exporter_is_refused_by_name(odd_layer, tmp_path):
    pytest.importorskip("onnx")
    model = fastnn.Sequential([layers.Input(shape=(4,)), layers.Dense(3), odd_layer()])
    path = tmp_path / "m.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(ValueError, match=r"'doubler' \((_Doubler|_MyDense)\)"):
        model.export(path, verbose=False)
    assert path.read_bytes() == b"previous"  # never half-written, never replaced
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_written_file_is_complete_and_replaces_atomically(ort, tmp_path, rng, capsys):
    import onnx

    model, _, _ = _sequential("dense_relu", rng)
    path = tmp_path / "sub" / "m.onnx"  # the folder is created
    assert model.export(path) == str(path)
    assert str(path) in capsys.readouterr().out  # verbose by default, as Keras
    first = path.read_bytes()
    onnx.checker.check_model(onnx.load_from_string(first))
    model.export(path, verbose=False)
    assert os.listdir(tmp_path / "sub") == ["m.onnx"]  # no temporary file left


@pytest.mark.parametrize("kwargs, message", [
    ({"format": "tf_saved_model"}, r"format.*'onnx'"),
    ({"format": "h5"}, r"format.*'onnx'"),
    ({"input_signature": [(None, 4)]}, r"input_signature"),
    ({"opset_version": 14}, r"opset_version.*>= 15|opset_version.*\[15"),
    ({"verbose": "yes"}, r"verbose"),
])
def test_bad_arguments_are_refused(kwargs, message, tmp_path, rng):
    pytest.importorskip("onnx")
    model, _, _ = _sequential("dense_relu", rng)
    with pytest.raises(ValueError, match=message):
        model.export(tmp_path / "m.onnx", **kwargs)
    assert not os.listdir(tmp_path)


def test_unknown_keyword_is_refused(tmp_path, rng):
    model, _, _ = _sequential("dense_relu", rng)
    with pytest.raises(TypeError, match="opset"):
        model.export(tmp_path / "m.onnx", opset=17)


def test_an_unbuilt_model_is_refused(tmp_path):
    pytest.importorskip("onnx")
    model = fastnn.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match="built model"):
        model.export(tmp_path / "m.onnx")


def test_without_onnx_the_error_names_the_extra(monkeypatch, tmp_path, rng):
    model, _, _ = _sequential("dense_relu", rng)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails
    with pytest.raises(ImportError, match=r"pip install 'fastnn\[onnx\]'"):
        model.export(tmp_path / "m.onnx")
    assert not os.listdir(tmp_path)


# --------------------------------------------------------------------------- conv models


def _op_types(proto):
    return [n.op_type for n in proto.graph.node]


def test_a_conv_stack_keeps_one_transpose_at_each_end(ort, rng):
    # Flatten must see the (h, w, c) order: the last Transpose stays before it.
    model, _, _ = _sequential("conv_stack_then_flatten", rng)
    ops = _op_types(onnx_export.model_to_onnx(model))
    assert ops.count("Transpose") == 2
    assert ops[0] == "Transpose" and ops[ops.index("Flatten") - 1] == "Transpose"
    assert ops.count("Conv") == 3 and ops.count("Pad") == 1


def test_channels_first_convolutions_need_no_transpose(ort, rng):
    model, _, _ = _sequential("conv2d_channels_first", rng)
    ops = _op_types(onnx_export.model_to_onnx(model))
    # Flatten(data_format="channels_first") moves the channels last itself
    assert ops.count("Transpose") == 1 and ops.index("Transpose") > ops.index("Conv")


def _lenet5():
    # LeCun et al.'s LeNet-5 as Keras users write it: 32x32 grey images, tanh,
    # average pooling, three dense layers.
    return fastnn.Sequential([
        layers.Input(shape=(32, 32, 1)),
        layers.Conv2D(6, 5, activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="tanh"),
        layers.Dense(84, activation="tanh"),
        layers.Dense(10, activation="softmax"),
    ])


@pytest.mark.usefixtures("ops_backend")
def test_lenet5_trained_matches_predict(ort, floatx, tmp_path, rng):
    model = _lenet5()
    x = rng.normal(size=(32, 32, 32, 1)).astype(floatx)
    y = rng.integers(0, 10, size=32)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # weights that are not initial
    path = model.export(tmp_path / "lenet.onnx", verbose=False)
    session, (out,) = _run_onnx(ort, path, [x[:5]])
    np.testing.assert_allclose(out, model.predict(x[:5], verbose=0), rtol=RTOL, atol=ATOL)
    assert session.get_outputs()[0].shape[1:] == [10]
    ops = _op_types(onnx_export.model_to_onnx(model))
    assert ops.count("Transpose") == 2  # after the input, before Flatten (8 unpaired)


@pytest.mark.parametrize("case", ["conv_stack_then_flatten", "global_max_pooling2d",
                                  "global_average_pooling2d_keepdims"])
@pytest.mark.parametrize("opset", [15, onnx_export.DEFAULT_OPSET, 18, "newest"])
def test_spatial_opset_versions(opset, case, ort, tmp_path, rng):
    import onnx

    if opset == "newest":
        # the installed onnxruntime may not run onnx's newest opset yet
        opset = min(onnx.defs.onnx_opset_version(), 21)
    model, shape, make_input = _sequential(case, rng)
    path = model.export(tmp_path / "m.onnx", verbose=False, opset_version=opset)
    x = make_input(rng, shape, "float32", 3)
    _, (out,) = _run_onnx(ort, path, [x])
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=RTOL, atol=ATOL)


@pytest.mark.usefixtures("ops_backend")
def test_variable_length_sequences(ort, tmp_path, rng):
    # Unknown steps: "same" is written as auto_pad SAME_UPPER, causal and valid as pads.
    model = fastnn.Sequential([
        layers.Input(shape=(None, 3)),
        layers.Conv1D(4, 3, strides=2, padding="same", activation="relu"),
        layers.Conv1D(4, 2, padding="causal", dilation_rate=2),
        layers.MaxPooling1D(3, strides=2, padding="same"),
        layers.AveragePooling1D(2, padding="same"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2),
    ])
    _randomize_weights(model, rng)
    path = model.export(tmp_path / "m.onnx", verbose=False)
    for steps in (5, 12, 17):
        x = _features(rng, (steps, 3), "float32", 2)
        _, (out,) = _run_onnx(ort, path, [x])
        np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=RTOL, atol=ATOL)


@pytest.mark.usefixtures("ops_backend")
def test_two_input_functional_conv_model(ort, floatx, tmp_path, rng):
    image = layers.Input(shape=(9, 7, 2), name="image")
    series = layers.Input(shape=(10, 3), name="series")
    conv = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(image)
    # one conv output read by two layers: its transposes must not be cancelled away
    pooled = layers.Flatten()(layers.MaxPooling2D(padding="same")(conv))
    mean = layers.GlobalAveragePooling2D()(conv)
    seq = layers.Conv1D(3, 3, padding="causal")(series)
    seq = layers.GlobalMaxPooling1D()(seq)
    joined = layers.Concatenate()([pooled, mean, seq])
    out = layers.Dense(3, activation="softmax", name="out")(joined)
    model = fastnn.Model(inputs=[image, series], outputs=[out, mean])
    _randomize_weights(model, rng)
    path = model.export(tmp_path / "f.onnx", verbose=False)
    xa = _features(rng, (9, 7, 2), floatx, 4)
    xb = _features(rng, (10, 3), floatx, 4)
    _, outs = _run_onnx(ort, path, [xa, xb])
    for got, expected in zip(outs, model.predict([xa, xb], verbose=0)):
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- Merge


def _merge(**kwargs):
    with pytest.warns(DeprecationWarning, match="Keras 1"):
        return layers.Merge(**kwargs)


@pytest.mark.usefixtures("ops_backend")
@pytest.mark.parametrize("mode, kwargs", [
    ("concat", {"concat_axis": 1}), ("concat", {"concat_axis": -1}), ("sum", {}),
    ("mul", {}), ("ave", {}), ("max", {}), ("dot", {}),
])
def test_merge_of_tensors_matches_predict(mode, kwargs, ort, floatx, tmp_path, rng):
    n = 2 if mode == "dot" else 3
    inputs = [layers.Input(shape=(4,), name=f"in{i}") for i in range(n)]
    branches = [layers.Dense(4, activation="tanh")(x) for x in inputs]
    joined = _merge(mode=mode, **kwargs)(branches)
    model = fastnn.Model(inputs=inputs, outputs=layers.Dense(2)(joined))
    _randomize_weights(model, rng)
    path = model.export(tmp_path / "m.onnx", verbose=False)
    xs = [_features(rng, (4,), floatx, 5) for _ in range(n)]
    _, (out,) = _run_onnx(ort, path, xs)
    np.testing.assert_allclose(out, model.predict(xs, verbose=0), rtol=RTOL, atol=ATOL)


def test_merge_on_rank3_concat_axis(ort, tmp_path, rng):
    inputs = [layers.Input(shape=(3, 4)), layers.Input(shape=(2, 4))]
    model = fastnn.Model(inputs=inputs, outputs=_merge(mode="concat", concat_axis=1)(inputs))
    path = model.export(tmp_path / "m.onnx", verbose=False)
    xs = [_features(rng, (3, 4), "float32", 2), _features(rng, (2, 4), "float32", 2)]
    _, (out,) = _run_onnx(ort, path, xs)
    np.testing.assert_array_equal(out, model.predict(xs, verbose=0))


def _wide_and_deep(rng, mode="concat"):
    # Seed 000's program: Merge of two Sequential models as a Sequential's first layer.
    # The inner models reuse one layer name, and the outer model's: their weights must
    # stay apart in the file.
    wide = fastnn.Sequential([layers.Input(shape=(6,)), layers.Dense(3, name="d")])
    deep = fastnn.Sequential([layers.Input(shape=(6,)), layers.Dense(5, activation="relu"),
                              layers.Dropout(0.1),
                              layers.Dense(3, name="d")])
    model = fastnn.Sequential()
    model.add(_merge(layers=[wide, deep], mode=mode, concat_axis=1))
    model.add(layers.Dense(1, activation="sigmoid", name="top"))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = _features(rng, (6,), "float32", 16)
    model.fit([x, x], (x[:, 0] > 0).astype("float32"), epochs=1, verbose=0)
    _randomize_weights(model, rng)
    return model


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "max"])
def test_merge_of_models_matches_predict(mode, ort, tmp_path, rng):
    model = _wide_and_deep(rng, mode)
    path = model.export(tmp_path / "wd.onnx", verbose=False)
    xa, xb = _features(rng, (6,), "float32", 7), _features(rng, (6,), "float32", 7)
    session, (out,) = _run_onnx(ort, path, [xa, xb])
    assert len(session.get_inputs()) == 2
    names = [init.name for init in onnx_export.model_to_onnx(model).graph.initializer]
    assert sorted(names) == sorted(["d/kernel", "d/bias", "d/kernel_1", "d/bias_1",
                                    f"{model.layers[0]._models[1].layers[0].name}/kernel",
                                    f"{model.layers[0]._models[1].layers[0].name}/bias",
                                    "top/kernel", "top/bias"])
    np.testing.assert_allclose(out, model.predict([xa, xb], verbose=0), rtol=RTOL, atol=ATOL)


def test_merge_of_models_after_save_and_load(ort, tmp_path, rng):
    model = _wide_and_deep(rng)
    model.save(tmp_path / "wd.fastnn")
    loaded = fastnn.models.load_model(tmp_path / "wd.fastnn")
    path = loaded.export(tmp_path / "wd.onnx", verbose=False)
    x = _features(rng, (6,), "float32", 4)
    _, (out,) = _run_onnx(ort, path, [x, x])
    np.testing.assert_allclose(out, model.predict([x, x], verbose=0), rtol=RTOL, atol=ATOL)


def test_a_layer_inside_a_merged_model_without_exporter_is_refused(tmp_path):
    pytest.importorskip("onnx")
    wide = fastnn.Sequential([layers.Input(shape=(4,)), _Doubler(name="doubler")])
    deep = fastnn.Sequential([layers.Input(shape=(4,)), layers.Dense(4)])
    model = fastnn.Sequential([_merge(layers=[wide, deep], mode="sum"), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"'doubler' \(_Doubler\)"):
        model.export(tmp_path / "m.onnx", verbose=False)
    assert not os.listdir(tmp_path)
