"""Layer: the base class every fastnn layer derives from.

A layer does two things:

* **Symbolic building.**  Calling a layer on a ``SymbolicTensor`` (from ``fastnn.Input``)
  builds its weights from the input shape and records a ``Node`` in the graph; this is
  how ``Sequential`` and the functional ``Model`` are assembled.
* **Numeric compute.**  ``forward(inputs, training, cache)`` computes the outputs on
  NumPy arrays through the ops interface (``self.ops``), storing in ``cache`` (a dict
  owned by the caller, one per graph node) whatever ``backward`` will need.
  ``backward(cache, dy)`` returns the gradient with respect to the inputs and stores the
  gradients of the trainable weights in ``cache["grads"]``, aligned with
  ``self.trainable_weights``.  Because the engine keeps one cache per node across steps,
  a layer can keep its output and gradient buffers there and reuse them (see
  ``buffer``): the training loop allocates nothing per step once shapes are stable.

Subclasses implement ``build``, ``compute_output_shape``, ``forward``, ``backward`` and
``get_config``.  Layers whose last operation is an activation (Dense, Activation) set
``activation`` and accept ``skip_activation=True`` so a loss can fuse with it.
"""

import contextlib
import itertools
import math
import re
import threading

import numpy as np

from .. import backend
from .. import config as _config
from ..utils import naming
from ..utils.validation import check_int, check_shape, check_str, refuse_argument
from ..variables import Variable, assign_all


# Weight-size limit for layers built on this thread (see ``weight_byte_limit``).
_limits = threading.local()

# Held while any layer creates its weights or any model connects its graph lazily, so
# that threads making the first call at once build once and all use that one build.
# One process-wide lock rather than one per object: a build happens once per layer, so
# the lock is almost never contended, and a lock attribute would make layers and models
# impossible to deep-copy or pickle.  Reentrant, because a model's build calls its
# layers' builds (and a layer may build the layers it wraps).
build_lock = threading.RLock()


@contextlib.contextmanager
def weight_byte_limit(max_bytes, what):
    """Refuse, with a ValueError, to create more than ``max_bytes`` of weights on this
    thread while the context is active.  ``load_model`` builds a file's architecture
    under the size its weights member declares, so a config naming ``Dense(10**9)`` is
    refused before the initializer allocates anything.  ``what`` starts the message."""
    previous = getattr(_limits, "state", None)
    _limits.state = [int(max_bytes), 0, what]
    try:
        yield
    finally:
        _limits.state = previous


def _charge_weight_bytes(layer, name, shape):
    """Count a weight of ``shape`` against the active ``weight_byte_limit`` (if any),
    before anything is allocated."""
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
            raise ValueError(
                f"Layer {layer.name!r}: weight {name!r} has an invalid shape {shape!r}"
            )
    state = getattr(_limits, "state", None)
    if state is None:
        return
    state[1] += math.prod(int(d) for d in shape) * np.dtype(layer.dtype).itemsize
    if state[1] > state[0]:
        raise ValueError(
            f"{state[2]}: the architecture needs at least {state[1]:,} bytes of weights "
            f"(reached at {layer.name}/{name} of shape {shape}), more than the "
            f"{state[0]:,} bytes available for them"
        )


def _weight_memory_error(layer, name, shape):
    """The MemoryError for a weight the initializer could not allocate: NumPy's own
    names no layer (and, for initializers that drew in float64, gave twice the size)."""
    nbytes = math.prod(int(d) for d in shape) * np.dtype(layer.dtype).itemsize
    return MemoryError(
        f"Layer {layer.name!r} cannot allocate its weight {name!r} of shape {shape} and "
        f"dtype {layer.dtype}: {nbytes:,} bytes ({nbytes / 2**30:,.1f} GiB). Use fewer "
        "units or a smaller input, or free memory."
    )


def buffer(cache, key, shape, dtype):
    """A reusable array ``cache[key]`` of this shape and dtype (made if absent or stale)."""
    buf = cache.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype=dtype)
        cache[key] = buf
    return buf


