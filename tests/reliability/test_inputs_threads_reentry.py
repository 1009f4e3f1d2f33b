"""Inputs, threads and re-entry (issue 13, second pass): clear errors, sane limits.

* Thread counts from ``set_num_threads``, ``num_threads(n)`` and ``OMP_NUM_THREADS``
  are capped at ``OVERSUBSCRIPTION`` threads per usable core, with a warning naming
  both counts; NumPy integers are accepted, bools are not.
* ``fit``/``train_on_batch`` called from a callback of the same model's ``fit`` says
  so, instead of blaming another thread.
* pandas nullable numeric columns are accepted, ``pd.NA`` and non-numeric columns are
  refused naming the column; plain DataFrames and Series work as before.
* A generator, a dataset object or a ``(x, y)`` tuple given as ``x`` gets a message that
  says what fastnn accepts.
"""

import sys
import threading
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import backend, callbacks, layers, threads
from fastnn.utils import validation as V
from subproc import run_python


def _model(inputs=3, seed=0):
    fastnn.utils.set_random_seed(seed)
    model = fastnn.Sequential([layers.Dense(4, activation="relu", input_dim=inputs),
                               layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _data(n=24, inputs=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, inputs)).astype("float32"), rng.normal(size=n)


# ----------------------------------------------------------------- thread counts
@pytest.fixture
def two_cores(monkeypatch):
    """The cap computed as if the process had 2 usable cores (so 8 threads at most)."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    before = threads._num_threads
    yield 2 * threads.OVERSUBSCRIPTION
    threads._num_threads = before


def test_a_count_within_the_cap_is_kept_without_a_warning(two_cores):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastnn.set_num_threads(two_cores)
        assert fastnn.get_num_threads() == two_cores


@pytest.mark.parametrize("asked", [9, 1000, 2**31, 10**30])
def test_set_num_threads_caps_a_huge_count_and_names_both_counts(two_cores, asked):
    with pytest.warns(RuntimeWarning) as caught:
        fastnn.set_num_threads(asked)
    assert fastnn.get_num_threads() == two_cores
    message = str(caught[0].message)
    assert f"num_threads={asked}" in message and f"use {two_cores} threads" in message
    assert caught[0].filename == __file__  # points at the caller's line


def test_num_threads_block_caps_too_and_restores(two_cores):
    threads._num_threads = None
    with pytest.warns(RuntimeWarning, match="num_threads=500"):
        with threads.num_threads(500) as used:
            assert used == fastnn.get_num_threads() == two_cores
    assert threads._num_threads is None


@pytest.mark.skipif(not backend.native_available(), reason="needs the native kernels")
def test_kernels_run_after_set_num_threads_2_31():
    # before the cap, every kernel raised OverflowError (they take a C int)
    before = threads._num_threads
    try:
        with pytest.warns(RuntimeWarning):
            fastnn.set_num_threads(2**31)
        a = np.ones((8, 8), dtype=np.float32)
        np.testing.assert_array_equal(backend.get("native").matmul(a, a), a @ a)
    finally:
        threads._num_threads = before


@pytest.mark.parametrize("count", [np.int64(2), np.int32(1), np.uint8(2)])
def test_numpy_integers_are_accepted(count):
    with threads.num_threads(count) as used:
        assert used == int(count) and type(used) is int
        assert fastnn.get_num_threads() == int(count)


@pytest.mark.parametrize("bad", [np.bool_(True), False, 2.0, np.float64(2), None])
def test_bools_floats_and_none_are_refused(bad):
    with pytest.raises(TypeError, match="num_threads"):
        fastnn.set_num_threads(bad)


def test_omp_num_threads_is_capped_with_a_warning():
    code = ("import fastnn, fastnn.threads as t; "
            "print(fastnn.get_num_threads(), t.max_num_threads())")
    out = run_python(["-W", "always", "-c", code], env={
        **__import__("os").environ, "OMP_NUM_THREADS": "100000"}, check=True)
    used, cap = map(int, out.stdout.split())
    assert used == cap == threads.OVERSUBSCRIPTION * threads.usable_cores()
    assert "OMP_NUM_THREADS=100000" in out.stderr and f"use {cap} threads" in out.stderr


# ----------------------------------------------------------------- re-entry
class _CallsFromCallback(callbacks.Callback):
    def __init__(self, hook, call):
        super().__init__()
        self.hook, self.call, self.error = hook, call, None

    def _run(self, *args, **kwargs):
        x, y = _data()
        try:
            getattr(self.model, self.call)(x, y, **({"verbose": 0} if self.call == "fit"
                                                    else {}))
        except RuntimeError as exc:
            self.error = exc
            raise


@pytest.mark.parametrize("hook", ["on_epoch_end", "on_train_batch_end"])
@pytest.mark.parametrize("call", ["fit", "train_on_batch"])
def test_training_from_a_callback_of_the_same_model_says_so(hook, call):
    model = _model()
    cb = _CallsFromCallback(hook, call)
    setattr(cb, hook, cb._run)
    x, y = _data()
    with pytest.raises(RuntimeError) as info:
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    message = str(info.value)
    assert info.value is cb.error
    assert f"{call}() was called from inside fit() on the same model" in message
    assert "another thread" not in message
    # the guard was released: the model trains again
    model.fit(x, y, epochs=1, verbose=0)


def test_another_thread_is_still_named_as_such():
    model = _model()
    x, y = _data()
    inside, release, seen = threading.Event(), threading.Event(), []

    class Pause(callbacks.Callback):
        def on_train_begin(self, logs=None):
            inside.set()
            release.wait(30)

    worker = threading.Thread(target=model.fit, args=(x, y),
                              kwargs={"verbose": 0, "callbacks": [Pause()]})
    worker.start()
    try:
        assert inside.wait(30)
        with pytest.raises(RuntimeError) as info:
            model.train_on_batch(x, y)
        seen.append(str(info.value))
    finally:
        release.set()
        worker.join(30)
    assert "already being trained in another thread" in seen[0]


# ----------------------------------------------------------------- pandas
@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


def test_nullable_numeric_columns_train_like_the_numpy_array(pd):
    x, y = _data()
    x[:, 2] = np.arange(len(x)) % 2  # a 0/1 column, given as pandas' boolean
    frame = pd.DataFrame({"f": pd.array(x[:, 0], dtype="Float32"),
                          "i": pd.array(np.round(x[:, 1] * 10).astype(int), dtype="Int64"),
                          "b": pd.array(x[:, 2].astype(bool), dtype="boolean")})
    plain = np.column_stack([x[:, 0], np.round(x[:, 1] * 10), x[:, 2]])
    target = pd.Series(pd.array(y, dtype="Float64"), name="target")
    weights = pd.Series(pd.array(np.ones(len(y)), dtype="Float32"))
    a, b = _model(), _model()
    a.fit(frame, target, sample_weight=weights, epochs=2, shuffle=False, verbose=0)
    b.fit(plain, y, sample_weight=np.ones(len(y)), epochs=2, shuffle=False, verbose=0)
    np.testing.assert_array_equal(a.predict(frame, verbose=0), b.predict(plain, verbose=0))
    assert np.isfinite(a.evaluate(frame, target, verbose=0))


def test_to_float_array_converts_a_nullable_series(pd):
    got = V.to_float_array(pd.Series(pd.array([1, 2, 3], dtype="Int64")), "x", np.float32)
    assert got.dtype == np.float32 and got.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("where", ["x", "y"])
def test_a_missing_value_is_refused_naming_its_column(pd, where):
    x, y = _data()
    frame = pd.DataFrame({"a": x[:, 0], "b": pd.array(x[:, 1], dtype="Float32"),
                          "c": x[:, 2]})
    target = pd.Series(pd.array(y, dtype="Float64"), name="price")
    if where == "x":
        frame.loc[5, "b"] = pd.NA
        expected = "x column 'b' has 1 missing value"
    else:
        target[[2, 7]] = pd.NA
        expected = "y (Series 'price') has 2 missing value"
    with pytest.raises(ValueError, match=r"pd\.NA") as info:
        _model().fit(frame, target, verbose=0)
    assert expected in str(info.value)


@pytest.mark.parametrize("column, advice", [
    ("categorical", "is categorical; encode it first: `.cat.codes`"),
    ("string", "`pd.to_numeric(...)`"),
    ("object", "`pd.to_numeric(...)`"),
    ("datetime", "convert it to a numeric dtype"),
])
def test_a_non_numeric_column_is_refused_with_its_name_and_a_fix(pd, column, advice):
    x, y = _data()
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1]})
    n = len(frame)
    frame["odd"] = {
        "categorical": pd.Categorical(["u", "v"] * (n // 2)),
        "string": pd.array(["1.5"] * n, dtype="string"),
        "object": np.array([1.5, "2"] * (n // 2), dtype=object),
        "datetime": pd.date_range("2024-01-01", periods=n),
    }[column]
    with pytest.raises(TypeError) as info:
        _model().fit(frame, y, verbose=0)
    message = str(info.value)
    assert "x column 'odd'" in message and advice in message
    assert "ragged" not in message


def test_a_categorical_target_is_refused_naming_it(pd):
    x, y = _data()
    labels = pd.Series(pd.Categorical(["cat", "dog"] * (len(x) // 2)), name="animal")
    with pytest.raises(TypeError, match=r"y \(Series 'animal'\) is categorical"):
        _model().fit(x, labels, verbose=0)


def test_plain_dataframes_and_series_work_as_before(pd):
    x, y = _data()
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    a, b = _model(), _model()
    a.fit(frame, pd.Series(y), epochs=2, shuffle=False, verbose=0)
    b.fit(x, y, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_array_equal(a.predict(frame, verbose=0), b.predict(x, verbose=0))
    # a frame the conversion returns as it is, so np.asarray sees the same object
    assert V.from_pandas(frame, "x") is frame
    # mixed NumPy dtypes (bool with float) convert to one array; NumPy made them objects
    mixed = frame.assign(c=frame["c"] > 0)
    np.testing.assert_array_equal(V.to_float_array(mixed, "x", np.float32),
                                  mixed.to_numpy(dtype=np.float32))
    # a NaN in a plain float column is refused as before
    frame.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        a.predict(frame, verbose=0)


def test_fastnn_does_not_import_pandas():
    code = ("import sys, numpy as np, fastnn; from fastnn import layers; "
            "m = fastnn.Sequential([layers.Dense(1, input_dim=2)]); "
            "m.compile('sgd', 'mse'); m.fit(np.ones((4, 2)), np.ones(4), verbose=0); "
            "print('pandas' in sys.modules)")
    assert run_python(["-c", code], check=True).stdout.strip() == "False"


# ----------------------------------------------------------------- other containers
def _rows():
    x, _ = _data()
    yield from x


class _Dataset:
    """A stand-in for a tf.data.Dataset or a DataLoader: iterable, not array-like."""

    def __iter__(self):
        return iter([_data()])


@pytest.mark.parametrize("make", [_rows, _Dataset, object],
                         ids=["generator", "dataset", "object"])
@pytest.mark.parametrize("call", ["fit", "predict", "evaluate"])
def test_a_non_array_x_says_what_fastnn_accepts(make, call):
    model = _model()
    _, y = _data()
    args = (make(),) if call == "predict" else (make(), y)
    with pytest.raises(TypeError) as info:
        getattr(model, call)(*args, verbose=0)
    message = str(info.value)
    assert message.startswith("Expected x to be a NumPy array")
    assert "a dict of arrays by input name" in message and "pandas DataFrame" in message
    assert f"type {type(args[0]).__name__}" in message
    if make is not object:
        assert "not on generators or datasets" in message
    assert "dtype=object" not in message


def test_an_unbuilt_sequential_says_the_same():
    model = fastnn.Sequential([layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="Expected x to be a NumPy array .*generator"):
        model.fit(_rows(), np.ones(24), verbose=0)


@pytest.mark.parametrize("call", ["fit", "train_on_batch", "evaluate", "test_on_batch"])
def test_an_x_y_tuple_as_x_is_refused_with_the_right_form(call):
    x, y = _data()
    kwargs = {"verbose": 0} if call in ("fit", "evaluate") else {}
    with pytest.raises(ValueError) as info:
        getattr(_model(), call)((x, y), **kwargs)
    message = str(info.value)
    assert f"{call}(x, y)" in message and "validation_data" in message
    with pytest.raises(ValueError, match="sample_weight="):
        getattr(_model(), call)((x, y, np.ones(len(y))), **kwargs)


def test_a_tuple_of_inputs_with_y_still_works():
    a, b = fastnn.Input(shape=(3,)), fastnn.Input(shape=(2,))
    out = layers.Dense(1)(layers.Concatenate()([a, b]))
    model = fastnn.Model([a, b], out)
    model.compile("sgd", "mse")
    x, y = _data()
    model.fit((x, x[:, :2]), y, verbose=0)
    assert model.predict((x, x[:, :2]), verbose=0).shape == (len(x), 1)


def test_a_tuple_of_arrays_for_one_input_names_their_shapes():
    x, y = _data()
    with pytest.raises(ValueError, match=r"a tuple of 2 arrays with shapes \(24, 3\), "
                                         r"\(24,\)"):
        _model().predict((x, y), verbose=0)

