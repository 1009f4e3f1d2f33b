"""Core layers: Input / InputLayer and Dense."""

from .. import activations, initializers, regularizers
from ..backend import activations as _act
from ..utils.validation import check_int, refuse_argument
from .base import Layer, Node, SymbolicTensor, buffer


class InputLayer(Layer):
    """The entry point of a graph: holds the shape of one sample.

    Args:
        shape: shape of one sample, without the batch axis (``input_shape`` also works).
        batch_size: accepted for Keras compatibility; fastnn batches are any size.
        name: the input's name.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None,
                 input_shape=None, batch_shape=None, **kwargs):
        if shape is None:
            shape = input_shape
        if batch_shape is not None:
            shape = tuple(batch_shape)[1:]
        if shape is None:
            refuse_argument("shape", shape, "the shape of one sample, a tuple of positive "
                            "integers (None where a size is unknown)")
        super().__init__(name=name, dtype=dtype, input_shape=shape, **kwargs)
        self.shape = self._declared_input_shape
        self.batch_size = batch_size
        self.built = True
        self._build_shape = (None,) + self.shape
        node = Node(self, [], (None,) + self.shape)
        self._nodes.append(node)
        self.output = node.output

    def forward(self, inputs, training, cache, skip_activation=False):
        return inputs

    def backward(self, cache, dy):
        return dy

    def get_config(self):
        return {"shape": list(self.shape), "name": self.name, "dtype": self.dtype}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic input for the functional API: ``x = fastnn.Input(shape=(784,))``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                       batch_shape=batch_shape)
    return layer.output


def init_linear_part(layer, use_bias, kernel_initializer, bias_initializer,
                     kernel_regularizer, bias_regularizer):
    """Set the arguments of an ``x @ kernel + bias`` part (Dense, Maxout) on ``layer``."""
    layer.use_bias = bool(use_bias)
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.kernel_regularizer = regularizers.get(kernel_regularizer)
    layer.bias_regularizer = regularizers.get(bias_regularizer)
    layer.kernel = layer.bias = None


def linear_part_config(layer):
    """The config entries ``init_linear_part`` reads back."""
    return {
        "use_bias": layer.use_bias,
        "kernel_initializer": initializers.serialize(layer.kernel_initializer),
        "bias_initializer": initializers.serialize(layer.bias_initializer),
        "kernel_regularizer": regularizers.serialize(layer.kernel_regularizer),
        "bias_regularizer": regularizers.serialize(layer.bias_regularizer),
    }


def linear_backward(layer, cache, x, y, dy, activation):
    """Backward of ``activation(x @ kernel + bias)`` for a layer with ``kernel``, ``bias``
    and ``use_bias`` (Dense, Maxout's linear part).

    The gradient buffers live in the node's ``cache``; ``cache["grads"]`` receives the
    kernel (and bias) gradients.  Returns the input gradient (None when the node's input
    is model data, which needs none).
    """
    kernel = layer.kernel.value
    dx, dw, db = layer.ops.dense_backward(
        x, kernel, y, dy, activation,
        has_bias=layer.use_bias,
        need_dx=cache.get("need_dx", True),
        out_dx=buffer(cache, "dx", x.shape, x.dtype),
        out_dw=buffer(cache, "dw", kernel.shape, kernel.dtype),
        out_db=buffer(cache, "db", (kernel.shape[1],), kernel.dtype) if layer.use_bias else None,
    )
    if not layer.trainable:
        cache["grads"] = []
    else:
        cache["grads"] = [dw, db] if layer.use_bias else [dw]
    return dx


class Dense(Layer):
    """A fully connected layer: ``activation(x @ kernel + bias)``.

    Bias and activation are applied in the matmul's epilogue by the backend.

    Args:
        units: number of outputs (the seeds' ``output_dim`` is accepted too).
        activation: an activation name (see ``fastnn.activations``); None is linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializer names or objects.
        kernel_regularizer, bias_regularizer: regularizer names or objects.
        input_dim, input_shape: the input size, for the first layer of a model.
    """

    def __init__(
        self,
        units=None,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        output_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if units is None:
            units = output_dim
        self.units = check_int("units", units, low=1)
        self.activation = activations.canonical(activation)
        init_linear_part(self, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"Dense expects 2-D inputs (batch, features); use Flatten first. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.kernel = self.add_weight(
            "kernel", (input_shape[-1], self.units), self.kernel_initializer,
            self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (self.units,), self.bias_initializer, self.bias_regularizer
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training, cache, skip_activation=False):
        ops = self.ops
        act = "linear" if skip_activation else self.activation
        b = self.bias.value if self.use_bias else None
        out = buffer(cache, "y", (x.shape[0], self.units), x.dtype)
        if act in _act.NEEDS_INPUT:
            # gelu/swish: keep the pre-activation z, their derivative needs it
            z = ops.dense_forward(x, self.kernel.value, b, "linear",
                                  out=buffer(cache, "z", out.shape, x.dtype))
            y = ops.activation_forward(z, act, out=out)
        else:
            y = ops.dense_forward(x, self.kernel.value, b, act, out=out)
        cache.update(x=x, y=y, act=act)
        return y

    def backward(self, cache, dy):
        ops = self.ops
        x, y, act = cache["x"], cache["y"], cache["act"]
        if act in _act.NEEDS_INPUT:
            dy = ops.activation_backward(dy, y, act, x=cache["z"],
                                         out=buffer(cache, "dz", y.shape, y.dtype))
            act = "linear"
        return linear_backward(self, cache, x, y, dy, act)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            **linear_part_config(self),
        }


__all__ = ["Input", "InputLayer", "Dense", "SymbolicTensor"]
