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
NOT_YET_EXPORTABLE = {
    "Merge", "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
    "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "ZeroPadding2D", "SpatialDropout2D",
}


def test_every_layer_has_an_exporter_and_a_case_here():
    exportable = set(onnx_export.exportable_layers())
    registered = {cls for name, cls in layers.REGISTRY.items() if name != "InputLayer"}
    missing = {cls.__name__ for cls in registered - exportable}
    assert missing == NOT_YET_EXPORTABLE, "layers without an ONNX exporter"
    tested = set()
    for make_layers, _, _ in SEQUENTIAL_CASES.values():
        tested.update(type(layer) for layer in make_layers())
    tested.update({layers.Concatenate, layers.Add})  # the functional test
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


@pytest.mark.parametrize("name", sorted(NOT_YET_EXPORTABLE - {"Merge"}))
def test_a_layer_without_exporter_is_refused_by_name(name, tmp_path):
    pytest.importorskip("onnx")
    shape, layer = {
        "Conv1D": ((8, 3), lambda: layers.Conv1D(2, 3)),
        "Conv2D": ((6, 6, 2), lambda: layers.Conv2D(2, 3)),
        "MaxPooling1D": ((8, 3), lambda: layers.MaxPooling1D()),
        "MaxPooling2D": ((6, 6, 2), lambda: layers.MaxPooling2D()),
        "AveragePooling1D": ((8, 3), lambda: layers.AveragePooling1D()),
        "AveragePooling2D": ((6, 6, 2), lambda: layers.AveragePooling2D()),
        "GlobalAveragePooling1D": ((8, 3), lambda: layers.GlobalAveragePooling1D()),
        "GlobalAveragePooling2D": ((6, 6, 2), lambda: layers.GlobalAveragePooling2D()),
        "GlobalMaxPooling1D": ((8, 3), lambda: layers.GlobalMaxPooling1D()),
        "GlobalMaxPooling2D": ((6, 6, 2), lambda: layers.GlobalMaxPooling2D()),
        "ZeroPadding2D": ((6, 6, 2), lambda: layers.ZeroPadding2D()),
        "SpatialDropout2D": ((6, 6, 2), lambda: layers.SpatialDropout2D(0.5)),
    }[name]
    model = fastnn.Sequential([layers.Input(shape=shape), layer(), layers.Flatten(),
                               layers.Dense(1)])
    path = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match=name):
        model.export(str(path), format="onnx", verbose=False)
    assert not path.exists()
