"""Activation layers: Activation, LeakyReLU, PReLU and Maxout."""

from .. import activations as _activations
from .. import initializers, regularizers
from ..backend import activations as _act
from ..utils.validation import check_int, check_real, refuse_argument
from .base import Layer, as_2d_features, buffer
from .core import init_linear_part, linear_backward, linear_part_config


class _ElementwiseActivation(Layer):
    """Shared forward/backward of layers applying one table activation to every element
    (softmax: along the last axis).  Subclasses set ``_name`` and ``_alpha``."""

    _name = "linear"
    _alpha = None

    def forward(self, x, training, cache, skip_activation=False):
        name = "linear" if skip_activation else self._name
        cache["act"] = name
        cache["grads"] = []
        if name == "linear":
            return x
        x2 = as_2d_features(x)
        y = self.ops.activation_forward(
            x2, name, out=buffer(cache, "y", x2.shape, x2.dtype), alpha=self._alpha
        )
        cache.update(x=x2, y=y, shape=x.shape)
        return y.reshape(x.shape)

    def backward(self, cache, dy):
        name = cache["act"]
        if name == "linear":
            return dy
        y = cache["y"]
        dx = self.ops.activation_backward(
            as_2d_features(dy), y, name,
            x=cache["x"] if name in _act.NEEDS_INPUT else None,
            out=buffer(cache, "dx", y.shape, y.dtype),
            alpha=self._alpha,
        )
        return dx.reshape(cache["shape"])


class Activation(_ElementwiseActivation):
    """Applies an activation function to its input.

    Its ``activation`` attribute lets a following loss fuse with it (softmax +
    cross-entropy), exactly as with ``Dense(activation=...)``.

    Args:
        activation: a name (``"relu"``), None (linear) or a function from
            ``fastnn.activations``.
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations.canonical(activation)
        self._name = self.activation

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class LeakyReLU(_ElementwiseActivation):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    Args:
        negative_slope: slope of the negative part, a float >= 0 (Keras 3 default 0.3;
            the layer's default differs from the ``leaky_relu`` function's 0.2).
        alpha: the Keras 2 name of ``negative_slope``.
    """

    _name = "leaky_relu"

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        if alpha is not None:
            negative_slope = alpha
        self.negative_slope = check_real("negative_slope", negative_slope, low=0,
                                         allow_inf=True)
        self._alpha = self.negative_slope

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x > 0``, ``alpha * x`` otherwise, with ``alpha``
    learned per feature.

    Args:
        alpha_initializer: initializer of the slopes (default zeros: starts as ReLU).
        alpha_regularizer: regularizer of the slopes, or None.
        shared_axes: axes (1 = first axis after the batch) along which one slope is
            shared; e.g. ``shared_axes=[1, 2]`` for one slope per channel of (h, w, c).
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if not isinstance(shared_axes, (list, tuple)) else shared_axes
            self.shared_axes = [check_int("shared_axes", a) for a in axes]
        self.alpha = None

    def build(self, input_shape):
        rank = len(input_shape)
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis < rank:
                refuse_argument("shared_axes", self.shared_axes,
                                f"axes in [1, {rank - 1}] for inputs of rank {rank}",
                                owner="PReLU")
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(
                "PReLU needs every non-shared axis of its input to have a known size. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.alpha = self.add_weight(
            "alpha", shape, self.alpha_initializer, self.alpha_regularizer
        )

    def forward(self, x, training, cache, skip_activation=False):
        cache["x"] = x
        return self.ops.prelu_forward(
            x, self.alpha.value, out=buffer(cache, "y", x.shape, x.dtype)
        )

    def backward(self, cache, dy):
        x = cache["x"]
        alpha = self.alpha.value
        dx, dalpha = self.ops.prelu_backward(
            x, alpha, dy,
            out_dx=buffer(cache, "dx", x.shape, x.dtype),
            out_dalpha=buffer(cache, "dalpha", alpha.shape, alpha.dtype),
        )
        cache["grads"] = [dalpha] if self.trainable else []
        return dx

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "shared_axes": self.shared_axes,
        }


class Maxout(Layer):
    """A maxout unit layer (Goodfellow et al., 2013): ``units`` outputs, each the
    maximum of ``num_pieces`` linear pieces of the input.

    This is the seeds' meaning of Maxout ("group the neurons, e.g. two or three to a
    group, then keep the largest of each group"; ReLU is the special case of one
    piece fixed at zero): a linear map ``z = x @ kernel + bias`` with
    ``units * num_pieces`` columns, then a max over consecutive groups of
    ``num_pieces`` columns.  Output ``j`` is ``max(z[:, j*num_pieces:(j+1)*num_pieces])``.
    It replaces ``Dense`` + activation, so it takes no ``activation`` argument.

    Args:
        units: number of outputs (the Keras 1 ``output_dim`` is accepted too).
        num_pieces: linear pieces per output, >= 1 (Keras 1's ``nb_feature``).
        use_bias: whether the pieces have biases.
        kernel_initializer, bias_initializer: initializer names or objects.
        kernel_regularizer, bias_regularizer: regularizer names or objects.
    """

    def __init__(
        self,
        units=None,
        num_pieces=2,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        output_dim=None,
        nb_feature=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int("units", output_dim if units is None else units, low=1)
        if nb_feature is not None:
            num_pieces = nb_feature
        self.num_pieces = check_int("num_pieces", num_pieces, low=1)
        init_linear_part(self, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "Maxout expects 2-D inputs (batch, features) with a known feature size; "
                f"use Flatten first. Received: input_shape={tuple(input_shape)}"
            )
        width = self.units * self.num_pieces
        self.kernel = self.add_weight(
            "kernel", (input_shape[-1], width), self.kernel_initializer,
            self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (width,), self.bias_initializer, self.bias_regularizer
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training, cache, skip_activation=False):
        ops = self.ops
        n = x.shape[0]
        b = self.bias.value if self.use_bias else None
        z = ops.dense_forward(
            x, self.kernel.value, b, "linear",
            out=buffer(cache, "z", (n, self.units * self.num_pieces), x.dtype),
        )
        y, index = ops.maxout_forward(
            z, self.num_pieces,
            out=buffer(cache, "y", (n, self.units), x.dtype),
            out_index=buffer(cache, "index", (n, self.units), "intp"),
        )
        cache.update(x=x, z=z, index=index)
        return y

    def backward(self, cache, dy):
        ops = self.ops
        x, z = cache["x"], cache["z"]
        dz = ops.maxout_backward(
            dy, cache["index"], self.num_pieces, out=buffer(cache, "dz", z.shape, z.dtype)
        )
        return linear_backward(self, cache, x, z, dz, "linear")

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_pieces": self.num_pieces,
            **linear_part_config(self),
        }


__all__ = ["Activation", "LeakyReLU", "PReLU", "Maxout"]
