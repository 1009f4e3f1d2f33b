"""fastnn.wrappers: scikit-learn estimators around fastnn models.

scikit-learn's own estimator checks run over the three wrappers; the checks that
cannot pass are listed in EXPECTED_FAILED_CHECKS with the reason (and in
docs/sklearn.md).  The other tests use the wrappers as users do: Pipeline,
GridSearchCV, cross_val_score, clone, warm starts.
"""

import copy
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastnn.callbacks import EarlyStopping  # noqa: E402
from fastnn.layers import Dense, Input  # noqa: E402
from fastnn.models import Model, Sequential  # noqa: E402
from fastnn.utils import set_random_seed  # noqa: E402
from fastnn.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402


def mlp(X, y, loss, hidden=8, out_activation="linear", optimizer="adam"):
    """A small network shaped by the data: one hidden layer, one output per column."""
    inputs = Input(shape=(X.shape[1],))
    h = Dense(hidden, activation="relu")(inputs)
    model = Model(inputs, Dense(y.shape[1], activation=out_activation)(h))
    model.compile(loss=loss, optimizer=optimizer)
    return model


FAST = {"epochs": 2, "verbose": 0, "batch_size": 64}

# Every check that fails, and why; docs/sklearn.md lists the same.
_REFIT = ("compares two fits on the same data: each fit starts from new random initial "
          "weights and a new shuffle, as in Keras (seed fastnn.utils.set_random_seed "
          "before each fit to repeat one)")
EXPECTED_FAILED_CHECKS = {
    "SKLearnClassifier": {
        "check_classifier_data_not_an_array": _REFIT,
        "check_supervised_y_2d": _REFIT,
        "check_fit_idempotent": _REFIT,
    },
    "SKLearnRegressor": {
        "check_regressor_data_not_an_array": _REFIT,
        "check_regressors_int": _REFIT,
        "check_supervised_y_2d": _REFIT,
        "check_fit_idempotent": _REFIT,
    },
    "SKLearnTransformer": {
        "check_fit_idempotent": _REFIT,
    },
}


@parametrize_with_checks(
    [
        SKLearnClassifier(model=mlp, model_kwargs={"loss": "categorical_crossentropy",
                                                   "out_activation": "softmax"},
                          fit_kwargs=FAST),
        SKLearnRegressor(model=mlp, model_kwargs={"loss": "mse"}, fit_kwargs=FAST),
        SKLearnTransformer(model=mlp, model_kwargs={"loss": "mse"}, fit_kwargs=FAST),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__],
)
def test_sklearn_estimator_checks(estimator, check):
    # Seeded, so that each check sees the same initial weights on every run: a check
    # passes or fails for a reason, never by the draw.
    set_random_seed(0)
    check(estimator)


# ----------------------------------------------------------------- data
@pytest.fixture(scope="module")
def classification():
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=120, n_features=5, n_informative=3,
                               n_redundant=0, n_classes=3, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    return X, X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.normal(size=120)


def classifier(**kwargs):
    kwargs.setdefault("fit_kwargs", {"epochs": 40, "verbose": 0, "batch_size": 16})
    return SKLearnClassifier(model=mlp, model_kwargs={
        "loss": "categorical_crossentropy", "out_activation": "softmax", "hidden": 16},
        **kwargs)


# ----------------------------------------------------------------- classifier
def test_classifier_one_hot_encodes_labels_before_building_and_fitting(classification):
    X, y = classification
    labels = np.array(["cat", "dog", "emu"])[y]
    seen = {}

    def spy(X, y, **kwargs):
        seen["y"] = y
        model = mlp(X, y, "categorical_crossentropy", out_activation="softmax")
        original_fit = model.fit

        def fit(x, y_fit, **kw):
            seen["y_fit"] = y_fit
            return original_fit(x, y_fit, **kw)
        model.fit = fit
        return model

    est = SKLearnClassifier(model=spy, fit_kwargs={"epochs": 1, "verbose": 0}).fit(X, labels)
    expected = (labels[:, None] == np.array(["cat", "dog", "emu"])).astype(float)
    np.testing.assert_array_equal(seen["y"], expected)
    np.testing.assert_array_equal(seen["y_fit"], expected)
    np.testing.assert_array_equal(est.classes_, ["cat", "dog", "emu"])
    assert set(est.predict(X)) <= set(est.classes_)
    assert est.decision_function(X).shape == (len(X), 3)


