"""One full SGD step of a small CNN gives PyTorch's weights (an independent oracle).

fastnn's model is channels last with Keras's kernels ``(kh, kw, in, filters)``; the same
network is written in PyTorch on NCHW data with the kernels permuted to
``(filters, in, kh, kw)``, its "same" padding spelt out as explicit (possibly uneven)
zero padding, and the feature map flattened in Keras's ``(h, w, c)`` order before the
dense layer.  Both take one SGD step on the same batch with softmax cross-entropy;
every weight afterwards must agree to float64 rounding.  Skipped without torch.
"""

import numpy as np
import pytest

import fastnn
from fastnn import layers
from fastnn.layers import windowing
from fastnn.models import Sequential
from fastnn.optimizers import SGD

pytestmark = pytest.mark.torch

# (first conv's strides, pooling class) of each network tried: stride 2 with "same"
# padding pads one more cell after than before on the 8-wide axis.
VARIANTS = [((1, 1), "max"), ((2, 2), "avg")]


def _fastnn_model(strides, pool, in_shape):
    pooling = layers.MaxPooling2D() if pool == "max" else layers.AveragePooling2D()
    return Sequential([
        layers.Input(in_shape),
        layers.Conv2D(3, 3, strides=strides, padding="same", activation="relu"),
        pooling,
        layers.Conv2D(4, (2, 1), activation="tanh"),
        layers.Flatten(),
        layers.Dense(5, activation="softmax"),
    ])


def _torch_forward(torch, x, params, strides, pool, in_shape):
    fn = torch.nn.functional
    w1, b1, w2, b2, w3, b3 = params
    pads = [windowing.axis_pads(size, 3, s, 1, "same") for size, s in zip(in_shape, strides)]
    (top, bottom), (left, right) = pads
    h = fn.relu(fn.conv2d(fn.pad(x, (left, right, top, bottom)), w1, b1, stride=strides))
    h = fn.max_pool2d(h, 2) if pool == "max" else fn.avg_pool2d(h, 2)
    h = torch.tanh(fn.conv2d(h, w2, b2))
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # Keras's (h, w, c) order
    return h @ w3 + b3  # logits; cross_entropy applies the softmax


@pytest.mark.parametrize("strides, pool", VARIANTS)
def test_one_sgd_step_matches_torch(strides, pool, ops_backend):
    torch = pytest.importorskip("torch")
    fastnn.config.set_floatx("float64")
    fastnn.utils.set_random_seed(7)
    in_shape = (9, 8)
    model = _fastnn_model(strides, pool, in_shape + (2,))
    rng = np.random.default_rng(3)
    # random non-zero biases, so that their gradients and layout are exercised too
    model.set_weights([w + (rng.normal(size=w.shape) * 0.3 if w.ndim == 1 else 0)
                       for w in model.get_weights()])
    before = model.get_weights()
    x = rng.normal(size=(6,) + in_shape + (2,))
    labels = rng.integers(0, 5, size=6)
    model.compile(optimizer=SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy")
    model.fit(x, labels, batch_size=6, epochs=1, shuffle=False, verbose=0)
    after = model.get_weights()

    k1, b1, k2, b2, w3, b3 = before
    params = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (
        k1.transpose(3, 2, 0, 1), b1, k2.transpose(3, 2, 0, 1), b2, w3, b3)]
    logits = _torch_forward(torch, torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                            params, strides, pool, in_shape)
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    opt = torch.optim.SGD(params, lr=0.5)
    opt.zero_grad()
    loss.backward()
    opt.step()
    want = [p.detach().numpy() for p in params]
    want[0], want[2] = want[0].transpose(2, 3, 1, 0), want[2].transpose(2, 3, 1, 0)
    for name, got, expected, old in zip(["kernel1", "bias1", "kernel2", "bias2", "dense",
                                         "dense_bias"], after, want, before):
        assert np.abs(expected - old).max() > 1e-4, f"{name} did not move in torch"
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=name)