def feature_axis(layer, axis, rank):
    """``axis`` (negative counts from the end) as a positive index into a shape of
    ``rank`` axes; the batch axis 0 is refused, since samples must stay independent."""
    resolved = axis + rank if axis < 0 else axis
    if not 1 <= resolved < rank:
        refuse_argument(
            "axis", axis,
            f"an axis other than the batch axis for inputs of rank {rank}: in "
            f"[1, {rank - 1}] or [{1 - rank}, -1]",
            owner=type(layer).__name__,
        )
    return resolved


def as_2d_features(x):
    """``x`` viewed as C-contiguous ``(-1, last_axis)``: the layout the backends expect
    for element-wise and row-wise (softmax) primitives."""
    if x.ndim >= 2:
        return np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    return np.ascontiguousarray(x).reshape(1, -1)


class Node:
    """One application of a layer in a graph: its input tensors and output tensor."""

    _ids = itertools.count()

    def __init__(self, layer, inbound, output_shape):
        self.id = next(self._ids)
        self.layer = layer
        self.inbound = list(inbound)  # SymbolicTensor list
        self.output = SymbolicTensor(output_shape, node=self)


class SymbolicTensor:
    """A placeholder for data flowing through a graph: a shape (batch axis None)."""

    def __init__(self, shape, node=None, dtype=None):
        self.shape = tuple(shape)
        self.node = node
        self.dtype = dtype or _config.floatx()

    def __repr__(self):
        name = self.node.layer.name if self.node is not None else "?"
        return f"<SymbolicTensor shape={self.shape} from {name!r}>"


