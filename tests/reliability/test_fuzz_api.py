"""Fuzzed public API: random shapes, dtypes, values, layouts and arguments go into
``fit``, ``evaluate``, ``predict``, the ``*_on_batch`` methods, layer construction and
``compile``.  Only the documented exceptions (ValueError, TypeError, RuntimeError) with a
message may come out, the interpreter never crashes, and a refused call leaves the model
unchanged.

The default suite runs a small sample.  The long run (>= 10,000 cases)::

    pytest -m slow tests/reliability/test_fuzz_api.py -s

or scale any run with ``FASTNN_FUZZ_EXAMPLES=<examples per test>``.
"""

import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import backend, layers, optimizers

ALLOWED = (ValueError, TypeError, RuntimeError)
FAST = int(os.environ.get("FASTNN_FUZZ_EXAMPLES", "25"))
LONG = int(os.environ.get("FASTNN_FUZZ_LONG_EXAMPLES", "3000"))
BACKENDS = ["numpy"] + (["native"] if backend.native_available() else [])
CASES = {"count": 0}


def _settings(n):
    return settings(max_examples=n, deadline=None, derandomize=False, database=None,
                    suppress_health_check=list(HealthCheck))


FAST_SETTINGS = _settings(FAST)
LONG_SETTINGS = _settings(LONG)


# ----------------------------------------------------------------- data strategies
DTYPES = ["bool", "int8", "int32", "int64", "uint8", "uint64", "float16", "float32",
          "float64", ">f4", "complex64", "object", "U3", "S2", "datetime64[s]"]
SPECIAL = [np.nan, np.inf, -np.inf, 1e308, -1e308, 6.5e4, 1e-310, 0.0, -0.0, 1e30]


