"""Losses (Keras 3 names, defaults and reductions) computed through the ops interface.

A ``Loss`` does three jobs for the training loop, each once and in one place:

* ``prepare_target(y_true, output_shape)`` validates and converts the targets once per
  ``fit`` (dtype, shape, label range, NaN), so the per-step path trusts them;
* ``forward_backward(y_true, y_pred, grad_scale, logits=None)`` returns the per-sample loss
  and the gradient of ``sum_i grad_scale[i] * loss_i``, always through
  ``fastnn.backend.current()`` so the native backend's kernels are used when built;
* ``fused_activation`` names the output activation the loss can absorb: a softmax or
  sigmoid output followed by cross-entropy is computed from the logits with one stable
  fused op (Keras' TensorFlow backend does the same through ``_keras_logits``), which
  stays finite for logits of +-1e4 where the probability route would clip.

The reduction follows Keras 3: "sum_over_batch_size" is ``sum(w_i * l_i) / n``.
``reduction_scale`` turns a reduction and sample weights into the ``grad_scale`` above,
and ``__call__`` reduces with the same weights, so the reported loss and the gradient
always agree.
"""


import numpy as np

from . import backend, config
from .utils import naming
from .utils import serialization as _ser
from .utils.validation import check_choice, check_real, refuse_argument, to_float_array

REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None)


def _sample_weight(sample_weight, n, name="sample_weight"):
    """``sample_weight`` (None, a scalar, shape (n,) or (n, 1)) as float64 of shape (n,)."""
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    w = to_float_array(sample_weight, name, np.float64)
    if w.ndim == 0:
        return np.full(n, float(w))
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (n,):
        raise ValueError(
            f"Expected {name} to be a scalar or of shape ({n},) (one weight per sample). "
            f"Received: {name} of shape {w.shape}"
        )
    return w


