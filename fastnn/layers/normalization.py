"""Normalization layers: BatchNormalization."""

import numpy as np

from .. import initializers, regularizers
from ..utils.validation import check_int, check_real
from .base import Layer, buffer, feature_axis


class BatchNormalization(Layer):
    """Normalizes each feature to zero mean and unit variance, then scales and shifts:
    ``gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    In training (``training=True`` and the layer trainable) ``mean``/``var`` are the
    batch's own (biased variance) and the moving statistics are updated:
    ``moving = momentum * moving + (1 - momentum) * batch``.  At inference, or when the
    layer is frozen (``trainable=False``, as in Keras 3), the moving statistics are used.

    Weights, in Keras' order: gamma (if ``scale``), beta (if ``center``), then the
    non-trainable moving_mean and moving_variance.

    Args:
        axis: the feature axis (default -1); statistics are taken over all other axes.
        momentum: momentum of the moving statistics, in [0, 1].
        epsilon: small float > 0 added to the variance.
        center: whether to learn the offset ``beta``.
        scale: whether to learn the scale ``gamma``.
        beta_initializer, gamma_initializer: initializers of beta and gamma.
        moving_mean_initializer, moving_variance_initializer: initializers of the moving
            statistics.
        beta_regularizer, gamma_regularizer: regularizers of beta and gamma, or None.
        synchronized: accepted for Keras compatibility; fastnn trains in one process,
            so there is nothing to synchronize.
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.axis = check_int("axis", axis)
        self.momentum = check_real("momentum", momentum, low=0, high=1)
        self.epsilon = check_real("epsilon", epsilon, low=0, low_open=True, allow_inf=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.synchronized = bool(synchronized)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self._feature_axis = None

    def build(self, input_shape):
        self._feature_axis = feature_axis(self, self.axis, len(input_shape))
        size = input_shape[self._feature_axis]
        if size is None:
            raise ValueError(
                f"BatchNormalization needs the size of axis {self.axis} to be known. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        shape = (size,)
        if self.scale:
            self.gamma = self.add_weight(
                "gamma", shape, self.gamma_initializer, self.gamma_regularizer
            )
        if self.center:
            self.beta = self.add_weight(
                "beta", shape, self.beta_initializer, self.beta_regularizer
            )
        self.moving_mean = self.add_weight(
            "moving_mean", shape, self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", shape, self.moving_variance_initializer, trainable=False
        )

    # The backend normalizes 2-D (rows, features) arrays; other layouts are moved there.
    def _to_rows(self, x):
        if self._feature_axis == x.ndim - 1:
            return np.ascontiguousarray(x).reshape(-1, x.shape[-1])
        moved = np.moveaxis(x, self._feature_axis, -1)
        return np.ascontiguousarray(moved).reshape(-1, moved.shape[-1])

    def _from_rows(self, rows, shape):
        if self._feature_axis == len(shape) - 1:
            return rows.reshape(shape)
        moved_shape = tuple(np.delete(shape, self._feature_axis)) + (shape[self._feature_axis],)
        return np.ascontiguousarray(np.moveaxis(rows.reshape(moved_shape), -1, self._feature_axis))

    def forward(self, x, training, cache, skip_activation=False):
        ops = self.ops
        rows = self._to_rows(x)
        c = rows.shape[1]
        batch_stats = bool(training) and self.trainable
        if batch_stats:
            mean, var = ops.moments(
                rows,
                out_mean=buffer(cache, "mean", (c,), rows.dtype),
                out_var=buffer(cache, "var", (c,), rows.dtype),
            )
            ops.moving_average_update(self.moving_mean.value, mean, self.momentum)
            ops.moving_average_update(self.moving_variance.value, var, self.momentum)
        else:
            mean, var = self.moving_mean.value, self.moving_variance.value
        y, xhat, inv_std = ops.batchnorm_forward(
            rows,
            self.gamma.value if self.scale else None,
            self.beta.value if self.center else None,
            mean, var, self.epsilon,
            out=buffer(cache, "y", rows.shape, rows.dtype),
            out_xhat=buffer(cache, "xhat", rows.shape, rows.dtype),
        )
        cache.update(xhat=xhat, inv_std=inv_std, batch_stats=batch_stats, shape=x.shape)
        return self._from_rows(y, x.shape)

    def backward(self, cache, dy):
        xhat = cache["xhat"]
        c = xhat.shape[1]
        dx, dgamma, dbeta = self.ops.batchnorm_backward(
            self._to_rows(dy), xhat,
            self.gamma.value if self.scale else None,
            cache["inv_std"], cache["batch_stats"],
            need_dx=cache.get("need_dx", True),
            out_dx=buffer(cache, "dx", xhat.shape, xhat.dtype),
            out_dgamma=buffer(cache, "dgamma", (c,), xhat.dtype),
            out_dbeta=buffer(cache, "dbeta", (c,), xhat.dtype),
        )
        grads = []
        if self.trainable:
            if self.scale:
                grads.append(dgamma)
            if self.center:
                grads.append(dbeta)
        cache["grads"] = grads
        return None if dx is None else self._from_rows(dx, cache["shape"])

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(
                self.moving_variance_initializer
            ),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "synchronized": self.synchronized,
        }


__all__ = ["BatchNormalization"]
