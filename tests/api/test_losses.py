"""fastnn.losses: gradient checks, stability, PyTorch values, Keras API behaviour."""

import numpy as np
import pytest

import fastnn
from fastnn import losses
from gradcheck import assert_grad_close, numeric_grad

N, K = 5, 4


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _one_hot(labels, k):
    return np.eye(k)[labels]


def _case(name, rng):
    """(loss, raw targets, float64 predictions) away from every kink and clip."""
    labels = rng.integers(0, K, size=N)
    if name == "mse":
        return losses.MeanSquaredError(), rng.normal(size=(N, K)), rng.normal(size=(N, K))
    if name == "mae":
        y = rng.normal(size=(N, K))
        step = rng.uniform(0.1, 1.0, size=(N, K)) * rng.choice([-1, 1], size=(N, K))
        return losses.MeanAbsoluteError(), y, y + step
    if name == "hinge":
        t = rng.choice([0.0, 1.0], size=(N, K))
        sign = np.where(t == 0, -1.0, 1.0)
        # margins 1 - t*p in [-0.9, -0.1] or [0.1, 0.9]: never on the kink at 0
        margin = rng.uniform(0.1, 0.9, size=(N, K)) * rng.choice([-1, 1], size=(N, K))
        return losses.Hinge(), t, (1.0 - margin) * sign
    if name == "categorical_hinge":
        p = rng.permuted(np.tile(np.arange(K) * 0.3, (N, 1)), axis=1) + rng.uniform(
            0, 0.05, size=(N, K))
        return losses.CategoricalHinge(), _one_hot(labels, K), p
    if name == "binary_crossentropy":
        return (losses.BinaryCrossentropy(), rng.choice([0.0, 1.0], size=(N, K)),
                rng.uniform(0.05, 0.95, size=(N, K)))
    if name == "categorical_crossentropy":
        return (losses.CategoricalCrossentropy(), _one_hot(labels, K),
                _softmax(rng.normal(size=(N, K))))
    if name == "sparse_categorical_crossentropy":
        return (losses.SparseCategoricalCrossentropy(), labels,
                _softmax(rng.normal(size=(N, K))))
    raise AssertionError(name)


ALL = ["mse", "mae", "hinge", "categorical_hinge", "binary_crossentropy",
       "categorical_crossentropy", "sparse_categorical_crossentropy"]
FUSED = ["binary_crossentropy", "categorical_crossentropy",
         "sparse_categorical_crossentropy"]


def _weights(rng):
    return rng.uniform(0.2, 2.0, size=N) / N