class Loss:
    """Base class of all losses.

    A subclass provides ``forward_backward``; ``__call__`` and ``call`` are built on it.
    (fastnn has no automatic differentiation, so a custom loss that only overrides Keras'
    ``call`` can be evaluated but not trained.)

    Args:
        name: the loss's name; default: the class name in snake case.
        reduction: how ``__call__`` reduces per-sample losses: "sum_over_batch_size"
            (default; alias "mean"): ``sum(w * l) / n``; "sum": ``sum(w * l)``;
            "mean_with_sample_weight": ``sum(w * l) / sum(w)``; "none" or None: the
            weighted per-sample losses (training then averages them over the batch, as
            Keras 3's compiled loss does).
        dtype: accepted for Keras compatibility; the computation uses the prediction's
            float type.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or naming.snake_case(type(self).__name__)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.dtype = dtype

    # ------------------------------------------------------------------ engine hooks
    @property
    def fused_activation(self):
        """'softmax' or 'sigmoid' when the loss can take that activation's logits, else None."""
        return None

    def prepare_target(self, y_true, output_shape, dtype=None):
        """Validate and convert the targets for an output of shape ``output_shape``.

        Args:
            y_true: the targets for all samples.
            output_shape: the model output's shape with a None (or any) batch axis.
            dtype: the output's float type; default ``fastnn.config.floatx()``.

        Returns:
            A C-contiguous float array shaped like the output (a target of shape (n,)
            for an output of shape (n, 1) is reshaped to (n, 1)).
        """
        dtype = np.dtype(dtype or config.floatx())
        features = _check_output_shape(self.name, output_shape)
        y = to_float_array(y_true, "y_true", dtype)
        if y.ndim == 1 and features == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != features:
            raise ValueError(
                f"{self.name}: expected targets of shape (n, {features}) to match the "
                f"model output (None, {features}){self._shape_hint(y, features)}. "
                f"Received: y_true of shape {y.shape}"
            )
        return y

    def forward_backward(self, y_true, y_pred, grad_scale, logits=None):
        """Per-sample loss and the gradient of ``sum_i grad_scale[i] * loss_i``.

        Args:
            y_true: targets as returned by ``prepare_target``.
            y_pred: the model's output, shape (n, k).
            grad_scale: float array of shape (n,), or None to skip the gradient.
            logits: the output layer's pre-activation when the engine ran it without
                ``fused_activation``; the gradient is then taken w.r.t. the logits.

        Returns:
            ``(loss, grad)``: loss of shape (n,), grad shaped like ``y_pred`` (or
            ``logits``), None when ``grad_scale`` is None.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement forward_backward(y_true, y_pred, "
            "grad_scale, logits=None): fastnn has no automatic differentiation, so a "
            "custom loss supplies its gradient."
        )

    def reduction_scale(self, n, sample_weight=None):
        """The ``grad_scale`` (float64, shape (n,)) that makes ``sum(scale * loss)`` this
        loss's reduction of a batch of ``n`` samples weighted by ``sample_weight``."""
        w = _sample_weight(sample_weight, n)
        if self.reduction == "sum":
            return w
        if self.reduction == "mean_with_sample_weight":
            total = w.sum()
            return w / total if total != 0 else np.zeros_like(w)
        return w / max(n, 1)

    # ------------------------------------------------------------------ Keras API
    def call(self, y_true, y_pred):
        """Per-sample losses (no weighting, no reduction) of prepared targets."""
        return self.forward_backward(y_true, y_pred, None)[0]

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced, weighted loss: a float (an array for reduction "none").

        Like Keras, the loss is taken over the last axis of ``y_pred`` (so a 1-D
        ``y_pred`` is one sample) and the reduction runs over the remaining axes.

        Args:
            y_true: targets, validated as in ``prepare_target``.
            y_pred: predictions.
            sample_weight: optional weights: a scalar, or one per sample (or per entry
                of ``y_pred.shape[:-1]``).
        """
        target, rows, lead = _to_rows(self, y_true, y_pred)
        values = np.asarray(self.call(target, rows), dtype=np.float64).reshape(lead)
        w = _broadcast_weight(sample_weight, lead)
        weighted = values * w
        if self.reduction in ("none", None):
            return weighted
        total = float(weighted.sum())
        if self.reduction == "sum":
            return total
        if self.reduction == "mean_with_sample_weight":
            denom = float(np.broadcast_to(w, lead).sum())
        else:
            denom = float(max(values.size, 1))
        return total / denom if denom != 0 else 0.0

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"

    # ------------------------------------------------------------------ helpers
    def _shape_hint(self, y, features):
        return ""


def _check_output_shape(loss_name, output_shape):
    shape = tuple(output_shape)
    if len(shape) != 2 or not isinstance(shape[1], (int, np.integer)) or shape[1] < 1:
        refuse_argument("output_shape", shape,
                        "a model output shape (batch, features) with features >= 1",
                        owner=loss_name)
    return int(shape[1])


def _float_dtype(value):
    dtype = getattr(value, "dtype", None)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(config.floatx())


def _to_rows(loss, y_true, y_pred):
    """Flatten a Keras-style call's arrays to rows of the last axis.

    Returns ``(target, rows, lead)``: prepared targets, ``y_pred`` as (rows, k), and the
    shape ``y_pred.shape[:-1]`` that per-row losses reshape back to.
    """
    # Predictions may be NaN/inf (a diverged model): the loss is then NaN, as in Keras,
    # and TerminateOnNaN can act on it.  Only targets and weights must be finite.
    pred = to_float_array(y_pred, "y_pred", _float_dtype(y_pred), allow_nan=True)
    if pred.ndim == 0:
        raise ValueError("Expected y_pred to have at least one axis. Received: a scalar")
    k, lead = pred.shape[-1], pred.shape[:-1]
    rows = pred.reshape(-1, k)
    truth = _asarray(y_true, "y_true")
    if isinstance(loss, SparseCategoricalCrossentropy):
        if truth.shape not in (lead, lead + (1,)):
            raise ValueError(
                f"{loss.name}: expected integer labels of shape {lead} (or {lead + (1,)}) "
                f"for predictions of shape {pred.shape}. Received: y_true of shape "
                f"{truth.shape}"
            )
        truth = truth.reshape(-1)
    else:
        if truth.shape == lead and k == 1:
            truth = truth[..., None]
        if truth.shape != pred.shape:
            raise ValueError(
                f"{loss.name}: expected y_true of the same shape as y_pred {pred.shape}. "
                f"Received: y_true of shape {truth.shape}"
            )
        truth = truth.reshape(-1, k)
    return loss.prepare_target(truth, (None, k), rows.dtype), rows, lead


def _asarray(value, name):
    """``np.asarray`` that reports ragged input as ``to_float_array`` does."""
    try:
        return np.asarray(value)
    except ValueError:
        return to_float_array(value, name, np.float64)  # raises its clear message


def _broadcast_weight(sample_weight, lead):
    """Weights broadcast against per-sample losses of shape ``lead``, left-aligned (one
    weight per sample applies to all of that sample's entries)."""
    if sample_weight is None:
        return np.ones(lead)
    w = to_float_array(sample_weight, "sample_weight", np.float64)
    if w.ndim and w.shape[-1] == 1 and w.ndim > len(lead):
        w = w[..., 0]
    w = w.reshape(w.shape + (1,) * (len(lead) - w.ndim)) if w.ndim < len(lead) else w
    try:
        return np.broadcast_to(w, lead)
    except ValueError:
        raise ValueError(
            f"Expected sample_weight to be a scalar or one weight per sample, broadcastable "
            f"to the losses' shape {lead}. Received: sample_weight of shape "
            f"{np.shape(sample_weight)}"
        ) from None


class _BuiltinLoss(Loss):
    """A loss computed by the ops' ``loss(op_name, ...)`` or, from logits, a fused op."""

    op_name = None  # the name NumpyOps.loss knows this loss by
    _fused = None  # 'softmax' or 'sigmoid' when a fused op covers the logits route
    _sparse = False  # integer labels instead of dense targets

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name or self.op_name, reduction=reduction, dtype=dtype)
        self.from_logits = False

    @property
    def fused_activation(self):
        return None if self.from_logits else self._fused

    def forward_backward(self, y_true, y_pred, grad_scale, logits=None):
        ops = backend.current()
        from_logits = logits is not None or self.from_logits
        z = logits if logits is not None else y_pred
        if grad_scale is not None:
            grad_scale = np.ascontiguousarray(grad_scale, dtype=z.dtype)
        if not from_logits:
            return ops.loss(self.op_name, y_true, y_pred, grad_scale, config.epsilon())
        if self._fused == "softmax":
            return ops.softmax_crossentropy(z, y_true, self._sparse, grad_scale)
        if self._fused == "sigmoid":
            return ops.sigmoid_binary_crossentropy(z, y_true, grad_scale)
        raise ValueError(
            f"{self.name} has no fused activation, so it cannot take logits. "
            "Received: logits"
        )


