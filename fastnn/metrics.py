"""Stateful metrics with Keras 3's API: ``update_state`` / ``result`` / ``reset_state``.

Metrics are not on the training hot path (they see each batch's outputs once), so they
are plain NumPy and accumulate in float64.  Metrics that wrap a loss reuse the loss
functions of ``fastnn.losses`` rather than restating their formulas.

``resolve(identifier, loss, output_shape, target_shape)`` is what ``compile(metrics=...)``
goes through: it turns 'accuracy' / 'acc' into the binary, categorical or sparse
categorical accuracy by the same shape rule as Keras 3, and names every metric by the
string the user wrote, as Keras 3 does for its history keys ('mse' is reported as "mse").
"""


import numpy as np

from . import losses as _losses
from .utils import naming
from .utils import serialization as _ser
from .utils.validation import check_int, check_real, refuse_argument, to_float_array


def _match_rank(a, b):
    """Keras' squeeze-or-expand: make ``a`` and ``b`` the same rank when they differ by a
    trailing axis of size 1 ((n,) against (n, 1))."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1:
            b = b[:, None]
        else:
            a = a[..., 0]
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1:
            a = a[:, None]
        else:
            b = b[..., 0]
    return a, b


def _numeric(value, name):
    # Predictions (and the values computed from them) may be NaN/inf when a model has
    # diverged: the metric is then NaN, as in Keras.  Targets and weights must be finite.
    return to_float_array(value, name, np.float64, allow_nan=name in ("y_pred", "values"))


class Metric:
    """Base class: a running statistic over batches.

    Subclasses implement ``update_state``, ``result`` and ``reset_state``.

    Args:
        name: the metric's name (the history key); default: the class name in snake case.
        dtype: accepted for Keras compatibility; results are Python floats.
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or naming.snake_case(type(self).__name__)
        self.dtype = dtype

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """``update_state(...)`` then ``result()``."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state``.

    Values with more axes than the weights are first averaged over the extra axes, so
    each sample counts once with its weight, as in Keras.

    Args:
        name: default "mean".
        dtype: see ``Metric``.
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        """Add a batch of values.

        Args:
            values: per-sample (or per-element) values.
            sample_weight: optional weights broadcastable to ``values`` (a scalar, one per
                sample, or one per element).
        """
        values = _numeric(values, "values")
        if sample_weight is None:
            if values.ndim > 1:
                values = values.mean(axis=tuple(range(1, values.ndim)))
            self.total += float(values.sum())
            self.count += float(values.shape[0] if values.ndim else 1)
            return
        w = _numeric(sample_weight, "sample_weight")
        values, w = _match_rank(values, w)
        if values.ndim > w.ndim:
            values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
        try:
            w = np.broadcast_to(w, values.shape)
        except ValueError:
            raise ValueError(
                f"{self.name}: sample_weight must broadcast to the values' shape "
                f"{values.shape}. Received: sample_weight of shape {w.shape}"
            ) from None
        self.total += float((values * w).sum())
        self.count += float(w.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


def _object_name(obj):
    """Keras' naming of a metric given as an object: its ``name``, else its function
    name or class name in snake case."""
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    return naming.snake_case(getattr(obj, "__name__", type(obj).__name__))


class MeanMetricWrapper(Mean):
    """The weighted mean of ``fn(y_true, y_pred, **kwargs)``, a per-sample function.

    Args:
        fn: ``fn(y_true, y_pred, **kwargs)`` returning one value per sample.
        name: the metric's name; default: ``fn``'s name.
        dtype: see ``Metric``.
        **kwargs: passed to ``fn``.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or _object_name(fn), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch of targets and predictions (optionally weighted per sample)."""
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        if cls is MeanMetricWrapper:
            raise ValueError(
                "A MeanMetricWrapper of an arbitrary function cannot be rebuilt from a "
                f"config. Received: config={config!r}"
            )
        return cls(**config)


# ---------------------------------------------------------------------- accuracy
def accuracy(y_true, y_pred):
    """1.0 where ``y_pred == y_true`` exactly, element-wise."""
    y_true, y_pred = _match_rank(_numeric(y_true, "y_true"), _numeric(y_pred, "y_pred"))
    return (y_true == y_pred).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``(y_pred > threshold)`` equals the 0/1 target, element-wise."""
    y_true, y_pred = _match_rank(_numeric(y_true, "y_true"), _numeric(y_pred, "y_pred"))
    return (y_true == (y_pred > threshold)).astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    """1.0 per sample where ``argmax(y_pred)`` equals ``argmax(y_true)`` (one-hot targets)."""
    y_true, y_pred = _numeric(y_true, "y_true"), _numeric(y_pred, "y_pred")
    return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 per sample where ``argmax(y_pred)`` equals the integer label."""
    y_true, y_pred = _numeric(y_true, "y_true"), _numeric(y_pred, "y_pred")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true == y_pred.argmax(axis=-1)).astype(np.float64)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal targets exactly.

    Args:
        name: default "accuracy".
        dtype: see ``Metric``.
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches binary (0/1) targets.

    Args:
        name: default "binary_accuracy".
        dtype: see ``Metric``.
        threshold: the decision threshold on predictions (default 0.5).
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=float(threshold))


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the predicted class (argmax) matches the one-hot target's.

    Args:
        name: default "categorical_accuracy".
        dtype: see ``Metric``.
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the predicted class (argmax) matches the integer label.

    Args:
        name: default "sparse_categorical_accuracy".
        dtype: see ``Metric``.
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


# ---------------------------------------------------------------------- losses as metrics
class MeanSquaredError(MeanMetricWrapper):
    """The mean of the squared error (``fastnn.losses.mean_squared_error``).

    Args:
        name: default "mean_squared_error".
        dtype: see ``Metric``.
    """

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(_losses.mean_squared_error, name=name, dtype=dtype)


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the (weighted) mean squared error.

    Args:
        name: default "root_mean_squared_error".
        dtype: see ``Metric``.
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def result(self):
        return float(np.sqrt(super().result()))


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of the absolute error (``fastnn.losses.mean_absolute_error``).

    Args:
        name: default "mean_absolute_error".
        dtype: see ``Metric``.
    """

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(_losses.mean_absolute_error, name=name, dtype=dtype)


