"""Every registry answers a misspelt name with "Did you mean ...?" through one helper
(``fastnn.utils.naming.did_you_mean``): activations, optimizers, losses, metrics,
initializers, regularizers, callbacks' ``monitor`` and layer names in a saved config."""

import json
import warnings
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import activations, initializers, losses, metrics, optimizers, regularizers
from fastnn.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from fastnn.layers import Dense
from fastnn.models import Sequential, load_model
from fastnn.utils.naming import did_you_mean


# ----------------------------------------------------------------- the helper
def test_helper_names_the_closest_choice():
    assert did_you_mean("categotial_crossentropy",
                        ["binary_crossentropy", "categorical_crossentropy"]) == (
        " Did you mean 'categorical_crossentropy'?")


def test_helper_ignores_case_but_keeps_the_registrys_spelling():
    assert did_you_mean("ADMA", ["Adam", "SGD"]) == " Did you mean 'Adam'?"


def test_helper_gives_nothing_when_nothing_is_close():
    assert did_you_mean("zzzzqqq", ["adam", "sgd"]) == ""
    assert did_you_mean("", ["adam"]) == ""
    assert did_you_mean(None, ["adam"]) == ""
    assert did_you_mean(3, ["adam"]) == ""


def test_helper_gives_nothing_for_an_exact_name():
    assert did_you_mean("adam", ["adam", "adamw"]) == ""


# ----------------------------------------------------------------- each registry
@pytest.mark.parametrize("resolve, typo, meant", [
    (activations.get, "rleu", "relu"),
    (activations.get, "sofmax", "softmax"),
    (optimizers.get, "adma", "adam"),
    (optimizers.get, "rmsporp", "rmsprop"),
    (losses.get, "categotial_crossentropy", "categorical_crossentropy"),
    (losses.get, "mean_sqared_error", "mean_squared_error"),
    (metrics.get, "accurcy", "accuracy"),
    (metrics.get, "precison", "precision"),
    (initializers.get, "glorot_unifrom", "glorot_uniform"),
    (initializers.get, "he_normall", "he_normal"),
    (regularizers.get, "l1_l3", "l1_l2"),
])
def test_every_registry_suggests_the_name_meant(resolve, typo, meant):
    with pytest.raises(ValueError, match=f"Did you mean '{meant}'\\?") as info:
        resolve(typo)
    assert repr(typo) in str(info.value)  # the message still says what it received


@pytest.mark.parametrize("deserialize, class_name, meant", [
    (optimizers.deserialize, "Adma", "Adam"),
    (initializers.get, "GlorotUnifrom", "GlorotUniform"),
    (regularizers.get, "L1L3", "L1L2"),
    (losses.deserialize, "MeanSquaredErorr", "MeanSquaredError"),
])
def test_config_dicts_naming_a_misspelt_class_get_the_hint(deserialize, class_name, meant):
    with pytest.raises(ValueError, match=f"Did you mean '{meant}'\\?"):
        deserialize({"class_name": class_name, "config": {}})


def test_layer_arguments_resolve_through_the_same_hint():
    with pytest.raises(ValueError, match="Did you mean 'relu'"):
        Dense(3, activation="rlu")
    with pytest.raises(ValueError, match="Did you mean 'he_uniform'"):
        Dense(3, kernel_initializer="he_unifrom")


def test_compile_suggests_the_loss_and_optimizer_meant():
    model = Sequential([Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="Did you mean 'categorical_crossentropy'"):
        model.compile(loss="categotial_crossentropy", optimizer="adam")
    with pytest.raises(ValueError, match="Did you mean 'adam'"):
        model.compile(loss="mse", optimizer="adan")


# ----------------------------------------------------------------- callbacks' monitor
def _fit_with(callback):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    model = Sequential([Dense(1, input_dim=3)])
    model.compile(loss="mse", optimizer="sgd")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[callback])
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("make", [
    lambda: EarlyStopping(monitor="val_los"),
    lambda: ReduceLROnPlateau(monitor="val_los"),
])
def test_monitor_typo_warning_suggests_the_logged_name(make):
    messages = _fit_with(make())
    assert any("`val_los`" in m and "Did you mean 'val_loss'?" in m for m in messages), messages


def test_checkpoint_monitor_typo_suggests_the_logged_name(tmp_path):
    cb = ModelCheckpoint(str(tmp_path / "m.fastnn"), monitor="vall_loss", save_best_only=True)
    messages = _fit_with(cb)
    assert any("Did you mean 'val_loss'?" in m for m in messages), messages


# ----------------------------------------------------------------- saved configs
def _saved_with_layer_renamed(tmp_path, new_name):
    model = Sequential([Dense(2, input_dim=3)])
    path = tmp_path / "m.fastnn"
    model.save(str(path))
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["class_name"] = new_name
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_saved_config_with_a_misspelt_layer_class_suggests_the_layer(tmp_path):
    path = _saved_with_layer_renamed(tmp_path, "Dence")
    with pytest.raises(ValueError, match="Unknown layer class 'Dence'.*Did you mean 'Dense'\\?"):
        load_model(str(path))


def test_model_from_config_with_a_misspelt_layer_class_suggests_the_layer():
    config = Sequential([Dense(2, input_dim=3)]).get_config()
    config["layers"][1]["class_name"] = "Dropuot"
    with pytest.raises(ValueError, match="Did you mean 'Dropout'\\?"):
        Sequential.from_config(config)


def test_saved_compile_config_with_a_misspelt_loss_suggests_the_loss(tmp_path):
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(loss="mse", optimizer="sgd")
    path = tmp_path / "m.fastnn"
    model.save(str(path))
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    config = json.loads(members["config.json"])
    config["compile_config"]["loss"] = "mean_squared_eror"
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="Did you mean 'mean_squared_error'\\?"):
        load_model(str(path))
    assert load_model(str(path), compile=False).built  # the advice given still holds


def test_backend_names_are_untouched_by_the_hint():
    # the hint is additive: an exact name still resolves as before
    assert activations.get("relu") is fastnn.activations.relu
    assert type(optimizers.get("Adam")).__name__ == "Adam"


# ----------------------------------------------------------------- choice arguments
@pytest.mark.parametrize("make, meant", [
    (lambda: fastnn.layers.Conv2D(2, 3, padding="smae"), "same"),
    (lambda: fastnn.layers.Conv1D(2, 3, padding="casual"), "causal"),
    (lambda: fastnn.layers.MaxPooling2D(padding="vaild"), "valid"),
    (lambda: fastnn.layers.Conv2D(2, 3, data_format="channel_first"), "channels_first"),
    (lambda: fastnn.layers.Flatten(data_format="channel_last"), "channels_last"),
    (lambda: EarlyStopping(mode="mni"), "min"),
    (lambda: ModelCheckpoint("m.fastnn", save_freq="epcoh"), "epoch"),
    (lambda: fastnn.config.set_floatx("flaot32"), "float32"),
])
def test_choice_arguments_suggest_the_choice_meant(make, meant):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match=f"Received: .*Did you mean '{meant}'\\?$"):
            make()


def test_a_choice_far_from_every_option_gets_no_hint():
    with pytest.raises(ValueError) as info:
        fastnn.layers.Conv2D(2, 3, padding="zzzzz")
    assert "Did you mean" not in str(info.value)