class MeanSquaredError(_BuiltinLoss):
    """Mean over the last axis of ``(y_true - y_pred)^2``.

    Args:
        reduction: see ``Loss``.
        name: default "mean_squared_error".
        dtype: see ``Loss``.
    """

    op_name = "mse"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class MeanAbsoluteError(_BuiltinLoss):
    """Mean over the last axis of ``|y_true - y_pred|``.

    Args:
        reduction: see ``Loss``.
        name: default "mean_absolute_error".
        dtype: see ``Loss``.
    """

    op_name = "mae"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class Hinge(_BuiltinLoss):
    """Mean over the last axis of ``max(1 - y_true * y_pred, 0)``; targets of 0 count as -1,
    so 0/1 labels and -1/+1 labels both work.

    Args:
        reduction: see ``Loss``.
        name: default "hinge".
        dtype: see ``Loss``.
    """

    op_name = "hinge"

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class CategoricalHinge(_BuiltinLoss):
    """``max(max_j (1 - t_j) p_j - sum_j t_j p_j + 1, 0)`` for one-hot targets: the
    multiclass SVM (Crammer-Singer) loss.

    Args:
        reduction: see ``Loss``.
        name: default "categorical_hinge".
        dtype: see ``Loss``.
    """

    op_name = "categorical_hinge"

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


def _check_axis(axis):
    if axis not in (-1,):
        refuse_argument("axis", axis, "-1 (fastnn losses reduce over the last axis only)")
    return axis