# ---------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("name", ALL)
def test_prediction_gradient(ops_backend, rng, name):
    loss, y, p = _case(name, rng)
    t = loss.prepare_target(y, (None, K), np.float64)
    gs = _weights(rng)

    def f():
        return float(np.dot(gs, loss.forward_backward(t, p, None)[0]))

    value, grad = loss.forward_backward(t, p, gs)
    assert value.shape == (N,) and grad.shape == p.shape
    assert grad.dtype == np.float64
    assert_grad_close(grad, numeric_grad(f, p))


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("route", ["fused", "from_logits"])
def test_logits_gradient(ops_backend, rng, name, route):
    loss, y, _ = _case(name, rng)
    if route == "from_logits":
        loss = type(loss)(from_logits=True)
        assert loss.fused_activation is None
    z = rng.normal(scale=3.0, size=(N, K))
    act = _sigmoid if name == "binary_crossentropy" else _softmax
    t = loss.prepare_target(y, (None, K), np.float64)
    gs = _weights(rng)

    def run(scale):
        if route == "fused":
            return loss.forward_backward(t, act(z), scale, logits=z)
        return loss.forward_backward(t, z, scale)

    value, grad = run(gs)
    assert grad.shape == z.shape
    assert_grad_close(grad, numeric_grad(lambda: float(np.dot(gs, run(None)[0])), z))
    # the fused route computes the same loss as the probability route
    probs = losses.get(name).forward_backward(t, act(z), None)[0]
    np.testing.assert_allclose(value, probs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_float32_matches_float64(ops_backend, rng, name):
    loss, y, p = _case(name, rng)
    gs = _weights(rng)
    t64 = loss.prepare_target(y, (None, K), np.float64)
    t32 = loss.prepare_target(y, (None, K), np.float32)
    v64, g64 = loss.forward_backward(t64, p, gs)
    v32, g32 = loss.forward_backward(t32, p.astype(np.float32), gs.astype(np.float32))
    assert v32.dtype == np.float32 and g32.dtype == np.float32
    np.testing.assert_allclose(v32, v64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------- stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("big", [1e3, 1e4])
@pytest.mark.parametrize("name", FUSED)
def test_huge_logits_stay_finite(ops_backend, name, big, dtype):
    loss = losses.get(name)
    z = np.array([[big, -big, 0.0], [-big, big, big], [0.0, 0.0, -big]], dtype=dtype)
    if name == "binary_crossentropy":
        y = np.array([[0, 1, 1], [1, 0, 1], [0, 1, 0]])
        # max(z,0) - z*t + log1p(exp(-|z|)) = |z| where z and t disagree, else ~0
        expected = np.array([2 * big + np.log(2), 2 * big, 2 * np.log(2)]) / 3
    else:
        labels = np.array([1, 0, 2])
        y = labels if name.startswith("sparse") else _one_hot(labels, 3)
        expected = np.array([2 * big, big + big + np.log(2), big + np.log(2)])
    t = loss.prepare_target(y, (None, 3), dtype)
    gs = np.full(3, 1 / 3, dtype=dtype)
    value, grad = loss.forward_backward(t, None, gs, logits=z)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    assert np.abs(grad).max() <= 1.0


# ---------------------------------------------------------------------- PyTorch oracle
def _torch_grad(fn, z, w):
    torch = pytest.importorskip("torch")
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    per = fn(zt)
    (per * torch.tensor(w)).sum().backward()
    return per.detach().numpy(), zt.grad.numpy()


def _check_against(loss, t, pred, fn, w, logits=None):
    ours, grad = loss.forward_backward(t, pred, w, logits=logits)
    theirs, tgrad = _torch_grad(fn, pred if logits is None else logits, w)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, tgrad, rtol=1e-10, atol=1e-12)


def test_torch_sparse_cross_entropy(ops_backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, labels, w = rng.normal(scale=4, size=(N, K)), rng.integers(0, K, N), _weights(rng)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    t = loss.prepare_target(labels, (None, K), np.float64)
    def fn(zt):
        return F.cross_entropy(zt, torch.tensor(labels), reduction="none")

    _check_against(loss, t, z, fn, w)
    _check_against(losses.SparseCategoricalCrossentropy(), t, _softmax(z), fn, w, logits=z)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_torch_categorical_cross_entropy(ops_backend, rng, smoothing):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, labels, w = rng.normal(scale=4, size=(N, K)), rng.integers(0, K, N), _weights(rng)
    y = _one_hot(labels, K)
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    t = loss.prepare_target(y, (None, K), np.float64)

    def fn(zt):
        return F.cross_entropy(zt, torch.tensor(y), reduction="none",
                               label_smoothing=smoothing)

    _check_against(loss, t, z, fn, w)


def test_torch_categorical_cross_entropy_on_probabilities(ops_backend, rng):
    torch = pytest.importorskip("torch")
    p, labels, w = _softmax(rng.normal(size=(N, K))), rng.integers(0, K, N), _weights(rng)
    loss = losses.CategoricalCrossentropy()
    t = loss.prepare_target(_one_hot(labels, K), (None, K), np.float64)
    # Keras renormalises the probabilities before the log; so does this oracle.
    def fn(pt):
        return -(torch.tensor(t) * torch.log(pt / pt.sum(-1, keepdim=True))).sum(-1)

    _check_against(loss, t, p, fn, w)


def test_torch_binary_cross_entropy(ops_backend, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, w = rng.normal(scale=4, size=(N, K)), _weights(rng)
    y = rng.choice([0.0, 1.0], size=(N, K))
    loss = losses.BinaryCrossentropy(from_logits=True)
    t = loss.prepare_target(y, (None, K), np.float64)

    def with_logits(zt):
        return F.binary_cross_entropy_with_logits(zt, torch.tensor(y), reduction="none").mean(-1)

    def on_probs(pt):
        return F.binary_cross_entropy(pt, torch.tensor(y), reduction="none").mean(-1)

    _check_against(loss, t, z, with_logits, w)
    _check_against(losses.BinaryCrossentropy(), t, _sigmoid(z), with_logits, w, logits=z)
    p = rng.uniform(0.05, 0.95, size=(N, K))
    _check_against(losses.BinaryCrossentropy(), t, p, on_probs, w)


@pytest.mark.parametrize("name", ["mse", "mae"])
def test_torch_regression(ops_backend, rng, name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    loss, y, p = _case(name, rng)
    w = _weights(rng)
    t = loss.prepare_target(y, (None, K), np.float64)
    tf = F.mse_loss if name == "mse" else F.l1_loss
    _check_against(loss, t, p, lambda pt: tf(pt, torch.tensor(y), reduction="none").mean(-1), w)


def test_hinge_formulas(ops_backend, rng):
    loss, y, p = _case("hinge", rng)
    t = loss.prepare_target(y, (None, K), np.float64)
    signed = 2 * y - 1
    expected = np.maximum(1 - signed * p, 0).mean(-1)
    np.testing.assert_allclose(loss.forward_backward(t, p, None)[0], expected)
    # -1/+1 labels give the same loss as 0/1 labels
    np.testing.assert_allclose(losses.hinge(signed, p), expected)

    loss, y, p = _case("categorical_hinge", rng)
    pos = (y * p).sum(-1)
    neg = ((1 - y) * p).max(-1)
    np.testing.assert_allclose(losses.categorical_hinge(y, p), np.maximum(neg - pos + 1, 0))


# ---------------------------------------------------------------------- Keras values
# Keras' documented examples for each loss, with their default reduction and weights.
KERAS_EXAMPLES = [
    (losses.CategoricalCrossentropy, [[0, 1, 0], [0, 0, 1]],
     [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], [0.3, 0.7], 1.177, 0.814),
    (losses.SparseCategoricalCrossentropy, [1, 2],
     [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], [0.3, 0.7], 1.177, 0.814),
    (losses.MeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [1, 0]], [0.7, 0.3], 0.5, 0.25),
    (losses.MeanAbsoluteError, [[0, 1], [0, 0]], [[1, 1], [1, 0]], [0.7, 0.3], 0.5, 0.25),
    (losses.Hinge, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1, 0], 1.3, 0.55),
    (losses.CategoricalHinge, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1, 0], 1.4, 0.6),
    (losses.BinaryCrossentropy, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1, 0],
     0.815, 0.458),
]