class Hinge(MeanMetricWrapper):
    """The mean hinge loss (``fastnn.losses.hinge``).

    Args:
        name: default "hinge".
        dtype: see ``Metric``.
    """

    def __init__(self, name="hinge", dtype=None):
        super().__init__(_losses.hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean categorical hinge loss (``fastnn.losses.categorical_hinge``).

    Args:
        name: default "categorical_hinge".
        dtype: see ``Metric``.
    """

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(_losses.categorical_hinge, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean binary cross-entropy (``fastnn.losses.binary_crossentropy``).

    Args:
        name: default "binary_crossentropy".
        dtype: see ``Metric``.
        from_logits: whether predictions are logits.
        label_smoothing: see ``fastnn.losses.BinaryCrossentropy``.
    """

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(_losses.binary_crossentropy, name=name, dtype=dtype,
                         from_logits=bool(from_logits), label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean categorical cross-entropy (``fastnn.losses.categorical_crossentropy``).

    Args:
        name: default "categorical_crossentropy".
        dtype: see ``Metric``.
        from_logits: whether predictions are logits.
        label_smoothing: see ``fastnn.losses.CategoricalCrossentropy``.
    """

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(_losses.categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=bool(from_logits), label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean sparse categorical cross-entropy.

    Args:
        name: default "sparse_categorical_crossentropy".
        dtype: see ``Metric``.
        from_logits: whether predictions are logits.
    """

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        super().__init__(_losses.sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=bool(from_logits))


# ---------------------------------------------------------------------- confusion counts
def _thresholds_list(thresholds, default):
    if thresholds is None:
        return [default], True
    single = np.ndim(thresholds) == 0
    # Each threshold as the caller gave it (np.asarray would turn [0.5, "a"] into
    # strings), NumPy scalars as Python numbers, so that the message shows the refused
    # threshold as "1.5", not "np.float64(1.5)".
    items = [thresholds] if single else list(thresholds)
    values = [check_real("thresholds", t.item() if isinstance(t, np.generic) else t,
                         low=0, high=1) for t in items]
    return values, single


def _confusion_counts(y_true, y_pred, sample_weight, thresholds, class_id=None):
    """Weighted (tp, fp, tn, fn) per threshold, with "positive" meaning ``pred > t``.

    Every entry of ``y_pred`` is one binary decision (labels are flattened); a non-zero
    ``y_true`` is a positive.  ``thresholds`` must be sorted.
    """
    y_true, y_pred = _match_rank(_numeric(y_true, "y_true"), _numeric(y_pred, "y_pred"))
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"Expected y_true and y_pred of the same shape. Received: y_true of shape "
            f"{y_true.shape} and y_pred of shape {y_pred.shape}"
        )
    if sample_weight is None:
        w = np.ones_like(y_pred)
    else:
        w = _numeric(sample_weight, "sample_weight")
        w = w.reshape(w.shape + (1,) * (y_pred.ndim - w.ndim)) if w.ndim < y_pred.ndim else w
        w = np.broadcast_to(w, y_pred.shape)
    if class_id is not None:
        y_true, y_pred, w = y_true[..., class_id], y_pred[..., class_id], w[..., class_id]
    pos = (y_true != 0).ravel()
    w, y_pred = w.ravel(), y_pred.ravel()
    # rank[i] = number of thresholds strictly below y_pred[i]; the entry counts as a
    # predicted positive at exactly those thresholds.  One pass, O(N log T).
    t = np.asarray(thresholds, dtype=np.float64)
    rank = np.searchsorted(t, y_pred, side="left")
    above_pos = np.bincount(rank[pos], weights=w[pos], minlength=len(t) + 1)
    above_neg = np.bincount(rank[~pos], weights=w[~pos], minlength=len(t) + 1)
    # tp[j] = weight of positives with rank > j: a reversed cumulative sum.
    tp = np.cumsum(above_pos[::-1])[::-1][1:]
    fp = np.cumsum(above_neg[::-1])[::-1][1:]
    total_pos, total_neg = float(w[pos].sum()), float(w[~pos].sum())
    return tp, fp, total_neg - fp, total_pos - tp


def _divide(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


class _ConfusionMetric(Metric):
    def __init__(self, thresholds, default_threshold, class_id, name, dtype):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds, self._single = _thresholds_list(thresholds, default_threshold)
        self._order = np.argsort(self.thresholds, kind="stable")
        self.class_id = class_id
        self.reset_state()

    def reset_state(self):
        k = len(self.thresholds)
        self.true_positives = np.zeros(k)
        self.false_positives = np.zeros(k)
        self.false_negatives = np.zeros(k)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch; each prediction is positive at a threshold ``t`` when ``> t``."""
        sorted_t = np.asarray(self.thresholds)[self._order]
        tp, fp, _, fn = _confusion_counts(y_true, y_pred, sample_weight, sorted_t,
                                          self.class_id)
        self.true_positives[self._order] += tp
        self.false_positives[self._order] += fp
        self.false_negatives[self._order] += fn

    def _finish(self, values):
        return float(values[0]) if self._single else [float(v) for v in values]

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """``tp / (tp + fp)`` where a prediction is positive when above the threshold.

    Args:
        thresholds: a float in [0, 1] or a list of them (then ``result`` is a list);
            default 0.5.
        class_id: optional column of a multi-label output to evaluate alone.
        name: default "precision".
        dtype: see ``Metric``.
    """

    def __init__(self, thresholds=None, class_id=None, name="precision", dtype=None):
        super().__init__(thresholds, 0.5, class_id, name, dtype)

    def result(self):
        return self._finish(_divide(self.true_positives,
                                    self.true_positives + self.false_positives))


class Recall(_ConfusionMetric):
    """``tp / (tp + fn)`` where a prediction is positive when above the threshold.

    Args:
        thresholds: a float in [0, 1] or a list of them (then ``result`` is a list);
            default 0.5.
        class_id: optional column of a multi-label output to evaluate alone.
        name: default "recall".
        dtype: see ``Metric``.
    """

    def __init__(self, thresholds=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, 0.5, class_id, name, dtype)

    def result(self):
        return self._finish(_divide(self.true_positives,
                                    self.true_positives + self.false_negatives))


class AUC(Metric):
    """Area under the ROC (or precision-recall) curve, Keras' bucketed approximation.

    As in Keras, the curve is sampled at ``num_thresholds`` thresholds (``-epsilon``,
    ``1/(T-1)``, ..., ``(T-2)/(T-1)``, ``1 + epsilon``): predictions (clipped to [0, 1])
    count as positive above each threshold, confusion counts accumulate across batches
    in O(T) memory, and the area is a Riemann sum.  With the default 200 thresholds it
    is within about 1/200 of the exact AUC, and equals Keras' value.  Labels are
    flattened (``multi_label=False``): every output entry is one binary decision, and a
    non-zero label is a positive.

    Args:
        num_thresholds: number of thresholds (> 1), default 200.
        curve: "ROC" (default) or "PR".
        summation_method: "interpolation" (trapezoids; for PR, Davis & Goadrich's
            interpolation), "minoring" or "majoring".
        name: default "auc".
        dtype: see ``Metric``.
        thresholds: optional explicit thresholds in [0, 1] (``num_thresholds`` then
            becomes ``len(thresholds) + 2``).
        from_logits: apply a sigmoid to predictions first.
    """

    _CURVES = ("ROC", "PR")
    _SUMMATIONS = ("interpolation", "minoring", "majoring")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        if str(curve).upper() not in self._CURVES:
            refuse_argument("curve", curve, "'ROC' or 'PR' (in any case)")
        if str(summation_method).lower() not in self._SUMMATIONS:
            refuse_argument("summation_method", summation_method,
                            "one of 'interpolation', 'minoring', 'majoring' (in any case)")
        self.curve = str(curve).upper()
        self.summation_method = str(summation_method).lower()
        self.from_logits = bool(from_logits)
        from . import config

        eps = config.epsilon()
        if thresholds is not None:
            inner = sorted(_thresholds_list(thresholds, None)[0])
            self.num_thresholds = len(inner) + 2
        else:
            self.num_thresholds = check_int("num_thresholds", num_thresholds, low=2)
            inner = [(i + 1) / (self.num_thresholds - 1)
                     for i in range(self.num_thresholds - 2)]
        self._init_thresholds = None if thresholds is None else list(inner)
        self.thresholds = np.array([0.0 - eps] + list(inner) + [1.0 + eps])
        self.reset_state()

    def reset_state(self):
        t = self.num_thresholds
        self.true_positives = np.zeros(t)
        self.false_positives = np.zeros(t)
        self.true_negatives = np.zeros(t)
        self.false_negatives = np.zeros(t)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch of binary labels and scores (probabilities, or logits with
        ``from_logits``)."""
        y_pred = _numeric(y_pred, "y_pred")
        if self.from_logits:
            y_pred = 0.5 * (1.0 + np.tanh(0.5 * y_pred))  # sigmoid without overflow
        y_pred = np.clip(y_pred, 0.0, 1.0)
        tp, fp, tn, fn = _confusion_counts(y_true, y_pred, sample_weight, self.thresholds)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def result(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr_auc()
        recall = _divide(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide(fp, fp + self.true_negatives), recall
        else:
            x, y = recall, _divide(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        # Thresholds increase, so x decreases: each step is a positive width.
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def _interpolated_pr_auc(self):
        """PR AUC with precision interpolated between thresholds as the ratio of
        interpolated tp to interpolated predicted positives (Davis & Goadrich, 2006),
        rather than linearly, which would overstate the area."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        p = tp + fp
        dtp = tp[:-1] - tp[1:]
        dp = p[:-1] - p[1:]
        slope = _divide(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.where(ratio > 0, np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
        increments = _divide(slope * (dtp + intercept * log_ratio),
                             np.maximum(tp[1:] + fn[1:], 0))
        return float(np.sum(increments))

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                "curve": self.curve, "summation_method": self.summation_method,
                "thresholds": self._init_thresholds, "from_logits": self.from_logits}


# ---------------------------------------------------------------------- registry
_CLASSES = (
    Mean,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    MeanSquaredError,
    RootMeanSquaredError,
    MeanAbsoluteError,
    Hinge,
    CategoricalHinge,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    AUC,
    Precision,
    Recall,
)
_REGISTRY = {cls.__name__: cls for cls in _CLASSES}
_ALIASES = {naming.snake_case(cls.__name__): cls for cls in _CLASSES}
_ALIASES.update({"mse": MeanSquaredError, "mae": MeanAbsoluteError,
                 "bce": BinaryCrossentropy})


def get(identifier):
    """A ``Metric`` from a name ('mse', 'auc', 'BinaryAccuracy'), a config dict, a
    ``Metric`` class or instance, or a function ``fn(y_true, y_pred)`` returning one value
    per sample (wrapped in ``MeanMetricWrapper``).

    Args:
        identifier: what to resolve; None gives None.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier.lower() not in _ALIASES and identifier not in _REGISTRY:
            choices = sorted(_ALIASES)
            hint = naming.did_you_mean(identifier, choices + sorted(_REGISTRY))
            raise ValueError(
                f"Unknown metric: expected one of {', '.join(choices)} (or 'acc', or a "
                f"class name such as 'BinaryAccuracy').{hint} Received: metric={identifier!r}"
            )
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier) and not isinstance(identifier, Metric):
        return MeanMetricWrapper(identifier)
    return _ser.get(identifier, _REGISTRY, _ALIASES, "metric", Metric)


# --------------------------------------------------------------- custom metrics
# Metric functions a saved file may name, by name: fastnn's own, then registered ones.
_BUILTIN_FUNCTIONS = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    _losses.mean_squared_error, _losses.mean_absolute_error, _losses.hinge,
    _losses.categorical_hinge, _losses.binary_crossentropy,
    _losses.categorical_crossentropy, _losses.sparse_categorical_crossentropy)}
_REGISTERED_FUNCTIONS = {}
_BUILTIN_NAMES = frozenset(_REGISTRY) | frozenset(_ALIASES) | frozenset(_BUILTIN_FUNCTIONS)


def register(obj=None, *, name=None):
    """Register a custom metric, a ``Metric`` subclass or a function
    ``fn(y_true, y_pred)`` returning one value per sample, so that saved models
    compiled with it load.

    Use as a decorator, ``@fastnn.metrics.register`` or
    ``@fastnn.metrics.register(name="f1")``.  ``load_model`` then finds it by the name
    in the file (the class name, or the function's name, unless ``name`` is given),
    without ``custom_objects``.  Registering again under the same name replaces the
    entry (re-running a notebook cell); fastnn's own names cannot be taken.

    Args:
        obj: the ``Metric`` subclass or the function.
        name: the name to register it under; default: its ``__name__``.

    Returns:
        ``obj`` itself.
    """
    if obj is None:
        return lambda o: register(o, name=name)
    is_class = isinstance(obj, type)
    if (is_class and not issubclass(obj, Metric)) or not callable(obj) or isinstance(obj, Metric):
        refuse_argument("obj", obj, "a fastnn.metrics.Metric subclass or a function "
                        "fn(y_true, y_pred)", wrong_type=True, owner="metrics.register")
    key = getattr(obj, "__name__", None) if name is None else name
    if not isinstance(key, str) or not key or key == "<lambda>":
        refuse_argument("name", key, "a non-empty string (a lambda needs name=...)",
                        owner="metrics.register")
    if key in _BUILTIN_NAMES:
        refuse_argument("name", key, "a name that is not one of fastnn's own metrics",
                        owner="metrics.register")
    if is_class:
        _REGISTRY[key] = obj
    else:
        _REGISTERED_FUNCTIONS[key] = obj
    return obj


def lookup(name):
    """The ``Metric`` class a saved name refers to (a registered or built-in class
    name, or an alias such as 'mse'), or None."""
    if not isinstance(name, str):
        return None
    return _REGISTRY.get(name) or _ALIASES.get(name.lower())


def names(functions=False):
    """Every name ``lookup`` knows (aliases, class names, registered metrics), or with
    ``functions=True`` every name ``lookup_function`` knows, sorted: the choices a
    "Did you mean" hint is drawn from."""
    if functions:
        return sorted(set(_BUILTIN_FUNCTIONS) | set(_REGISTERED_FUNCTIONS))
    return sorted(set(_ALIASES) | set(_REGISTRY) | {"acc"})


def lookup_function(name):
    """The metric function a saved name refers to (registered, or fastnn's own such
    as 'binary_accuracy'), or None."""
    if not isinstance(name, str):
        return None
    return _REGISTERED_FUNCTIONS.get(name) or _BUILTIN_FUNCTIONS.get(name)


def function_name(fn):
    """The name a metric function is saved under: the name it is registered under (or
    fastnn's own), else its ``__name__``."""
    for table in (_REGISTERED_FUNCTIONS, _BUILTIN_FUNCTIONS):
        for key, value in table.items():
            if value is fn:
                return key
    return getattr(fn, "__name__", type(fn).__name__)


def _accuracy_class(loss, output_shape, target_shape):
    """Keras 3's choice for 'accuracy': binary for a 1-unit output, sparse categorical for
    targets with one axis less than the output (or a single column against several
    units), else categorical.  What is unknown falls back on the loss."""
    units = None if output_shape is None else tuple(output_shape)[-1]
    if units == 1:
        return BinaryAccuracy
    if target_shape is not None and output_shape is not None:
        target_shape, output_shape = tuple(target_shape), tuple(output_shape)
        if len(target_shape) < len(output_shape) or (
            target_shape[-1] == 1 and output_shape[-1] != 1
        ):
            return SparseCategoricalAccuracy
        return CategoricalAccuracy
    loss = _losses.get(loss) if loss is not None else None
    if isinstance(loss, _losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy
    if isinstance(loss, _losses.BinaryCrossentropy) and units is None:
        return BinaryAccuracy
    return CategoricalAccuracy


def resolve(identifier, loss=None, output_shape=None, target_shape=None):
    """The metric object for one entry of ``compile(metrics=[...])``.

    'accuracy' / 'acc' (any case) become ``BinaryAccuracy``, ``SparseCategoricalAccuracy``
    or ``CategoricalAccuracy`` by Keras 3's rule on the shapes (see ``_accuracy_class``),
    named exactly as written.  Any other string resolves through ``get`` and is also
    named as written ('mse' -> "mse"), so history keys match Keras 3's; objects keep
    their own names.

    Args:
        identifier: the entry (string, function, ``Metric`` class or instance, dict).
        loss: the compiled loss (used when shapes are not known).
        output_shape: the model output's shape (batch axis included, may be None).
        target_shape: the targets' shape as given to ``fit``.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return _accuracy_class(loss, output_shape, target_shape)(name=identifier)
    metric = get(identifier)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric


def serialize(metric):
    """``{"class_name": ..., "config": ...}`` for a metric."""
    return _ser.serialize(get(metric))


def deserialize(config):
    """Rebuild a metric from ``serialize``'s dict (a name string also works)."""
    if isinstance(config, str):
        return get(config)
    return _ser.deserialize(config, _REGISTRY, "metric")


__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "MeanSquaredError",
    "RootMeanSquaredError",
    "MeanAbsoluteError",
    "Hinge",
    "CategoricalHinge",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "AUC",
    "Precision",
    "Recall",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "get",
    "resolve",
    "serialize",
    "deserialize",
    "register",
    "lookup",
    "lookup_function",
    "function_name",
]