class _SmoothedCrossentropy(_BuiltinLoss):
    """What binary and categorical cross-entropy share: ``from_logits``, label smoothing
    towards a uniform target (``_uniform_target``) and ``axis``."""

    def __init__(self, from_logits, label_smoothing, axis, reduction, name, dtype):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = check_real("label_smoothing", label_smoothing, low=0, high=1)
        self.axis = _check_axis(axis)

    def _uniform_target(self, y):
        raise NotImplementedError

    def prepare_target(self, y_true, output_shape, dtype=None):
        y = super().prepare_target(y_true, output_shape, dtype)
        if self.label_smoothing:
            s = self.label_smoothing
            y = y * (1.0 - s) + s * self._uniform_target(y)
        return y

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(_SmoothedCrossentropy):
    """Binary cross-entropy, averaged over the last axis (one or several independent labels).

    Args:
        from_logits: whether ``y_pred`` are logits; by default they are probabilities
            (clipped to ``[epsilon, 1 - epsilon]``).  With a sigmoid output layer the
            engine feeds the logits to a fused stable op either way.
        label_smoothing: in [0, 1]: targets become ``t * (1 - s) + 0.5 * s``.
        axis: only -1.
        reduction: see ``Loss``.
        name: default "binary_crossentropy".
        dtype: see ``Loss``.
    """

    op_name = "binary_crossentropy"
    _fused = "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)

    def _uniform_target(self, y):
        return 0.5


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy against one-hot (or soft) targets.

    Args:
        from_logits: whether ``y_pred`` are logits; by default they are probabilities
            (renormalised to sum to one, then clipped, as Keras does).  With a softmax
            output layer the engine feeds the logits to a fused stable op either way.
        label_smoothing: in [0, 1]: targets become ``t * (1 - s) + s / k``.
        axis: only -1.
        reduction: see ``Loss``.
        name: default "categorical_crossentropy".
        dtype: see ``Loss``.
    """

    op_name = "categorical_crossentropy"
    _fused = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)

    def _uniform_target(self, y):
        return 1.0 / y.shape[1]

    def _shape_hint(self, y, features):
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            return (
                "; these look like integer class labels: use "
                "loss='sparse_categorical_crossentropy', or one-hot encode them"
            )
        return ""


class SparseCategoricalCrossentropy(_BuiltinLoss):
    """Cross-entropy against integer class labels in ``[0, classes)``.

    Args:
        from_logits: whether ``y_pred`` are logits (see ``CategoricalCrossentropy``).
        ignore_class: only None (every label counts).
        axis: only -1.
        reduction: see ``Loss``.
        name: default "sparse_categorical_crossentropy".
        dtype: see ``Loss``.
    """

    op_name = "sparse_categorical_crossentropy"
    _fused = "softmax"
    _sparse = True

    def __init__(self, from_logits=False, ignore_class=None, axis=-1,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if ignore_class is not None:
            refuse_argument("ignore_class", ignore_class,
                            "None (fastnn's SparseCategoricalCrossentropy does not support "
                            "ignoring a class)")
        self.from_logits = bool(from_logits)
        self.ignore_class = None
        self.axis = _check_axis(axis)

    def prepare_target(self, y_true, output_shape, dtype=None):
        """Integer labels (int64, shape (n,)) for an output of shape (None, classes).

        Accepts labels of shape (n,) or (n, 1), as integers or integral floats, each in
        ``[0, classes)``.
        """
        classes = _check_output_shape(self.name, output_shape)
        labels = _asarray(y_true, "y_true")
        if labels.dtype.kind not in "iub":  # floats are checked for NaN and integrality
            labels = to_float_array(y_true, "y_true", np.float64)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            hint = (
                "; these look one-hot encoded: use loss='categorical_crossentropy', or "
                "pass the class indices (argmax)"
                if labels.ndim == 2 and labels.shape[1] == classes else ""
            )
            raise ValueError(
                f"sparse_categorical_crossentropy: expected integer labels of shape (n,) "
                f"or (n, 1){hint}. Received: y_true of shape {labels.shape}"
            )
        if labels.dtype.kind == "f":
            nonint = labels != np.round(labels)
            if nonint.any():
                raise ValueError(
                    f"sparse_categorical_crossentropy: labels must be integers in "
                    f"[0, {classes}); received a label {float(labels[nonint][0])!r}."
                )
        # Range-check in the dtype given: casting first would wrap 1e20 or a uint64
        # 2**64 - 1 to a negative int64 and report that instead of the user's value.
        bad = (labels < 0) | (labels >= classes)
        if bad.any():
            hint = ""
            if labels.min() == 1 and labels.max() == classes:
                hint = " (the labels look 1-based: subtract 1)"
            raise ValueError(
                f"sparse_categorical_crossentropy: labels must be integers in "
                f"[0, {classes}); received a label {labels[bad][0].item()!r}{hint}."
            )
        return np.ascontiguousarray(labels, dtype=np.int64)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}


# ---------------------------------------------------------------------- functions
def _per_sample(loss, y_true, y_pred):
    """Keras' loss functions: the unreduced loss over the last axis, of shape
    ``y_pred.shape[:-1]``."""
    target, rows, lead = _to_rows(loss, y_true, y_pred)
    return loss.call(target, rows).reshape(lead)


def mean_squared_error(y_true, y_pred):
    """Mean squared error over the last axis (Keras' ``mean_squared_error``)."""
    return _per_sample(MeanSquaredError(), y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Mean absolute error over the last axis."""
    return _per_sample(MeanAbsoluteError(), y_true, y_pred)


def hinge(y_true, y_pred):
    """Hinge loss over the last axis (0/1 or -1/+1 targets)."""
    return _per_sample(Hinge(), y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """Categorical (multiclass SVM) hinge loss of one-hot targets."""
    return _per_sample(CategoricalHinge(), y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy averaged over the last axis."""
    loss = BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing,
                              axis=axis)
    return _per_sample(loss, y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Categorical cross-entropy of one-hot (or soft) targets."""
    loss = CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing,
                                   axis=axis)
    return _per_sample(loss, y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Categorical cross-entropy of integer labels."""
    loss = SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore_class,
                                         axis=axis)
    return _per_sample(loss, y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

# ---------------------------------------------------------------------- registry
_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    Hinge,
    CategoricalHinge,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
)
_REGISTRY = {cls.__name__: cls for cls in _CLASSES}
_ALIASES = {naming.snake_case(cls.__name__): cls for cls in _CLASSES}
_ALIASES.update({"mse": MeanSquaredError, "mae": MeanAbsoluteError,
                 "bce": BinaryCrossentropy})
_FUNCTIONS = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    hinge: Hinge,
    categorical_hinge: CategoricalHinge,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}


