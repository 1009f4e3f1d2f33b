"""fastnn.metrics: values by hand and from Keras' examples, weighting, batching, resolution."""

import numpy as np
import pytest

from fastnn import losses, metrics


def _exact_auc(y, s):
    """ROC AUC by counting ordered pairs (ties count one half)."""
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


# ---------------------------------------------------------------------- values
# (metric factory, y_true, y_pred, sample_weight, unweighted result, weighted result);
# most are Keras' documented examples.
CASES = [
    (metrics.Accuracy, [[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0], 0.75, 0.5),
    (metrics.BinaryAccuracy, [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], [1, 0, 0, 1],
     0.75, 0.5),
    (metrics.CategoricalAccuracy, [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
     [0.7, 0.3], 0.5, 0.3),
    (metrics.SparseCategoricalAccuracy, [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
     [0.7, 0.3], 0.5, 0.3),
    (metrics.MeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.25, 0.5),
    (metrics.RootMeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.5,
     np.sqrt(0.5)),
    (metrics.MeanAbsoluteError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.25, 0.5),
    (metrics.Hinge, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1, 0], 1.3, 1.1),
    (metrics.CategoricalHinge, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1, 0], 1.4, 1.2),
    (metrics.BinaryCrossentropy, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1, 0],
     0.81492424, 0.91629),
    (metrics.CategoricalCrossentropy, [[0, 1, 0], [0, 0, 1]],
     [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], [0.3, 0.7], 1.1769392, 1.6271976),
    (metrics.SparseCategoricalCrossentropy, [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     [0.3, 0.7], 1.1769392, 1.6271976),
    (metrics.Precision, [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 2 / 3, 1.0),
    (metrics.Recall, [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 2 / 3, 1.0),
    (lambda: metrics.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], [1, 0, 0, 0],
     0.75, 0.0),
]


@pytest.mark.parametrize("make,y,p,w,plain,weighted", CASES)
def test_values_weighting_and_reset(make, y, p, w, plain, weighted):
    m = make()
    m.update_state(y, p)
    assert isinstance(m.result(), float)
    assert m.result() == pytest.approx(plain, abs=1e-5)
    m.reset_state()
    m.update_state(y, p, sample_weight=w)
    assert m.result() == pytest.approx(weighted, abs=1e-5)
    m.reset_state()
    assert m.result() == 0.0
    assert make()(y, p) == pytest.approx(plain, abs=1e-5)  # __call__ updates then reports


def _batches(y, p, w, cuts):
    bounds = [0, *cuts, len(y)]
    return [(y[a:b], p[a:b], w[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("make,kind", [
    (metrics.BinaryAccuracy, "binary"), (metrics.Accuracy, "labels"),
    (metrics.CategoricalAccuracy, "onehot"), (metrics.SparseCategoricalAccuracy, "sparse"),
    (metrics.MeanSquaredError, "binary"), (metrics.MeanAbsoluteError, "binary"),
    (metrics.RootMeanSquaredError, "binary"), (metrics.CategoricalCrossentropy, "onehot"),
    (metrics.AUC, "binary"), (lambda: metrics.AUC(curve="PR"), "binary"),
    (metrics.Precision, "binary"), (metrics.Recall, "binary"),
])
def test_batches_accumulate_like_one_shot(rng, make, kind):
    n, k = 37, 4
    if kind == "binary":
        y = rng.integers(0, 2, size=(n, 1)).astype(float)
        p = rng.uniform(size=(n, 1))
    elif kind == "labels":
        y = rng.integers(0, 3, size=(n, 1))
        p = rng.integers(0, 3, size=(n, 1))
    else:
        labels = rng.integers(0, k, size=n)
        p = rng.dirichlet(np.ones(k), size=n)
        y = labels if kind == "sparse" else np.eye(k)[labels]
    w = rng.uniform(0, 2, size=n)
    for weights in (None, w):
        whole = make()
        whole.update_state(y, p, sample_weight=weights)
        parts = make()
        for yb, pb, wb in _batches(y, p, w, [5, 6, 20]):
            parts.update_state(yb, pb, sample_weight=None if weights is None else wb)
        assert parts.result() == pytest.approx(whole.result(), rel=1e-12, abs=1e-12)


def test_mean_weights_each_sample_once():
    m = metrics.Mean()
    m.update_state([1.0, 2.0, 3.0])
    m.update_state([[4.0, 6.0]])  # one sample: its mean counts once
    assert m.result() == pytest.approx((1 + 2 + 3 + 5) / 4)
    m.reset_state()
    m.update_state([1.0, 3.0], sample_weight=[3.0, 1.0])
    assert m.result() == pytest.approx(1.5)
    m.reset_state()
    m.update_state([[1.0], [3.0]], sample_weight=[3.0, 1.0])  # (n, 1) against (n,)
    assert m.result() == pytest.approx(1.5)
    with pytest.raises(ValueError, match="sample_weight"):
        m.update_state([1.0, 2.0, 3.0], sample_weight=[1.0, 2.0])


def test_binary_accuracy_threshold_and_shapes():
    assert metrics.BinaryAccuracy(threshold=0.7)([1, 0, 1], [0.8, 0.65, 0.65]) == \
        pytest.approx(2 / 3)
    # (n,) targets against (n, 1) predictions
    assert metrics.BinaryAccuracy()([1, 0, 1, 0], [[0.9], [0.2], [0.4], [0.6]]) == 0.5


def test_auc_close_to_exact_and_matches_on_separated_scores(rng):
    y = rng.integers(0, 2, size=500)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    m = metrics.AUC()
    m.update_state(y, s)
    assert m.result() == pytest.approx(_exact_auc(y, s), abs=5e-3)
    # Scores far apart from every bucket boundary: the bucketed curve is exact.
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.62, 0.21])
    y = np.array([0, 0, 1, 1, 1, 0])
    assert metrics.AUC()(y, s) == pytest.approx(_exact_auc(y, s))


def test_auc_extremes_and_options():
    y, s = [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]
    assert metrics.AUC()(y, s) == pytest.approx(1.0)
    assert metrics.AUC()(y, s[::-1]) == pytest.approx(0.0)
    assert metrics.AUC(curve="PR")(y, s) == pytest.approx(1.0)
    logits = np.log(np.array(s) / (1 - np.array(s)))
    assert metrics.AUC(from_logits=True)(y, logits) == pytest.approx(1.0)
    assert metrics.AUC(thresholds=[0.5]).num_thresholds == 3
    for method in ("minoring", "majoring"):
        assert metrics.AUC(summation_method=method)(y, s) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Received: curve='XY'"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match=r"`num_thresholds`: expected an integer >= 2\. "
                       r"Received: num_thresholds=1"):
        metrics.AUC(num_thresholds=1)


def test_precision_recall_thresholds_and_class_id():
    m = metrics.Precision(thresholds=[0.5, 0.0])
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx([2 / 3, 2 / 3])
    r = metrics.Recall(thresholds=[0.5, 0.95, 0.0])
    r.update_state([1, 1, 1, 0], [0.6, 0.96, 0.1, 0.99])
    assert r.result() == pytest.approx([2 / 3, 1 / 3, 1.0])
    m = metrics.Precision(class_id=1)
    m.update_state([[0, 1], [1, 0], [1, 1]], [[0.9, 0.8], [0.1, 0.7], [0.3, 0.2]])
    assert m.result() == pytest.approx(0.5)
    assert metrics.Precision()([0, 0], [0.1, 0.2]) == 0.0  # no positive predictions


# ---------------------------------------------------------------------- resolution
# Keras 3 (trainers/compile_utils.py) chooses the accuracy from the shapes: a 1-unit
# output is binary; targets with one axis less than the output, or a single column
# against several units, are sparse; anything else is categorical.
RESOLUTION = [
    ("sparse_categorical_crossentropy", (None, 10), (100,), metrics.SparseCategoricalAccuracy),
    ("sparse_categorical_crossentropy", (None, 10), (100, 1), metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", (None, 10), (100, 10), metrics.CategoricalAccuracy),
    ("binary_crossentropy", (None, 1), (100,), metrics.BinaryAccuracy),
    ("binary_crossentropy", (None, 1), (100, 1), metrics.BinaryAccuracy),
    ("mse", (None, 1), (100, 1), metrics.BinaryAccuracy),
    ("mse", (None, 3), (100, 3), metrics.CategoricalAccuracy),
    ("hinge", (None, 1), (100,), metrics.BinaryAccuracy),
    ("categorical_hinge", (None, 4), (100, 4), metrics.CategoricalAccuracy),
    # shapes unknown: the loss decides
    ("sparse_categorical_crossentropy", None, None, metrics.SparseCategoricalAccuracy),
    ("binary_crossentropy", None, None, metrics.BinaryAccuracy),
    ("categorical_crossentropy", None, None, metrics.CategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), (None, 5), None,
     metrics.SparseCategoricalAccuracy),
    ("mse", (None, 1), None, metrics.BinaryAccuracy),
]


@pytest.mark.parametrize("ident", ["accuracy", "acc", "Accuracy", "ACC"])
@pytest.mark.parametrize("loss,output_shape,target_shape,cls", RESOLUTION)
def test_accuracy_resolution(ident, loss, output_shape, target_shape, cls):
    m = metrics.resolve(ident, loss, output_shape=output_shape, target_shape=target_shape)
    assert type(m) is cls
    assert m.name == ident


@pytest.mark.parametrize("ident,cls", [
    ("mse", metrics.MeanSquaredError), ("mean_squared_error", metrics.MeanSquaredError),
    ("mae", metrics.MeanAbsoluteError), ("auc", metrics.AUC), ("AUC", metrics.AUC),
    ("precision", metrics.Precision), ("recall", metrics.Recall),
    ("binary_accuracy", metrics.BinaryAccuracy),
    ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", metrics.CategoricalCrossentropy),
    ("BinaryAccuracy", metrics.BinaryAccuracy),
])
def test_resolve_names_metrics_as_written(ident, cls):
    m = metrics.resolve(ident, "mse")
    assert type(m) is cls and m.name == ident


def test_resolve_objects_and_functions():
    auc = metrics.AUC(name="roc")
    assert metrics.resolve(auc, "binary_crossentropy") is auc and auc.name == "roc"
    assert metrics.resolve(None, "mse") is None
    assert type(metrics.resolve(metrics.Recall, "mse")) is metrics.Recall

    def half_error(y_true, y_pred):
        return 0.5 * np.abs(np.asarray(y_true) - np.asarray(y_pred)).mean(-1)

    m = metrics.resolve(half_error, "mse")
    assert m.name == "half_error"
    assert m([[1.0], [0.0]], [[0.0], [0.0]]) == pytest.approx(0.25)


def test_unknown_metric():
    with pytest.raises(ValueError) as info:
        metrics.get("acuracy")
    assert "Did you mean 'accuracy'?" in str(info.value)
    assert "Received: metric='acuracy'" in str(info.value)
    with pytest.raises(ValueError, match="Received: metric='f7'"):
        metrics.resolve("f7", "mse")


@pytest.mark.parametrize("metric", [
    metrics.BinaryAccuracy(threshold=0.3, name="acc"), metrics.CategoricalAccuracy(),
    metrics.AUC(num_thresholds=50, curve="PR"), metrics.AUC(thresholds=[0.2, 0.6]),
    metrics.Precision(thresholds=[0.3, 0.6]), metrics.Recall(class_id=2),
    metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    metrics.Mean(name="m"),
])
def test_serialize_round_trip(metric):
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()


# ---------------------------------------------------------------------- compile(metrics=,
# weighted_metrics=): Keras 3's meanings and names
import fastnn  # noqa: E402
from fastnn import layers  # noqa: E402


def _classifier(**compile_kwargs):
    fastnn.utils.set_random_seed(3)
    model = fastnn.Sequential([layers.Input(shape=(4,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", **compile_kwargs)
    return model


def _regressor(**compile_kwargs):
    fastnn.utils.set_random_seed(3)
    model = fastnn.Sequential([layers.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", **compile_kwargs)
    return model


def _classes(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, n)


def test_metrics_ignore_weights_and_weighted_metrics_use_them():
    x, y = _classes()
    model = _classifier(metrics=["accuracy"], weighted_metrics=["accuracy"])
    hits = (model.predict(x, verbose=0).argmax(axis=1) == y).astype(float)
    plain = hits.mean()
    assert 0 < plain < 1  # the test needs both hits and misses
    # float32, the model's dtype, so that the expected values use the same weights
    w = np.random.default_rng(1).uniform(0, 2, len(y)).astype("float32").astype(float)
    for kwargs, weighted in [({}, plain),
                             ({"sample_weight": w}, (hits * w).sum() / w.sum()),
                             # all-zero weights: Keras 3 reports the plain accuracy
                             # and a weighted one of 0
                             ({"sample_weight": np.zeros(len(y))}, 0.0)]:
        logs = model.evaluate(x, y, verbose=0, return_dict=True, **kwargs)
        assert list(logs) == ["loss", "accuracy", "weighted_accuracy"]
        assert logs["accuracy"] == pytest.approx(plain, abs=1e-12)
        assert logs["weighted_accuracy"] == pytest.approx(weighted, abs=1e-12)


def test_class_weight_weighs_only_the_weighted_metrics():
    x, y = _classes()
    model = _classifier(metrics=["accuracy"], weighted_metrics=["accuracy"])
    hits = (model.predict(x, verbose=0).argmax(axis=1) == y).astype(float)
    class_weight = {0: 0.0, 1: 1.0, 2: 3.0}
    w = np.array([class_weight[c] for c in y]) * 0.5
    # train_on_batch reports the metrics of the weights before its update
    logs = model.train_on_batch(x, y, sample_weight=np.full(len(y), 0.5),
                                class_weight=class_weight, return_dict=True)
    assert logs["accuracy"] == pytest.approx(hits.mean(), abs=1e-12)
    assert logs["weighted_accuracy"] == pytest.approx((hits * w).sum() / w.sum(), abs=1e-12)


def test_fit_reports_both_lists_and_validation_weights():
    x, y = _classes()
    model = _classifier(metrics=["accuracy"],
                        weighted_metrics=["sparse_categorical_crossentropy", "accuracy"])
    zeros = np.zeros(len(y))
    history = model.fit(x, y, sample_weight=zeros, validation_data=(x, y, zeros),
                        epochs=1, verbose=0, shuffle=False).history
    assert list(history) == [
        "loss", "accuracy", "sparse_categorical_crossentropy", "weighted_accuracy",
        "val_loss", "val_accuracy", "val_sparse_categorical_crossentropy",
        "val_weighted_accuracy"]
    # zero weights: nothing counts in the weighted metrics, everything in the others
    assert history["weighted_accuracy"] == history["val_weighted_accuracy"] == [0.0]
    assert history["sparse_categorical_crossentropy"] == [0.0]
    assert history["accuracy"][0] > 0 and history["val_accuracy"][0] > 0


@pytest.mark.parametrize("compile_kwargs, keys", [
    # only weighted: the plain name, as in Keras 3
    ({"weighted_metrics": ["accuracy"]}, ["accuracy"]),
    ({"metrics": ["mse", "mse"]}, ["mse", "mse_1"]),
    ({"metrics": ["mae"], "weighted_metrics": ["mae", "mae", "mse"]},
     ["mae", "weighted_mae", "weighted_mae_1", "mse"]),
    ({"metrics": [metrics.MeanSquaredError(name="err")],
      "weighted_metrics": [metrics.MeanAbsoluteError(name="err")]}, ["err", "weighted_err"]),
])
def test_metric_log_keys_follow_keras(compile_kwargs, keys):
    x, y = _classes()
    logs = _regressor(**compile_kwargs).evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss"] + keys


def test_metric_log_keys_of_several_outputs():
    inp = layers.Input(shape=(4,))
    out_a = layers.Dense(1, name="a")(inp)
    out_b = layers.Dense(1, name="b")(inp)
    model = fastnn.Model(inp, [out_a, out_b])
    model.compile(optimizer="sgd", loss="mse", metrics={"a": "mae", "b": ["mae", "mse"]},
                  weighted_metrics=[["mse"], ["mse"]])
    x = np.ones((8, 4), dtype="float32")
    logs = model.evaluate(x, [np.ones(8), np.zeros(8)], verbose=0, return_dict=True)
    assert list(logs) == ["loss", "a_mae", "b_mae", "b_mse", "a_mse", "b_weighted_mse"]
    assert logs["b_mse"] == logs["b_weighted_mse"]  # no weights: the same value


def test_weighted_metrics_are_checked_like_metrics():
    with pytest.raises(TypeError, match="Expected weighted_metrics to be a list"):
        _classifier(weighted_metrics="accuracy")
    with pytest.raises(ValueError, match="Unknown metric"):
        _classifier(weighted_metrics=["acuracy"])


def test_a_metric_object_given_to_compile_is_a_template():
    x, y = _classes()
    mse = metrics.MeanSquaredError(name="err")
    model = _regressor(metrics=[mse], weighted_metrics=[mse])
    assert model.metrics == [mse, mse]  # before any call: the compiled objects
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert mse.count == 0  # never updated: each call works on copies
    # model.metrics: the objects of the latest call, one per log key
    latest = model.metrics
    assert len(latest) == 2 and latest[0] is not latest[1] and mse not in latest
    assert [m.result() for m in latest] == [logs["err"], logs["weighted_err"]]


def test_weighted_metrics_survive_save_and_load(tmp_path):
    x, y = _classes()
    model = _classifier(metrics=["accuracy"], weighted_metrics=["accuracy"])
    path = tmp_path / "m.fnn"
    model.save(path)
    loaded = fastnn.models.load_model(path)
    w = np.linspace(0, 1, len(y))
    assert (loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
            == model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True))


def test_a_metric_with_one_result_per_threshold_logs_a_list():
    x, y = _classes()
    model = fastnn.Sequential([layers.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[metrics.Precision(thresholds=[0.0, 1.0])])
    logs = model.evaluate(x, y % 2, verbose=0, return_dict=True)
    # everything is a positive above 0 and nothing above 1
    assert logs["precision"] == [pytest.approx((y % 2).mean()), 0.0]
    history = model.fit(x, y % 2, epochs=1, verbose=0, validation_split=0.25).history
    assert len(history["precision"][0]) == len(history["val_precision"][0]) == 2