@st.composite
def arrays(draw, features=None):
    """An array-like: ndarrays of any dtype, rank 0-3, odd layouts, special values;
    sometimes lists, scalars, strings or None."""
    kind = draw(st.sampled_from(["array"] * 6 + ["list", "ragged", "scalar", "other"]))
    if kind == "other":
        return draw(st.sampled_from([None, "abc", b"xy", {"a": 1}, object(), 3 + 4j,
                                     [], [[]], (), [None, None], ["a", "b"]]))
    if kind == "scalar":
        return draw(st.sampled_from([0, 1, -1, 2.5, np.nan, True, np.float32(1),
                                     10**30, np.int64(7)]))
    if kind == "ragged":
        return [[1.0, 2.0], [3.0]]
    ndim = draw(st.sampled_from([0, 1, 2, 2, 2, 3]))
    n = draw(st.sampled_from([0, 1, 2, 3, 7, 33]))
    shape = [n] + [draw(st.sampled_from([0, 1, 2, 3, 4, 5] + ([features] * 4 if features
                                                                else [])))
                   for _ in range(max(ndim - 1, 0))]
    shape = tuple(shape[:ndim])
    dtype = draw(st.sampled_from(DTYPES[:10] * 3 + DTYPES[10:]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = rng.normal(size=shape) * draw(st.sampled_from([1, 1, 1e3, 1e6, 1e30]))
    if math.prod(shape) and draw(st.booleans()):
        flat = base.reshape(-1)
        for _ in range(draw(st.integers(1, 3))):
            flat[rng.integers(0, flat.size)] = draw(st.sampled_from(SPECIAL))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if dtype in ("object", "U3", "S2"):
            arr = base.astype(dtype)
        elif dtype == "datetime64[s]":
            arr = np.zeros(shape, dtype=dtype)
        elif dtype == "bool":
            arr = base > 0
        elif dtype.startswith(("int", "uint")):
            arr = np.nan_to_num(base, posinf=0, neginf=0).clip(-100, 100).astype(dtype)
        else:
            arr = base.astype(dtype)
    arr = np.asarray(arr)
    layout = draw(st.sampled_from(["c", "c", "f", "strided", "readonly", "list", "view0"]))
    if layout == "f":
        arr = np.asfortranarray(arr)
    elif layout == "strided" and arr.ndim >= 1:
        doubled = np.repeat(arr, 2, axis=-1)
        arr = doubled[..., ::2]
    elif layout == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    elif layout == "list" and arr.dtype.kind in "biuf":
        return arr.tolist()
    elif layout == "view0" and arr.ndim >= 1:
        arr = np.broadcast_to(arr[:1], arr.shape) if arr.shape[0] else arr
    return arr


def good_x(rng, n, d, dtype="float32"):
    return rng.normal(size=(n, d)).astype(dtype)


# ----------------------------------------------------------------- models
def _make_model(kind):
    fastnn.utils.set_random_seed(0)
    if kind == "regression":
        m = fastnn.Sequential([layers.Dense(8, activation="tanh", input_dim=4),
                               layers.Dense(2)])
        m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    elif kind == "sparse":
        m = fastnn.Sequential([layers.Dense(8, activation="relu", input_dim=4),
                               layers.Dropout(0.2), layers.BatchNormalization(),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    elif kind == "binary":
        m = fastnn.Sequential([layers.Dense(5, activation="gelu", input_dim=4),
                               layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    elif kind == "categorical":
        m = fastnn.Sequential([fastnn.Input(shape=(2, 2)), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adagrad", loss="categorical_crossentropy")
    elif kind == "multi":
        a, b = fastnn.Input(shape=(4,), name="a"), fastnn.Input(shape=(3,), name="b")
        h = layers.Concatenate()([layers.Dense(4)(a), b])
        out1 = layers.Dense(2, name="o1")(h)
        out2 = layers.Dense(3, activation="softmax", name="o2")(h)
        m = fastnn.Model([a, b], [out1, out2])
        m.compile(optimizer="adamw", loss=["mse", "sparse_categorical_crossentropy"])
    elif kind == "embedding":
        m = fastnn.Sequential([layers.Embedding(10, 3, input_length=4, input_shape=(4,)),
                               layers.Flatten(), layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
    return m


KINDS = ["regression", "sparse", "binary", "categorical", "multi", "embedding"]


def _snapshot(model):
    return [w.copy() for w in model.get_weights()]


def _same(a, b):
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def _call(fn, *args, **kwargs):
    """Run one API call; only documented exceptions with a message may escape.
    Returns (result, exception)."""
    CASES["count"] += 1
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs), None
    except ALLOWED as exc:
        _check_message(exc)
        return None, exc


# Messages that come from NumPy or Python internals rather than from a check of ours.
UNCLEAR = ("not aligned", "could not broadcast", "operands could not", "index ",
           "is not iterable", "unhashable",
           "object has no attribute", "cannot reshape array", "'NoneType' object",
           "not supported between",
           "invalid literal", "must be real number", "only integer scalar")


def _check_message(exc):
    message = str(exc)
    assert message, f"{type(exc).__name__} without a message"
    for fragment in UNCLEAR:
        assert fragment not in message, f"unclear {type(exc).__name__}: {message}"


def _x_for(model, draw_x, n_hint):
    if isinstance(draw_x, tuple):  # multi-input pair
        return list(draw_x)
    return draw_x


def _good(kind, rng, n):
    """Valid (x, y) for a model kind."""
    x = {"multi": [good_x(rng, n, 4), good_x(rng, n, 3)],
         "categorical": rng.normal(size=(n, 2, 2)).astype("float32"),
         "embedding": rng.integers(0, 10, size=(n, 4))}.get(kind, good_x(rng, n, 4))
    y = {"regression": rng.normal(size=(n, 2)),
         "sparse": rng.integers(0, 3, n),
         "binary": rng.integers(0, 2, n).astype(bool),
         "categorical": np.eye(3)[rng.integers(0, 3, n)],
         "multi": [rng.normal(size=(n, 2)), rng.integers(0, 3, n)],
         "embedding": rng.normal(size=n)}[kind]
    return x, y


@st.composite
def relayout(draw, arr):
    """The same values in another dtype, layout or container."""
    if not isinstance(arr, np.ndarray):
        return arr
    how = draw(st.sampled_from(["dtype", "fortran", "strided", "readonly", "list",
                                "byteswap", "special", "huge", "tuple"]))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "dtype":
            try:
                return arr.astype(draw(st.sampled_from(DTYPES)))
            except (ValueError, TypeError, OverflowError):
                # strings that are not numbers; Python ints of an object array that
                # do not fit the new integer dtype (NumPy 2 refuses to wrap them)
                return arr
        if how == "fortran":
            return np.asfortranarray(arr)
        if how == "strided" and arr.ndim:
            return np.repeat(arr, 2, axis=0)[::2]
        if how == "readonly":
            arr = arr.copy()
            arr.flags.writeable = False
            return arr
        if how == "list":
            return arr.tolist()
        if how == "tuple":
            return tuple(arr.tolist()) if arr.ndim else arr
        if how == "byteswap" and arr.dtype.kind == "f":
            return arr.astype(arr.dtype.newbyteorder(">"))
        if how in ("special", "huge") and arr.size and arr.dtype.kind in "fiu":
            out = arr.astype("float64")
            flat = out.reshape(-1)
            if how == "special":
                flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from(SPECIAL))
            else:
                flat *= draw(st.sampled_from([1e4, 1e15, 1e38, 1e300]))
            return out.astype(arr.dtype) if draw(st.booleans()) else out
    return arr


MUTATIONS = ["x", "x_layout", "y", "y_layout", "n", "batch_size", "sample_weight",
             "fit_kwargs", "extra_kwarg", "verbose_callbacks"]


@st.composite
def api_case(draw):
    """A valid call with 0-3 things broken (one thing most of the time), so that the
    deeper checks are reached as often as the first ones."""
    kind = draw(st.sampled_from(KINDS))
    method = draw(st.sampled_from(["fit", "evaluate", "predict", "train_on_batch",
                                   "test_on_batch", "predict_on_batch"]))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    n = draw(st.sampled_from([1, 2, 5, 16]))
    x, y = _good(kind, rng, n)
    kwargs = {}
    features = {"multi": 4, "categorical": 2}.get(kind, 4)
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=0, max_size=3)):
        k = draw(st.integers(0, 1))  # which input/output of a multi model
        if mutation == "x":
            bad = draw(arrays(features))
            if kind == "multi" and isinstance(x, list) and len(x) == 2:
                x = list(x)
                x[k] = bad
                if draw(st.booleans()):
                    x = draw(st.sampled_from([{"a": x[0], "b": x[1]}, {"a": x[0]}, x[0],
                                              tuple(x), x + x]))
            else:
                x = bad
        elif mutation == "x_layout":
            if kind == "multi" and isinstance(x, list) and len(x) == 2:
                x = list(x)
                x[k] = draw(relayout(x[k]))
            elif not isinstance(x, (list, dict)):
                x = draw(relayout(x))
        elif mutation == "y":
            bad = draw(arrays(3))
            if kind == "multi" and isinstance(y, list) and len(y) == 2:
                y = list(y)
                y[k] = bad
            else:
                y = draw(st.sampled_from([bad, None, [bad], {"o1": bad}]))
        elif mutation == "y_layout":
            if kind == "multi" and isinstance(y, list) and len(y) == 2:
                y = list(y)
                y[k] = draw(relayout(y[k]))
            elif isinstance(y, np.ndarray):
                y = draw(relayout(y))
        elif mutation == "n":
            m = draw(st.sampled_from([0, 1, n + 1, 2 * n]))
            x2, y2 = _good(kind, rng, m)
            if draw(st.booleans()):
                x = x2
            else:
                y = y2
        elif mutation == "batch_size":
            kwargs["batch_size"] = draw(st.sampled_from([None, 1, 3, 32, 0, -1, 2.5, True,
                                                         "8", 10**18, np.int64(2)]))
        elif mutation == "sample_weight":
            kwargs["sample_weight"] = draw(st.one_of(
                arrays(), relayout(np.ones(n)), st.just(-np.ones(n)),
                st.just(np.full(n, 1e30)), st.just(np.zeros(n)), st.just(np.ones((n, 1)))))
        elif mutation == "fit_kwargs":
            key = draw(st.sampled_from(["epochs", "validation_split", "shuffle",
                                        "class_weight", "validation_data", "initial_epoch"]))
            kwargs[key] = draw(st.sampled_from({
                "epochs": [0, 1, 2, -1, 1.5, None, True, np.int32(2)],
                "validation_split": [0.0, 0.25, 0.5, 0.99, 1.0, -0.1, np.nan, "x"],
                "shuffle": [True, False, "batch", 1, None, np.bool_(True)],
                "class_weight": [{0: 1.0, 1: 2.0}, {0: -1}, {"a": 1}, [1, 2], {0: np.nan},
                                 {True: 1.0}, {5: 1.0}, {0: "x"}],
                "validation_data": ["x", (1,), None, (x,), (x, y), (x, y, None),
                                    (x, y, np.ones(n)), (x, y, 1, 2), [x, y]],
                "initial_epoch": [0, 1, 5, -1, 1.5],
            }[key]))
        elif mutation == "extra_kwarg":
            kwargs["bogus_argument"] = 1
        elif mutation == "verbose_callbacks":
            kwargs["verbose"] = draw(st.sampled_from([0, 2, 3, "auto", "x", None]))
            kwargs["callbacks"] = draw(st.sampled_from([None, [], "x", [1], object(), (),
                                                        fastnn.callbacks.History()]))
    if method in ("fit", "evaluate", "predict") and kwargs.get("verbose") in (None, "auto"):
        kwargs.pop("verbose", None)
        kwargs["verbose"] = 0
    return kind, method, x, y, kwargs


_MODELS = {}


def _model(kind, backend_name):
    key = (kind, backend_name)
    if key not in _MODELS:
        _MODELS[key] = _make_model(kind)
    return _MODELS[key]


def run_api_case(case, backend_name):
    kind, method, x, y, kwargs = case
    previous = backend.current()
    fastnn.set_backend(backend_name)
    try:
        model = _model(kind, backend_name)
        before = _snapshot(model)
        fn = getattr(model, method)
        keep = {
            "predict": ("batch_size", "verbose", "callbacks", "bogus_argument"),
            "predict_on_batch": (),
            "evaluate": ("batch_size", "verbose", "callbacks", "bogus_argument",
                         "sample_weight"),
            "train_on_batch": ("sample_weight",),
            "test_on_batch": ("sample_weight",),
        }.get(method)
        if keep is not None:
            kwargs = {k: v for k, v in kwargs.items() if k in keep}
        if method in ("predict", "predict_on_batch"):
            result, exc = _call(fn, x, **kwargs)
        else:
            result, exc = _call(fn, x, y, **kwargs)
        if exc is not None:
            after = _snapshot(model)
            assert _same(before, after), f"refused {method} changed the weights ({exc})"
        elif method in ("predict", "predict_on_batch"):
            outs = result if isinstance(result, list) else [result]
            for o in outs:
                assert isinstance(o, np.ndarray) and o.dtype.kind == "f"
        # training may legitimately blow up on huge values: start the next case afresh
        if not all(np.isfinite(w).all() for w in model.get_weights()) or method in (
                "fit", "train_on_batch"):
            _MODELS.pop((kind, backend_name), None)
    finally:
        fastnn.set_backend(previous.name)


@pytest.mark.parametrize("backend_name", BACKENDS)
@FAST_SETTINGS
@given(case=api_case())
def test_fuzz_training_api(backend_name, case):
    run_api_case(case, backend_name)


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", BACKENDS)
@LONG_SETTINGS
@given(case=api_case())
def test_fuzz_training_api_long(backend_name, case):
    run_api_case(case, backend_name)


# ----------------------------------------------------------------- layer construction
VALUES = [None, 0, 1, 2, 3, -1, 7, 2**31, 10**20, 0.5, -0.5, 1.5, np.nan, np.inf, True, False,
          "abc", "relu", "zeros", "l2", "float32", "float16", [], [2], [2, 2], (None, 2),
          {}, {"class_name": "Zeros", "config": {}}, {"class_name": "os.system"}, object(),
          np.int64(3), np.float32(0.25), b"x", 1j, lambda *a: 0]

LAYER_ARGS = {
    "Dense": ["units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
              "kernel_regularizer", "input_dim", "input_shape", "dtype", "name"],
    "Activation": ["activation", "name", "dtype"],
    "LeakyReLU": ["negative_slope", "alpha"],
    "PReLU": ["alpha_initializer", "alpha_regularizer", "shared_axes"],
    "Maxout": ["num_pieces", "units", "axis"],
    "Dropout": ["rate", "noise_shape", "seed"],
    "Flatten": ["data_format"],
    "Reshape": ["target_shape"],
    "Concatenate": ["axis"],
    "Add": [],
    "BatchNormalization": ["axis", "momentum", "epsilon", "center", "scale",
                           "gamma_initializer", "moving_variance_initializer"],
    "Embedding": ["input_dim", "output_dim", "embeddings_initializer", "mask_zero",
                  "input_length"],
}


@st.composite
def layer_case(draw):
    name = draw(st.sampled_from(sorted(LAYER_ARGS)))
    kwargs = {}
    for arg in LAYER_ARGS[name]:
        if draw(st.booleans()):
            kwargs[arg] = draw(st.sampled_from(VALUES))
    if draw(st.integers(0, 9)) == 0:
        kwargs["not_an_argument"] = 1
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 4, 6]), min_size=1, max_size=3)))
    return name, kwargs, shape


def _weights_too_large(exc):
    return isinstance(exc, MemoryError)


def run_layer_case(case):
    name, kwargs, shape = case
    cls = layers.REGISTRY[name]
    CASES["count"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = cls(**kwargs)
    except ALLOWED as exc:
        _check_message(exc)
        return
    # build it on an input and run it forward on data
    try:
        inputs = fastnn.Input(shape=shape)
        args = [inputs, fastnn.Input(shape=shape)] if name in ("Concatenate", "Add") else inputs
        out = layer(args)
        model = fastnn.Model(args if isinstance(args, list) else args, out)
        rng = np.random.default_rng(0)
        data = rng.integers(0, 2, size=(3,) + shape).astype("float32")
        with np.errstate(all="ignore"):
            model.predict([data, data] if isinstance(args, list) else data, verbose=0)
            model.compile(optimizer="sgd", loss="mse")
            y = model.predict([data, data] if isinstance(args, list) else data, verbose=0)
            model.fit([data, data] if isinstance(args, list) else data, y, verbose=0)
    except ALLOWED as exc:
        _check_message(exc)
    except MemoryError:
        # only an absurd size (units=10**20, ...) may fail to allocate
        assert any(isinstance(v, int) and not isinstance(v, bool) and v >= 2**31
                   for v in kwargs.values()), kwargs


@FAST_SETTINGS
@given(case=layer_case())
def test_fuzz_layer_construction(case):
    run_layer_case(case)


@pytest.mark.slow
@LONG_SETTINGS
@given(case=layer_case())
def test_fuzz_layer_construction_long(case):
    run_layer_case(case)


# ----------------------------------------------------------------- compile
OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "Adam", "adamx", "", None, 3,
              optimizers.SGD(), {"class_name": "Adam", "config": {"learning_rate": 0.1}},
              {"class_name": "subprocess.Popen"}, [], object()]
LOSSES = ["mse", "mae", "binary_crossentropy", "categorical_crossentropy",
          "sparse_categorical_crossentropy", "huber", "msle", "hinge", "nope", None, 3, [],
          ["mse"], ["mse", "mse"], {"dense": "mse"}, {"nope": "mse"}, object(),
          fastnn.losses.MeanSquaredError(), lambda a, b: 0]
METRICS = [None, [], ["accuracy"], ["mae", "mse"], "accuracy", ["nope"], [3], {"x": "mae"},
           [["accuracy"]], [fastnn.metrics.MeanAbsoluteError()], object()]
LOSS_WEIGHTS = [None, [1.0], [1.0, 2.0], {"x": 1}, "abc", [np.nan], [-1.0], 2.0, [[1]]]


@st.composite
def compile_case(draw):
    kwargs = {"optimizer": draw(st.sampled_from(OPTIMIZERS)),
              "loss": draw(st.sampled_from(LOSSES)),
              "metrics": draw(st.sampled_from(METRICS)),
              "loss_weights": draw(st.sampled_from(LOSS_WEIGHTS))}
    if draw(st.integers(0, 5)) == 0:
        kwargs["jit_compile"] = True
    if draw(st.integers(0, 5)) == 0:
        kwargs["bogus"] = 1
    return draw(st.sampled_from(["regression", "sparse", "binary"])), kwargs


def run_compile_case(case):
    kind, kwargs = case
    CASES["count"] += 1
    model = _make_model(kind)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = {"regression": np.zeros((8, 2)), "sparse": np.zeros(8, int),
         "binary": np.zeros(8)}[kind]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            model.compile(**kwargs)
            model.fit(x, y, epochs=1, verbose=0)
            model.evaluate(x, y, verbose=0)
    except ALLOWED as exc:
        _check_message(exc)


@FAST_SETTINGS
@given(case=compile_case())
def test_fuzz_compile(case):
    run_compile_case(case)


@pytest.mark.slow
@LONG_SETTINGS
@given(case=compile_case())
def test_fuzz_compile_long(case):
    run_compile_case(case)


@pytest.mark.slow
def test_fuzz_case_count_report():
    """Runs last in this module (pytest keeps file order): reports the cases run."""
    print(f"\n[reliability] fuzz api cases={CASES['count']}")


# ----------------------------------------------------------------- regressions found by the fuzzer
def test_lengths_are_checked_across_every_input_and_output():
    """check_lengths keyed its sizes by name, so inputs or targets sharing a name
    ("x", "y") were compared only through the last one."""
    model = _make_model("multi")
    x = [np.ones((2, 4)), np.ones((2, 3))]
    y = [np.ones((2, 2)), np.zeros(2)]
    for xs, ys in (([x[0], np.ones((3, 3))], y), (x, [np.ones((0, 2)), y[1]]),
                   (x, [y[0], np.zeros(5)])):
        for call in (lambda: model.fit(xs, ys, verbose=0),
                     lambda: model.evaluate(xs, ys, verbose=0),
                     lambda: model.train_on_batch(xs, ys)):
            with pytest.raises(ValueError, match="same number of samples"):
                call()
    with pytest.raises(ValueError, match=r"x\[0\]: 2, x\[1\]: 3"):
        model.predict([x[0], np.ones((3, 3))], verbose=0)


def test_float64_values_beyond_float32_are_refused_not_turned_into_inf():
    model = _make_model("regression")
    x = np.full((4, 4), 1e300)
    with pytest.raises(ValueError, match="too large for float32"):
        model.fit(x, np.zeros((4, 2)), verbose=0)
    with pytest.raises(ValueError, match="too large for float32"):
        model.predict(x, verbose=0)


def test_diverged_predictions_give_a_nan_loss_not_an_error():
    """Metrics and losses take the model's NaN outputs (a diverged run) as NaN, as
    Keras does, so TerminateOnNaN sees them; only data and targets must be finite."""
    model = _make_model("regression")
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    logs = model.evaluate(np.ones((4, 4)), np.zeros((4, 2)), verbose=0, return_dict=True)
    assert np.isnan(logs["loss"]) and np.isnan(logs["mae"])


def test_callbacks_argument_that_is_not_a_list():
    model = _make_model("regression")
    for bad in (object(), "cb", 3, {"a": 1}):
        with pytest.raises(TypeError, match="callbacks"):
            model.fit(np.ones((4, 4)), np.zeros((4, 2)), verbose=0, callbacks=bad)
