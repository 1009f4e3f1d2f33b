"""Keras's other model I/O: ``model.to_json()`` / ``fastnn.models.model_from_json``
(the architecture alone, through the same registry as ``load_model``), and the
extensions ``save`` / ``save_weights`` refuse because fastnn does not write them."""

import json
import os

import numpy as np
import pytest

import fastnn
from fastnn.layers import (Add, BatchNormalization, Concatenate, Dense, Dropout, Embedding,
                           Flatten, Input, Layer, Reshape)
from fastnn.models import Model, Sequential, load_model, model_from_json


def _sequential():
    model = Sequential([Dense(8, activation="relu", input_dim=5), Dropout(0.25),
                        BatchNormalization(), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    return model


def _functional():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    h = Concatenate()([Dense(3)(a), Dense(3, activation="tanh")(b)])
    s = Add()([Dense(2)(h), Dense(2)(h)])
    return Model([a, b], [s, Dense(1)(h)])


# ----------------------------------------------------------------- to_json / from_json
@pytest.mark.parametrize("make", [_sequential, _functional])
def test_json_round_trip_rebuilds_the_same_architecture(make):
    model = make()
    text = model.to_json()
    spec = json.loads(text)
    assert spec["class_name"] == type(model).__name__
    again = model_from_json(text)
    assert type(again) is type(model)
    assert again.get_config() == model.get_config()
    assert [w.shape for w in again.get_weights()] == [w.shape for w in model.get_weights()]
    # architecture only: no compile settings travel, the weights are new
    assert not again.compiled
    # the same weights give the same outputs
    again.set_weights(model.get_weights())
    xs = [np.random.default_rng(0).normal(size=(6, s[-1])) for s in
          (model.input_shape if isinstance(model.input_shape, list) else [model.input_shape])]
    x = xs if len(xs) > 1 else xs[0]
    outs, outs_again = model.predict(x, verbose=0), again.predict(x, verbose=0)
    if not isinstance(outs, list):
        outs, outs_again = [outs], [outs_again]
    assert len(outs) == len(outs_again)
    for p, q in zip(outs, outs_again):
        np.testing.assert_array_equal(p, q)


def test_json_then_load_weights_restores_the_model(tmp_path):
    model = _sequential()
    path = str(tmp_path / "w.npz")
    model.save_weights(path)
    again = model_from_json(model.to_json())
    again.load_weights(path)
    x = np.random.default_rng(1).normal(size=(4, 5))
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_json_of_a_sequential_without_input_shape_stays_unbuilt():
    again = model_from_json(Sequential([Dense(4), Dense(1)]).to_json())
    assert isinstance(again, Sequential) and not again.built
    assert [type(layer).__name__ for layer in again.layers] == ["Dense", "Dense"]


def test_to_json_passes_json_dumps_arguments():
    text = _sequential().to_json(indent=2)
    assert "\n  " in text
    model_from_json(text)  # still reads


def test_json_bytes_are_accepted():
    assert model_from_json(_sequential().to_json().encode()).built


def test_custom_layers_come_from_custom_objects_or_the_registry():
    class Doubler(Layer):
        def forward(self, inputs, training, cache, skip_activation=False):
            return inputs * 2

        def backward(self, cache, dy):
            return dy * 2

    model = Sequential([Dense(2, input_dim=3), Doubler()])
    text = model.to_json()
    with pytest.raises(ValueError, match="model_from_json\\(\\.\\.\\., custom_objects="):
        model_from_json(text)
    again = model_from_json(text, custom_objects={"Doubler": Doubler})
    assert type(again.layers[-1]) is Doubler


def test_json_from_keras_is_named_as_such():
    keras_json = json.dumps({"class_name": "Sequential", "config": {"layers": []},
                             "keras_version": "3.6.0", "backend": "tensorflow"})
    with pytest.raises(ValueError, match="written by Keras 3.6.0"):
        model_from_json(keras_json)


@pytest.mark.parametrize("text, match", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "names no Sequential or Model"),
    (json.dumps({"class_name": "os.system", "config": {}}), "names no Sequential or Model"),
    (json.dumps({"format": "something.else", "class_name": "Sequential", "config": {}}),
     "its format is 'something.else'"),
    (json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"units": -1}}]}}), "bad architecture config"),
])
def test_bad_json_is_refused_clearly(text, match):
    with pytest.raises(ValueError, match=match):
        model_from_json(text)


def test_json_argument_of_the_wrong_type_is_named():
    with pytest.raises(TypeError, match="`json_string`"):
        model_from_json({"class_name": "Sequential"})


def test_json_naming_a_module_path_never_imports_it():
    text = json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "subprocess.Popen", "config": {}}]}})
    with pytest.raises(ValueError, match="Unknown layer class 'subprocess.Popen'"):
        model_from_json(text)


def test_every_layer_round_trips_through_json():
    model = Sequential([Input(shape=(6,)), Embedding(10, 3), Flatten(), Reshape((3, 6)),
                        Flatten(), Dense(2)])
    assert model_from_json(model.to_json()).get_config() == model.get_config()


# ----------------------------------------------------------------- extensions
@pytest.mark.parametrize("name", ["m.h5", "m.keras", "m.hdf5", "M.H5", "m.onnx"])
def test_save_refuses_extensions_fastnn_does_not_write(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(ValueError, match=r"save: cannot write .*'\.fastnn'") as info:
        _sequential().save(str(path))
    assert os.path.splitext(name)[1].lower() in str(info.value)
    assert not path.exists()


def test_onnx_name_points_to_export(tmp_path):
    with pytest.raises(ValueError, match="model.export"):
        _sequential().save(str(tmp_path / "m.onnx"))


@pytest.mark.parametrize("name", ["m.weights.h5", "m.h5", "m.keras"])
def test_save_weights_refuses_extensions_fastnn_does_not_write(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(ValueError, match=r"save_weights: cannot write .*'\.npz'"):
        _sequential().save_weights(str(path))
    assert not path.exists()


@pytest.mark.parametrize("name", ["m.fastnn", "model", "m.bin", "m.zip"])
def test_save_accepts_fastnns_extension_and_names_without_a_foreign_one(tmp_path, name):
    path = str(tmp_path / name)
    model = _sequential()
    model.save(path)
    assert load_model(path).get_config() == model.get_config()


def test_save_weights_accepts_npz(tmp_path):
    model = _sequential()
    model.save_weights(str(tmp_path / "w.npz"))
    model.load_weights(str(tmp_path / "w.npz"))


def test_pathlike_names_are_checked_too(tmp_path):
    with pytest.raises(ValueError, match="cannot write"):
        _sequential().save(tmp_path / "m.keras")


def test_checkpoint_to_an_h5_name_is_refused(tmp_path):
    # refused when the callback is made, before any training time is spent
    with pytest.raises(ValueError, match="'.h5'"):
        fastnn.callbacks.ModelCheckpoint(str(tmp_path / "best.h5"))
    assert not os.listdir(tmp_path)