@pytest.mark.parametrize("cls,y,p,w,plain,weighted", KERAS_EXAMPLES)
def test_keras_documented_values(ops_backend, cls, y, p, w, plain, weighted):
    loss = cls()
    assert loss(y, p) == pytest.approx(plain, abs=1e-3)
    assert loss(y, p, sample_weight=w) == pytest.approx(weighted, abs=1e-3)
    per = cls(reduction="none")(y, p)
    assert per.shape == (2,)
    assert cls(reduction="sum")(y, p) == pytest.approx(per.sum(), rel=1e-6)
    assert isinstance(loss(y, p), float)


def test_binary_crossentropy_from_logits_keras_example(ops_backend):
    loss = losses.BinaryCrossentropy(from_logits=True)
    assert loss([0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8]) == pytest.approx(0.865, abs=1e-3)


def test_reductions_agree_with_reduction_scale(ops_backend, rng):
    y, p, w = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.uniform(0, 2, 6)
    per = losses.mean_squared_error(y, p).astype(np.float64)
    for reduction, expected in [
        ("sum_over_batch_size", (w * per).sum() / 6),
        ("mean", (w * per).sum() / 6),
        ("sum", (w * per).sum()),
        ("mean_with_sample_weight", (w * per).sum() / w.sum()),
    ]:
        loss = losses.MeanSquaredError(reduction=reduction)
        assert loss(y, p, sample_weight=w) == pytest.approx(expected, rel=1e-6)
        scale = loss.reduction_scale(6, w)
        assert float(np.dot(scale, per)) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(y, p, w), w * per,
                               rtol=1e-6)
    # (n, 1) weights and scalars are accepted too
    loss = losses.MeanSquaredError()
    assert loss(y, p, w[:, None]) == pytest.approx(loss(y, p, w))
    assert loss(y, p, 2.0) == pytest.approx(2 * loss(y, p))
    with pytest.raises(ValueError, match="sample_weight"):
        loss(y, p, np.ones(5))