def test_classifier_learns_and_exposes_fitted_attributes(classification):
    X, y = classification
    set_random_seed(1)
    est = classifier().fit(X, y)
    assert est.score(X, y) > 0.8
    assert est.n_features_in_ == 5
    assert isinstance(est.model_, Model)
    assert len(est.history_["loss"]) == 40
    assert est.history_["loss"][-1] < est.history_["loss"][0]
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])


def test_binary_decision_function_is_one_score_that_agrees_with_predict(classification):
    X, y = classification
    y2 = (y == 2).astype(int)
    est = classifier(fit_kwargs={"epochs": 5, "verbose": 0}).fit(X, y2)
    score = est.decision_function(X)
    outputs = est.model_.predict(X, verbose=0)
    assert score.shape == (len(X),)
    np.testing.assert_allclose(score, outputs[:, 1] - outputs[:, 0])
    np.testing.assert_array_equal(est.predict(X), est.classes_[(score > 0).astype(int)])


def test_classifier_refuses_continuous_and_single_class_targets(classification):
    X, _ = classification
    with pytest.raises(ValueError, match="Unknown label type|continuous"):
        classifier().fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        classifier().fit(X, np.zeros(len(X), dtype=int))


def test_model_with_the_wrong_number_of_outputs_is_named(classification):
    X, y = classification

    def two_outputs(X, y):
        return mlp(X, np.zeros((len(X), 2)), "mse")
    est = SKLearnClassifier(model=two_outputs, fit_kwargs={"epochs": 1, "verbose": 0})
    with pytest.raises(ValueError):  # fit itself: y has 3 columns, the model 2
        est.fit(X, y)


# ----------------------------------------------------------------- regressor, transformer
def test_regressor_keeps_the_shape_of_y(regression):
    X, y = regression
    set_random_seed(2)
    est = SKLearnRegressor(model=mlp, model_kwargs={"loss": "mse", "hidden": 16},
                           fit_kwargs={"epochs": 60, "verbose": 0, "batch_size": 16})
    est.fit(X, y)
    assert est.predict(X).shape == (len(X),)
    assert est.score(X, y) > 0.8
    est.fit(X, np.column_stack([y, -y]))
    assert est.predict(X).shape == (len(X), 2)


def test_transformer_gives_the_models_outputs(regression):
    X, y = regression
    est = SKLearnTransformer(model=mlp, model_kwargs={"loss": "mse"},
                             fit_kwargs={"epochs": 1, "verbose": 0})
    out = est.fit_transform(X, np.column_stack([y, y, y]))
    assert out.shape == (len(X), 3)
    np.testing.assert_allclose(out, est.model_.predict(X, verbose=0))