class Layer:
    """Base class of all layers.

    Args:
        name: a unique name; generated from the class name when omitted.
        trainable: whether the optimizer updates this layer's weights.
        dtype: 'float32' or 'float64' (default: ``fastnn.config.floatx()``).
        input_shape: shape of one sample, for the first layer of a Sequential model.
        input_dim: the seeds' spelling of ``input_shape=(input_dim,)``.
        batch_input_shape: a shape with the batch axis first (Keras 2 spelling).
    """

    #: activation name when the layer ends with an activation that losses may fuse with.
    activation = None

    def __init__(
        self,
        name=None,
        trainable=True,
        dtype=None,
        input_shape=None,
        input_dim=None,
        batch_input_shape=None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                f"{sorted(kwargs)}"
            )
        check_str("name", name, allow_empty=True, allow_none=True)
        self.name = name or naming.unique(_default_name(type(self)))
        self.trainable = bool(trainable)
        self.dtype = _resolve_dtype(dtype)
        self._declared_input_shape = _declared_input_shape(
            input_shape, input_dim, batch_input_shape
        )
        self._weights = []
        self.built = False
        self._build_shape = None
        self._nodes = []

    # ----------------------------------------------------------------- weights
    @property
    def ops(self):
        """The backend this layer computes with (the current one)."""
        return backend.current()

    def add_weight(self, name, shape, initializer, regularizer=None, trainable=True):
        """Create a weight from an initializer (an object from ``fastnn.initializers``)."""
        shape = tuple(shape)
        _charge_weight_bytes(self, name, shape)
        try:
            value = initializer(shape, dtype=self.dtype)
        except MemoryError as exc:
            raise _weight_memory_error(self, name, shape) from exc
        var = Variable(value, f"{self.name}/{name}", trainable, regularizer)
        self._weights.append(var)
        return var

    @property
    def weights(self):
        """All weights: trainable first, then non-trainable, as in Keras."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    def get_weights(self):
        """Copies of the weight values, in ``weights`` order."""
        return [w.value.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set weight values from a list of arrays in ``weights`` order."""
        assign_all(self.weights, weights, f"Layer {self.name!r}")

    def count_params(self):
        """Number of scalars in this layer's weights."""
        return int(sum(w.value.size for w in self._weights))

    def regularization_penalty(self):
        """Sum of the regularizer penalties of this layer's weights (a float)."""
        return sum(
            w.regularizer(w.value) for w in self._weights if w.regularizer is not None
        )

    def add_regularization_grads(self, grads):
        """Add the regularizers' gradients to ``grads`` (aligned with trainable weights)."""
        for w, g in zip(self.trainable_weights, grads):
            if w.regularizer is not None:
                w.regularizer.add_gradient(w.value, g)

    # ----------------------------------------------------------------- building
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included, None)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    #: True while ``_maybe_build`` runs ``build``: a subclass may set ``built`` before
    #: its weights exist, and other threads must wait for the whole build.
    _building = False

    def _maybe_build(self, input_shape):
        """Build on the first call (once, whichever threads make it); afterwards check
        that the input matches the shape the layer was built for."""
        if not self.built or self._building:
            with build_lock:
                if not self.built:
                    self._building = True
                    created = len(self._weights)
                    try:
                        self.build(input_shape)
                        self._build_shape = input_shape
                        self.built = True
                    except BaseException:
                        # a build that failed half-way (out of memory, say) must not
                        # leave weights behind for a retry to duplicate
                        del self._weights[created:]
                        self.built = False
                        raise
                    finally:
                        self._building = False
                    return
        self._check_input_shape(input_shape)

    def _check_input_shape(self, input_shape):
        """Raise when a built layer receives features of another size."""
        expected = self._build_shape
        if expected is None or isinstance(expected, list):
            return
        if len(expected) != len(input_shape) or any(
            e is not None and g is not None and e != g
            for e, g in zip(expected[1:], input_shape[1:])
        ):
            raise ValueError(
                f"Input of layer {self.name!r} is incompatible: expected shape "
                f"{expected}, received shape {tuple(input_shape)}"
            )

    def __call__(self, inputs, training=False):
        """Build and connect on symbolic tensors; compute on arrays (inference)."""
        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if all(isinstance(t, SymbolicTensor) for t in flat):
            shapes = [t.shape for t in flat]
            shape = shapes if isinstance(inputs, (list, tuple)) else shapes[0]
            self._maybe_build(shape)
            node = Node(self, flat, self.compute_output_shape(shape))
            self._nodes.append(node)
            return node.output
        if any(isinstance(t, SymbolicTensor) for t in flat):
            raise TypeError(
                f"Layer {self.name!r} received a mix of symbolic tensors and arrays."
            )
        arrays = [np.asarray(t, dtype=self.dtype) for t in flat]
        shape = [(None,) + a.shape[1:] for a in arrays]
        self._maybe_build(shape if isinstance(inputs, (list, tuple)) else shape[0])
        x = arrays if isinstance(inputs, (list, tuple)) else arrays[0]
        return self.forward(x, training=training, cache={})

    # ----------------------------------------------------------------- compute
    def forward(self, inputs, training, cache, skip_activation=False):
        raise NotImplementedError

    def backward(self, cache, dy):
        raise NotImplementedError

    # ----------------------------------------------------------------- config
    def get_config(self):
        """The constructor arguments that rebuild this layer (JSON-serialisable)."""
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._declared_input_shape is not None:
            cfg["input_shape"] = list(self._declared_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _default_name(cls):
    """Keras's default layer name: ``Dense`` -> ``dense``, and a trailing ``2D`` stays
    joined to its digit (``Conv2D`` -> ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d``)."""
    return naming.snake_case(re.sub(r"(\d)([A-Z]+)$", lambda m: m[1] + m[2].lower(),
                                    cls.__name__))


def _resolve_dtype(dtype):
    if dtype is None:
        return _config.floatx()
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        refuse_argument("dtype", dtype, "'float32' or 'float64'")
    return name


def _declared_input_shape(input_shape, input_dim, batch_input_shape):
    """One sample's shape from the three Keras spellings, validated (or None)."""
    if batch_input_shape is not None:
        input_shape = tuple(batch_input_shape)[1:]
    if input_dim is not None:
        input_shape = (check_int("input_dim", input_dim, low=1),)
    if input_shape is None:
        return None
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)  # one int is a 1-D sample shape
    return check_shape("input_shape", input_shape, unknown_dims=True)
