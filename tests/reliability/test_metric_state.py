"""Metric state belongs to one call, not to the model.

Each ``fit`` epoch, ``evaluate`` and ``*_on_batch`` call updates metric objects of its
own, so calls that overlap on one model (two threads evaluating, an ``evaluate`` in
another thread or in a callback while ``fit`` runs) get exactly the values they would
get alone.  The overlaps are forced batch by batch with barriers, so a shared state
would be mixed on every run, not by chance.
"""

import threading

import numpy as np
import pytest

import fastnn
from fastnn import callbacks, layers


def _model():
    fastnn.utils.set_random_seed(5)
    model = fastnn.Sequential([
        layers.Input(shape=(6,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=["accuracy", fastnn.metrics.AUC(name="auc")],
                  weighted_metrics=["accuracy"])
    return model


def _data(seed, n=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)
    # the two data sets must score differently, or a mix-up would not show
    y = y if seed % 2 else 2 - y
    return x, np.eye(3, dtype="float32")[y]  # one-hot, which AUC can read


def _in_step(barrier, hook):
    """A callback that waits for the other thread after each batch (``hook``:
    "on_test_batch_end" or "on_train_batch_end")."""
    return callbacks.LambdaCallback(**{hook: lambda batch, logs: barrier.wait(30)})


def _run_threads(*calls):
    results, errors = [None] * len(calls), []

    def run(k):
        try:
            results[k] = calls[k]()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


def test_two_threads_evaluating_one_model_get_their_own_results():
    model = _model()
    model.fit(*_data(0), epochs=2, verbose=0)
    data = [_data(1), _data(2)]
    weights = [np.linspace(0, 1, 64), np.linspace(1, 0, 64)]
    alone = [model.evaluate(x, y, sample_weight=w, batch_size=8, verbose=0,
                            return_dict=True) for (x, y), w in zip(data, weights)]
    assert alone[0] != alone[1]
    for _ in range(3):
        barrier = threading.Barrier(2)
        together = _run_threads(*[
            lambda x=x, y=y, w=w: model.evaluate(x, y, sample_weight=w, batch_size=8,
                                                 verbose=0, return_dict=True,
                                                 callbacks=[_in_step(barrier,
                                                                     "on_test_batch_end")])
            for (x, y), w in zip(data, weights)])
        assert together == alone


def test_test_on_batch_in_another_thread_keeps_its_own_metrics():
    model = _model()
    (x1, y1), (x2, y2) = _data(1), _data(2)
    alone = [model.test_on_batch(x1, y1, return_dict=True),
             model.test_on_batch(x2, y2, return_dict=True)]
    barrier = threading.Barrier(2)
    inside = [False]

    class Pause(fastnn.metrics.Metric):
        # pauses the first thread between its metric updates and its results
        def update_state(self, *args, **kwargs):
            pass

        def result(self):
            if threading.current_thread() is not threading.main_thread() and not inside[0]:
                inside[0] = True
                barrier.wait(30)
                barrier.wait(30)
            return 0.0

        def reset_state(self):
            pass

    # first, so that the paused call has read none of its results yet
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=[Pause(name="pause"), "accuracy", fastnn.metrics.AUC(name="auc")],
                  weighted_metrics=["accuracy"])
    results = [None]

    def first():
        results[0] = model.test_on_batch(x1, y1, return_dict=True)

    thread = threading.Thread(target=first)
    thread.start()
    barrier.wait(30)  # the first call has updated its metrics and is reading them
    second = model.test_on_batch(x2, y2, return_dict=True)
    barrier.wait(30)
    thread.join(60)
    for got, want in zip([results[0], second], alone):
        assert {k: v for k, v in got.items() if k != "pause"} == want


def _fit_history(model, extra_callbacks=()):
    fastnn.utils.set_random_seed(11)  # fit draws its shuffling seed from it
    x, y = _data(0)
    return model.fit(x, y, epochs=2, batch_size=16, verbose=0, sample_weight=np.ones(64),
                     validation_data=_data(3), callbacks=list(extra_callbacks)).history


def test_evaluate_in_on_batch_end_leaves_the_epoch_metrics_intact():
    reference = _fit_history(_model())
    batch_logs, nested = [], []
    model = _model()
    x, y = _data(1)

    def evaluate_inside(batch, logs):
        batch_logs.append(dict(logs))
        nested.append(model.evaluate(x, y, verbose=0, return_dict=True))

    got = _fit_history(model, [callbacks.LambdaCallback(on_batch_end=evaluate_inside)])
    assert got == reference
    # the running averages handed to each batch's callbacks are the fit's too
    assert len(batch_logs) == 8 and all(0 <= logs["accuracy"] <= 1 for logs in batch_logs)
    assert batch_logs[-1]["accuracy"] == reference["accuracy"][-1]
    assert nested[0] != {k: v for k, v in batch_logs[0].items()}


def test_evaluate_in_another_thread_during_fit_leaves_its_metrics_intact():
    reference = _fit_history(_model())
    model = _model()
    x, y = _data(1)
    barrier = threading.Barrier(2)
    # 8 training batches in fit (2 epochs of 4) against 8 evaluate batches
    history, _ = _run_threads(
        lambda: _fit_history(model, [_in_step(barrier, "on_train_batch_end")]),
        lambda: model.evaluate(x, y, batch_size=8, verbose=0,
                               callbacks=[_in_step(barrier, "on_test_batch_end")]),
    )
    assert history == reference


def test_on_batch_calls_start_from_fresh_metrics():
    (x1, y1), (x2, y2) = _data(1), _data(2)
    model, twin = _model(), _model()
    assert model.test_on_batch(x1, y1) != twin.test_on_batch(x2, y2)
    assert model.test_on_batch(x2, y2) == twin.test_on_batch(x2, y2)
    model.train_on_batch(x1, y1)
    twin.train_on_batch(x1, y1)
    # train_on_batch reports the metrics of the weights before its update, on its
    # batch alone: what test_on_batch reports for the same weights and batch
    got = model.train_on_batch(x2, y2, return_dict=True)
    want = twin.test_on_batch(x2, y2, return_dict=True)
    assert got.keys() == want.keys()
    for key in got:
        assert got[key] == pytest.approx(want[key], rel=1e-6)


class _Scorer:
    """An object whose bound method is a metric function: the copies must share it
    (a deep copy would copy the object, here refused to prove it never happens)."""

    def __init__(self):
        self.calls = 0

    def __deepcopy__(self, memo):
        raise AssertionError("the object behind a metric function was deep-copied")

    def hits(self, y_true, y_pred):
        self.calls += 1
        return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(float)


class _Collecting(fastnn.metrics.Metric):
    """A custom metric that clears its state in place and holds another metric."""

    def __init__(self, name="collecting"):
        super().__init__(name=name)
        self.seen = []
        self.inner = fastnn.metrics.Mean()

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.seen.append(len(y_true))
        self.inner.update_state(np.asarray(y_pred).max(axis=-1))

    def result(self):
        return sum(self.seen) + self.inner.result()

    def reset_state(self):
        self.seen.clear()  # in place: a shallow copy would share the list
        self.inner.reset_state()


def test_custom_metrics_get_their_own_state_and_share_their_functions():
    scorer = _Scorer()
    model = _model()
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=[fastnn.metrics.MeanMetricWrapper(scorer.hits, name="hits"),
                           _Collecting()])
    data = [_data(1), _data(2, n=40)]
    alone = [model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
             for x, y in data]
    assert alone[0]["collecting"] != alone[1]["collecting"]
    barrier = threading.Barrier(2)
    # 8 and 5 batches: the barrier pairs the first 5 of each, then lets one go on
    together = _run_threads(*[
        lambda x=x, y=y: model.evaluate(
            x, y, batch_size=8, verbose=0, return_dict=True,
            callbacks=[callbacks.LambdaCallback(
                on_test_batch_end=lambda b, logs: barrier.wait(30) if b < 5 else None)])
        for x, y in data])
    assert together == alone
    assert scorer.calls == 2 * (8 + 5)  # the one object served every copy
