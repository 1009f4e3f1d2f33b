"""Float64 central-difference gradient checks shared by the test modules."""

import numpy as np

from fastnn.layers import Input


def numeric_grad(f, x, eps=1e-6):
    """d f() / d x by central differences; ``f`` reads ``x`` (modified in place)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        fp = f()
        flat[i] = orig - eps
        fm = f()
        flat[i] = orig
        gflat[i] = (fp - fm) / (2 * eps)
    return grad


def assert_grad_close(analytic, numeric, rtol=1e-5, atol=1e-7):
    """Compare gradients with a tolerance relative to the gradient's scale."""
    analytic = np.asarray(analytic, dtype=np.float64)
    scale = max(1.0, float(np.abs(numeric).max()))
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol * scale)


def build(layer, *sample_shapes):
    """Build ``layer`` by calling it on symbolic inputs of these per-sample shapes."""
    inputs = [Input(shape=s) for s in sample_shapes]
    layer(inputs if len(inputs) > 1 else inputs[0])
    return layer


def check_layer(layer, inputs, rng, training=True, before_forward=None, penalty=False,
                check_inputs=True):
    """Compare ``layer.backward`` with central differences.

    Args:
        layer: a built layer (float64).
        inputs: one array, or a list of arrays for a multi-input layer.
        rng: the random generator for ``R``.
        training: the mode passed to ``forward``.
        before_forward: called before every forward (e.g. to pin a dropout stream).
        penalty: add the regularization penalty to the objective and its gradient
            (``add_regularization_grads``) to the analytic gradients.
        check_inputs: also check the gradient with respect to the inputs.
    """

    def forward(cache):
        if before_forward is not None:
            before_forward()
        return layer.forward(inputs, training, cache)

    r = rng.normal(size=forward({}).shape)

    def objective():
        value = float(np.sum(forward({}) * r))
        if penalty:
            value += layer.regularization_penalty()
        return value

    cache = {}
    forward(cache)
    dx = layer.backward(cache, r.copy())
    grads = [np.array(g, dtype=np.float64) for g in cache["grads"]]
    assert len(grads) == len(layer.trainable_weights)
    if penalty:
        layer.add_regularization_grads(grads)

    if check_inputs:
        xs = inputs if isinstance(inputs, list) else [inputs]
        dxs = dx if isinstance(inputs, list) else [dx]
        assert len(dxs) == len(xs)
        for x, d in zip(xs, dxs):
            assert d.shape == x.shape
            assert_grad_close(d, numeric_grad(objective, x))
    for w, g in zip(layer.trainable_weights, grads):
        assert g.shape == w.value.shape, w.name
        assert_grad_close(g, numeric_grad(objective, w.value))
    return dx, grads