def test_functions_return_per_sample_losses(ops_backend, rng):
    y, p = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    assert losses.mse(y, p).shape == (2, 3)
    np.testing.assert_allclose(losses.mean_squared_error(y, p), ((y - p) ** 2).mean(-1))
    assert losses.mae is losses.mean_absolute_error
    assert np.shape(losses.mse([0.0, 1.0], [1.0, 1.0])) == ()
    p = _softmax(rng.normal(size=(4, 3)))
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy([0, 2, 1, 1], p),
        losses.categorical_crossentropy(_one_hot([0, 2, 1, 1], 3), p), rtol=1e-6)


# ---------------------------------------------------------------------- engine hooks
def test_fused_activation_table():
    assert losses.CategoricalCrossentropy().fused_activation == "softmax"
    assert losses.SparseCategoricalCrossentropy().fused_activation == "softmax"
    assert losses.BinaryCrossentropy().fused_activation == "sigmoid"
    for loss in (losses.CategoricalCrossentropy(from_logits=True),
                 losses.SparseCategoricalCrossentropy(from_logits=True),
                 losses.BinaryCrossentropy(from_logits=True), losses.MeanSquaredError(),
                 losses.MeanAbsoluteError(), losses.Hinge(), losses.CategoricalHinge()):
        assert loss.fused_activation is None


def test_logits_refused_without_fused_activation(ops_backend):
    t = np.zeros((2, 3))
    with pytest.raises(ValueError, match="logits"):
        losses.MeanSquaredError().forward_backward(t, t, np.ones(2), logits=t)


def test_prepare_target_dense():
    loss = losses.BinaryCrossentropy()
    t = loss.prepare_target([0, 1, 1], (None, 1))
    assert t.shape == (3, 1) and t.dtype == np.float32 and t.flags.c_contiguous
    fastnn.config.set_floatx("float64")
    assert loss.prepare_target([0, 1, 1], (None, 1)).dtype == np.float64
    assert losses.Hinge().prepare_target([1, -1], (None, 1), "float32").shape == (2, 1)
    with pytest.raises(ValueError, match=r"NaN"):
        losses.MeanSquaredError().prepare_target([[np.nan], [1.0]], (None, 1))
    with pytest.raises(ValueError, match=r"NaN"):
        losses.MeanSquaredError().prepare_target([[np.inf], [1.0]], (None, 1))
    with pytest.raises(ValueError, match=r"\(n, 3\).*Received: y_true of shape \(2, 2\)"):
        losses.MeanSquaredError().prepare_target(np.zeros((2, 2)), (None, 3))
    with pytest.raises(TypeError, match="y_true"):
        losses.MeanSquaredError().prepare_target(["a", "b"], (None, 1))


def test_prepare_target_categorical_hints_at_sparse():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy().prepare_target([0, 3, 9], (None, 10))
    t = losses.CategoricalCrossentropy(label_smoothing=0.1).prepare_target(
        _one_hot([0, 2], 4), (None, 4), np.float64)
    np.testing.assert_allclose(t[0], [0.925, 0.025, 0.025, 0.025])
    t = losses.BinaryCrossentropy(label_smoothing=0.2).prepare_target([[1], [0]], (None, 1))
    np.testing.assert_allclose(t[:, 0], [0.9, 0.1])