def get(identifier):
    """A ``Loss`` from a name ('mse', 'categorical_crossentropy', 'BinaryCrossentropy'),
    one of this module's functions, a ``Loss`` class or instance, or a config dict.

    Args:
        identifier: what to resolve; None gives None.

    Returns:
        A ``Loss`` instance (functions become their class with default arguments, since
        the engine needs ``forward_backward``).
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        _check_known(identifier)
        loss = _ser.get(identifier, _REGISTRY, _ALIASES, "loss", Loss)
        return loss
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and not isinstance(identifier, Loss):
        cls = _FUNCTIONS.get(identifier)
        if cls is None:
            raise TypeError(
                "fastnn has no automatic differentiation, so a loss must be a name, a "
                "fastnn.losses function, or a fastnn.losses.Loss subclass implementing "
                f"forward_backward(). Received: loss={identifier!r}"
            )
        return cls()
    return _ser.get(identifier, _REGISTRY, _ALIASES, "loss", Loss)


# ---------------------------------------------------------------- custom losses
def register(cls=None, *, name=None):
    """Register a custom ``Loss`` subclass so that saved models naming it load.

    Use as a decorator, ``@fastnn.losses.register`` or
    ``@fastnn.losses.register(name="my_loss")``.  ``load_model`` then finds the class
    by the name in the file (its class name unless ``name`` is given), without
    ``custom_objects``.  Registering again under the same name replaces the entry
    (re-running a notebook cell); fastnn's own names cannot be taken.

    Args:
        cls: the ``Loss`` subclass.
        name: the name to register it under; default: the class name.

    Returns:
        ``cls`` itself.
    """
    if cls is None:
        return lambda c: register(c, name=name)
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        refuse_argument("cls", cls, "a fastnn.losses.Loss subclass (fastnn has no automatic "
                        "differentiation, so a loss needs forward_backward)",
                        wrong_type=True, owner="losses.register")
    key = cls.__name__ if name is None else name
    if not isinstance(key, str) or not key:
        refuse_argument("name", name, "a non-empty string", owner="losses.register")
    if key in _BUILTIN_NAMES:
        refuse_argument("name", key, "a name that is not one of fastnn's own losses",
                        owner="losses.register")
    _REGISTRY[key] = cls
    return cls


def lookup(name):
    """The loss class a saved name refers to (a registered or built-in class name, or
    an alias such as 'mse'), or None."""
    if not isinstance(name, str):
        return None
    return _REGISTRY.get(name) or _ALIASES.get(name.lower())


def names():
    """Every name ``lookup`` knows (aliases, class names, registered losses), sorted:
    the choices a "Did you mean" hint is drawn from."""
    return sorted(set(_ALIASES) | set(_REGISTRY))


_BUILTIN_NAMES = frozenset(_REGISTRY) | frozenset(_ALIASES)


def _check_known(name):
    if name.lower() in _ALIASES or name in _REGISTRY:
        return
    choices = sorted(_ALIASES)
    hint = naming.did_you_mean(name, choices + sorted(_REGISTRY))
    raise ValueError(
        f"Unknown loss: expected one of {', '.join(choices)} (or a class name such as "
        f"'CategoricalCrossentropy').{hint} Received: loss={name!r}"
    )


def serialize(loss):
    """``{"class_name": ..., "config": ...}`` for a loss (or one of this module's functions)."""
    return _ser.serialize(get(loss))


def deserialize(config):
    """Rebuild a loss from ``serialize``'s dict (a name string also works)."""
    if isinstance(config, str):
        return get(config)
    return _ser.deserialize(config, _REGISTRY, "loss")


__all__ = [
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Hinge",
    "CategoricalHinge",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mse",
    "mae",
    "hinge",
    "categorical_hinge",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "get",
    "serialize",
    "deserialize",
    "register",
    "lookup",
    "REDUCTIONS",
]