# ----------------------------------------------------------------- scikit-learn's tools
def test_pipeline_grid_search_and_cross_val_score(classification):
    X, y = classification
    pipe = make_pipeline(StandardScaler(), classifier(
        fit_kwargs={"epochs": 5, "verbose": 0, "batch_size": 32}))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    grid = GridSearchCV(pipe, {"sklearnclassifier__model_kwargs": [
        {"loss": "categorical_crossentropy", "out_activation": "softmax", "hidden": h}
        for h in (2, 8)]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["sklearnclassifier__model_kwargs"]["hidden"] in (2, 8)
    assert grid.predict(X).shape == (len(X),)


def test_grid_search_over_fit_kwargs(classification):
    X, y = classification
    grid = GridSearchCV(classifier(), {"fit_kwargs": [
        {"epochs": 1, "verbose": 0}, {"epochs": 3, "verbose": 0}]}, cv=2).fit(X, y)
    assert grid.best_params_["fit_kwargs"]["epochs"] in (1, 3)
    assert len(grid.best_estimator_.history_["loss"]) == grid.best_params_["fit_kwargs"]["epochs"]


def test_clone_keeps_every_parameter_including_fit_kwargs():
    stop = EarlyStopping(monitor="loss", patience=2)
    est = classifier(warm_start=True, fit_kwargs={"epochs": 7, "batch_size": 5,
                                                 "callbacks": [stop], "verbose": 0})
    twin = clone(est)
    params, twin_params = est.get_params(), twin.get_params()
    assert set(params) == set(twin_params) == {"model", "warm_start", "model_kwargs",
                                              "fit_kwargs"}
    assert twin_params["warm_start"] is True
    assert twin_params["model"] is mlp
    assert twin_params["model_kwargs"] == params["model_kwargs"]
    assert twin_params["fit_kwargs"]["epochs"] == 7
    assert twin_params["fit_kwargs"]["batch_size"] == 5
    assert type(twin_params["fit_kwargs"]["callbacks"][0]) is EarlyStopping
    assert twin_params["fit_kwargs"] is not params["fit_kwargs"]  # a copy, not shared


def test_clone_of_a_model_instance_copies_the_model(regression):
    X, y = regression
    model = mlp(X, y.reshape(-1, 1), "mse")
    est = SKLearnRegressor(model=model, fit_kwargs={"epochs": 1, "verbose": 0})
    twin = clone(est)
    assert twin.model is not model
    for a, b in zip(twin.model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert twin.model.compiled


def test_fit_kwargs_are_not_changed_by_fit(regression):
    X, y = regression
    fit_kwargs = {"epochs": 1, "verbose": 0}
    est = SKLearnRegressor(model=mlp, model_kwargs={"loss": "mse"}, fit_kwargs=fit_kwargs)
    est.fit(X, y, epochs=3)
    assert fit_kwargs == {"epochs": 1, "verbose": 0}
    assert len(est.history_["loss"]) == 3  # fit's own arguments take precedence


# ----------------------------------------------------------------- model instances
def test_a_model_instance_is_copied_and_left_untouched(regression):
    X, y = regression
    model = mlp(X, y.reshape(-1, 1), "mse")
    before = model.get_weights()
    est = SKLearnRegressor(model=model, fit_kwargs={"epochs": 3, "verbose": 0}).fit(X, y)
    assert est.model_ is not model
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(est.model_.get_weights(), before))


def test_an_unbuilt_sequential_instance_is_rebuilt_for_each_fit(regression):
    X, y = regression
    model = Sequential([Dense(4, activation="relu"), Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    est = SKLearnRegressor(model=model, fit_kwargs={"epochs": 1, "verbose": 0}).fit(X, y)
    assert est.model_ is not model and not model.built and est.model_.built


def test_warm_start_trains_in_place_and_continues(regression):
    X, y = regression
    model = mlp(X, y.reshape(-1, 1), "mse")
    est = SKLearnRegressor(model=model, warm_start=True,
                           fit_kwargs={"epochs": 2, "verbose": 0}).fit(X, y)
    assert est.model_ is model
    first = est.history_["loss"][-1]
    est.fit(X, y)
    assert est.model_ is model
    assert est.history_["loss"][0] < est.history_["loss"][0] + 1  # sanity: recorded
    assert est.history_["loss"][-1] < first  # it continued from the trained weights


def test_fitted_estimator_pickles(regression):
    X, y = regression
    est = SKLearnRegressor(model=mlp, model_kwargs={"loss": "mse"},
                           fit_kwargs={"epochs": 1, "verbose": 0}).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    np.testing.assert_array_equal(copy.deepcopy(est).predict(X), est.predict(X))


# ----------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("params, match", [
    ({"model": "mlp"}, "`model`"),
    ({"model": mlp, "warm_start": "yes"}, "`warm_start`"),
    ({"model": mlp, "model_kwargs": ["loss"]}, "`model_kwargs`"),
    ({"model": mlp, "fit_kwargs": {1: 2}}, "`fit_kwargs`"),
])
def test_bad_parameters_are_named_at_fit(regression, params, match):
    X, y = regression
    est = SKLearnRegressor(**params)  # scikit-learn's convention: __init__ only stores
    with pytest.raises((TypeError, ValueError), match=match):
        est.fit(X, y)


def test_an_uncompiled_model_is_refused(regression):
    X, y = regression
    model = Sequential([Dense(1, input_dim=4)])
    with pytest.raises(ValueError, match="compiled"):
        SKLearnRegressor(model=model).fit(X, y)


def test_a_callable_returning_no_model_is_refused(regression):
    X, y = regression
    with pytest.raises(TypeError, match="must return a fastnn model"):
        SKLearnRegressor(model=lambda X, y: None).fit(X, y)


def test_predict_before_fit_raises_not_fitted(regression):
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        SKLearnRegressor(model=mlp).predict(regression[0])


# ----------------------------------------------------------------- the optional extra
def test_import_fastnn_does_not_import_sklearn():
    from subproc import run_python
    code = ("import sys, fastnn, fastnn.models, fastnn.layers; "
            "print('sklearn' in sys.modules)")
    assert run_python(["-c", code], check=True).stdout.strip() == "False"


def test_without_sklearn_constructing_says_how_to_install(monkeypatch):
    from fastnn.wrappers import scikit_learn
    monkeypatch.setattr(scikit_learn, "sklearn", None)
    with pytest.raises(ImportError, match=r"SKLearnRegressor needs scikit-learn.*pip install"):
        SKLearnRegressor(model=mlp)