def test_prepare_target_sparse():
    loss = losses.SparseCategoricalCrossentropy()
    for y in ([0, 9, 3], [[0], [9], [3]], np.array([0.0, 9.0, 3.0]), np.array([0, 9, 3],
                                                                                np.uint8)):
        t = loss.prepare_target(y, (None, 10))
        assert t.dtype == np.int64 and t.shape == (3,)
        np.testing.assert_array_equal(t, [0, 9, 3])
    with pytest.raises(ValueError, match=r"integers in \[0, 10\); received a label 10"):
        loss.prepare_target([0, 10], (None, 10))
    with pytest.raises(ValueError, match=r"received a label -1"):
        loss.prepare_target([0, -1], (None, 10))
    with pytest.raises(ValueError, match=r"received a label 1.5"):
        loss.prepare_target([0.0, 1.5], (None, 10))
    with pytest.raises(ValueError, match="1-based"):
        loss.prepare_target([1, 2, 3], (None, 3))
    with pytest.raises(ValueError, match="one-hot"):
        loss.prepare_target(_one_hot([1, 2], 3), (None, 3))
    with pytest.raises(ValueError, match="NaN"):
        loss.prepare_target([0.0, np.nan], (None, 3))
    with pytest.raises(ValueError, match="output_shape"):
        loss.prepare_target([0, 1], (None, 4, 3))


# ---------------------------------------------------------------------- get / serialize
@pytest.mark.parametrize("ident,cls", [
    ("mse", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
    ("mean_squared_error", losses.MeanSquaredError), ("mae", losses.MeanAbsoluteError),
    ("mean_absolute_error", losses.MeanAbsoluteError), ("hinge", losses.Hinge),
    ("categorical_hinge", losses.CategoricalHinge), ("bce", losses.BinaryCrossentropy),
    ("binary_crossentropy", losses.BinaryCrossentropy),
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    (losses.mse, losses.MeanSquaredError),
    (losses.categorical_crossentropy, losses.CategoricalCrossentropy),
    (losses.Hinge, losses.Hinge),
])
def test_get(ident, cls):
    assert type(losses.get(ident)) is cls


def test_get_passes_instances_and_configs():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    assert losses.get(None) is None
    again = losses.get({"class_name": "BinaryCrossentropy",
                        "config": {"from_logits": True, "label_smoothing": 0.1}})
    assert again.from_logits and again.label_smoothing == 0.1


def test_get_unknown_suggests_the_closest_name():
    with pytest.raises(ValueError) as info:
        losses.get("categotial_crossentropy")
    message = str(info.value)
    assert "Did you mean 'categorical_crossentropy'?" in message
    assert "Received: loss='categotial_crossentropy'" in message
    assert "sparse_categorical_crossentropy" in message
    with pytest.raises(TypeError, match="forward_backward"):
        losses.get(lambda y, p: 0.0)


@pytest.mark.parametrize("loss", [
    losses.MeanSquaredError(reduction="sum"), losses.MeanAbsoluteError(name="l1"),
    losses.Hinge(), losses.CategoricalHinge(),
    losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
    losses.CategoricalCrossentropy(label_smoothing=0.2),
    losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none"),
])
def test_serialize_round_trip(loss):
    spec = losses.serialize(loss)
    assert spec["class_name"] == type(loss).__name__
    again = losses.deserialize(spec)
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_constructor_validation():
    with pytest.raises(ValueError, match="Received: reduction='avg'"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match=r"`label_smoothing`: expected a finite number in "
                       r"\[0, 1\]\. Received: label_smoothing=2"):
        losses.CategoricalCrossentropy(label_smoothing=2)
    with pytest.raises(ValueError, match=r"`axis`: expected -1 .*Received: axis=1"):
        losses.BinaryCrossentropy(axis=1)
    with pytest.raises(ValueError, match="Received: ignore_class=0"):
        losses.SparseCategoricalCrossentropy(ignore_class=0)
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.deserialize({"class_name": "Nope", "config": {}})


def test_custom_loss_without_gradient_explains():
    class Custom(losses.Loss):
        pass

    with pytest.raises(NotImplementedError, match="forward_backward"):
        Custom().forward_backward(np.zeros((1, 1)), np.zeros((1, 1)), np.ones(1))
    assert Custom().name == "custom"
