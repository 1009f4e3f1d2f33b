"""scikit-learn estimators around fastnn models, with Keras 3's signature.

``SKLearnClassifier``, ``SKLearnRegressor`` and ``SKLearnTransformer`` take ``model``
(a compiled fastnn model, or a callable ``model(X=..., y=..., **model_kwargs)`` that
returns one), ``warm_start``, ``model_kwargs`` and ``fit_kwargs``, and behave as
scikit-learn estimators: they fit into ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``, and ``sklearn.base.clone`` keeps every parameter.

What each ``fit`` trains:

* a callable ``model`` is called anew with the data, so every fit starts from a fresh
  model (its ``X`` and ``y`` are what the network will see: ``y`` one-hot encoded for
  the classifier, 2-D for the others);
* a model instance is copied first (``copy.deepcopy``: same architecture, same initial
  weights, same compile settings), so fitting the estimator never changes the model
  that was passed in; with ``warm_start=True`` the model is trained in place, and each
  later ``fit`` continues from ``model_``.

scikit-learn is an optional extra (``pip install fastnn[sklearn]``): it is imported
here, not by ``import fastnn``, and constructing an estimator without it raises an
``ImportError`` that says how to install it.
"""

import copy

import numpy as np

from ..utils.validation import check_bool, refuse_argument

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.utils.multiclass import type_of_target
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError:  # the extra is absent: the classes exist, constructing one says why
    sklearn = None

    class BaseEstimator:
        pass

    class ClassifierMixin:
        pass

    class RegressorMixin:
        pass

    class TransformerMixin:
        pass


def _require_sklearn(owner):
    if sklearn is None:
        raise ImportError(f"fastnn.wrappers.{owner} needs scikit-learn, an optional "
                          f"extra: pip install 'fastnn[sklearn]' (or scikit-learn>=1.6).")


class _SKLearnBase(BaseEstimator):
    """What the three estimators share: parameters, model creation, fitting.

    Subclasses say how the targets are encoded for the network
    (``_encode_targets``) and decoded from its outputs (``_decode_outputs``).
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        _require_sklearn(type(self).__name__)
        # scikit-learn's convention: __init__ stores its arguments untouched (clone
        # checks it), and fit validates them.
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A callable model draws new initial weights on every fit, so two fits on the
        # same data give different (equally good) models.
        tags.non_deterministic = True
        return tags

    # ----------------------------------------------------------------- parameters
    def _checked_params(self):
        """(warm_start, model_kwargs, fit_kwargs) after checking every parameter."""
        from ..models import Model

        owner = type(self).__name__
        if not isinstance(self.model, Model) and not callable(self.model):
            refuse_argument("model", self.model, "a compiled fastnn model or a callable "
                            "model(X, y, **model_kwargs) returning one", wrong_type=True,
                            owner=owner)
        warm_start = check_bool("warm_start", self.warm_start, owner=owner)
        kwargs = []
        for name in ("model_kwargs", "fit_kwargs"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, dict) and all(
                    isinstance(k, str) for k in value)):
                refuse_argument(name, value, "None or a dict of keyword arguments",
                                wrong_type=True, owner=owner)
            kwargs.append(dict(value or {}))
        if kwargs[0] and isinstance(self.model, Model):
            refuse_argument("model_kwargs", self.model_kwargs, "None when model is a "
                            "model instance (they are passed to a callable model)",
                            owner=owner)
        return warm_start, kwargs[0], kwargs[1]

    def _model_to_fit(self, X, y, warm_start, model_kwargs):
        """The model this fit trains (see the module docstring)."""
        from ..models import Model

        if warm_start and hasattr(self, "model_"):
            return self.model_
        if isinstance(self.model, Model):
            model = self.model if warm_start else _copy_model(self.model)
        else:
            model = self.model(X=X, y=y, **model_kwargs)
            if not isinstance(model, Model):
                raise TypeError(f"{type(self).__name__}: the callable model must return a "
                                f"fastnn model. Received: {model!r}")
        if not model.compiled:
            refuse_argument("model", model, "a compiled model (call model.compile(loss=..., "
                            "optimizer=...) first, or compile it inside the callable)",
                            owner=type(self).__name__)
        return model

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y, **kwargs):
        """Train the model on ``X`` and ``y``.

        Args:
            X: array-like of shape (n_samples, n_features).
            y: array-like of shape (n_samples,) or (n_samples, n_outputs).
            **kwargs: passed to ``model.fit`` (``epochs``, ``batch_size``,
                ``sample_weight``, ...); they take precedence over ``fit_kwargs``.

        Returns:
            The estimator itself.
        """
        warm_start, model_kwargs, fit_kwargs = self._checked_params()
        X, y = validate_data(self, X, y, **self._validation_options())
        y_net = self._encode_targets(y, reset=True)
        model = self._model_to_fit(X, y_net, warm_start, model_kwargs)
        # A copy: the merged arguments of this call never leak into fit_kwargs.
        fit_kwargs.update(kwargs)
        history = model.fit(X, y_net, **fit_kwargs)
        self.model_ = model
        self.history_ = {name: list(values) for name, values in history.history.items()}
        return self

    def _validation_options(self):
        return {"dtype": (np.float64, np.float32), "y_numeric": True, "multi_output": True}

    def _outputs(self, X):
        """The network's outputs for ``X``, after the fitted-estimator checks."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.model_.predict(X, verbose=0)

    # ----------------------------------------------------------------- targets
    def _encode_targets(self, y, reset):
        """``y`` as the network sees it: 2-D, one row per sample."""
        if reset:
            self._y_ndim = np.ndim(y)
        return np.asarray(y, dtype=np.float64).reshape(len(y), -1)

    def _decode_outputs(self, outputs):
        """The network's outputs back in ``y``'s form (1-D when ``y`` was)."""
        if self._y_ndim == 1 and outputs.ndim == 2 and outputs.shape[1] == 1:
            return outputs[:, 0]
        return outputs


class SKLearnClassifier(ClassifierMixin, _SKLearnBase):
    """A scikit-learn classifier around a fastnn model (Keras 3's ``SKLearnClassifier``).

    The labels (any values: ints, strings) are one-hot encoded in the order of
    ``classes_`` before the model is built and trained, so the network needs one
    output per class (softmax and ``categorical_crossentropy``, say); ``predict``
    returns the class of the largest output.

    Args:
        model: a compiled fastnn model, or a callable ``model(X=..., y=...,
            **model_kwargs)`` returning one; ``y`` is the one-hot matrix.  A model
            instance is copied before each fit unless ``warm_start``.
        warm_start: train the given model in place and continue from ``model_`` in
            later fits, instead of starting each fit afresh.
        model_kwargs: keyword arguments for a callable ``model``.
        fit_kwargs: keyword arguments for ``model.fit`` (``epochs``, ``batch_size``,
            ``verbose``, ...); those given to ``fit`` itself take precedence.

    Attributes:
        model_: the fitted fastnn model.
        history_: the per-epoch logs of the last fit (``{"loss": [...], ...}``).
        classes_: the class labels, sorted.
        n_features_in_: the number of features seen in fit.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # small networks, few epochs
        return tags

    def _validation_options(self):
        return {"dtype": (np.float64, np.float32)}

    def _encode_targets(self, y, reset):
        y = column_or_1d(y, warn=True)
        kind = type_of_target(y, input_name="y", raise_unknown=True)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"{type(self).__name__} supports binary and multiclass "
                             f"targets. Received: a {kind} target")
        if reset:
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes to "
                                 f"train. Received: 1 class, {self.classes_.tolist()!r}")
        index = np.searchsorted(self.classes_, y)
        one_hot = np.zeros((len(y), len(self.classes_)))
        one_hot[np.arange(len(y)), index] = 1.0
        return one_hot

    def predict(self, X):
        """The class of each sample: the label of the model's largest output.

        Args:
            X: array-like of shape (n_samples, n_features).
        """
        outputs = self._class_outputs(X)  # first: it checks that fit has run
        return self.classes_[np.argmax(outputs, axis=1)]

    def decision_function(self, X):
        """The model's raw outputs, one column per class of ``classes_``; for two
        classes, scikit-learn's single score instead: output 1 minus output 0,
        positive exactly where ``predict`` says ``classes_[1]`` (Keras returns the
        two columns, which scikit-learn's scorers and checks do not accept).

        Args:
            X: array-like of shape (n_samples, n_features).
        """
        outputs = self._class_outputs(X)
        if len(self.classes_) == 2:
            return outputs[:, 1] - outputs[:, 0]
        return outputs

    def _class_outputs(self, X):
        outputs = self._outputs(X)
        if outputs.ndim != 2 or outputs.shape[1] != len(self.classes_):
            raise ValueError(f"{type(self).__name__}: the model must give one output per "
                             f"class ({len(self.classes_)}). Received: outputs of shape "
                             f"{outputs.shape}")
        return outputs


class SKLearnRegressor(RegressorMixin, _SKLearnBase):
    """A scikit-learn regressor around a fastnn model (Keras 3's ``SKLearnRegressor``).

    A 1-D ``y`` is given to the network as one column, and ``predict`` returns 1-D
    values again.

    Args:
        model: a compiled fastnn model, or a callable ``model(X=..., y=...,
            **model_kwargs)`` returning one.  A model instance is copied before each
            fit unless ``warm_start``.
        warm_start: train the given model in place and continue from ``model_`` in
            later fits.
        model_kwargs: keyword arguments for a callable ``model``.
        fit_kwargs: keyword arguments for ``model.fit``; those given to ``fit`` itself
            take precedence.

    Attributes:
        model_: the fitted fastnn model.
        history_: the per-epoch logs of the last fit.
        n_features_in_: the number of features seen in fit.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags

    def predict(self, X):
        """The model's predictions, in the shape of the ``y`` it was fitted on.

        Args:
            X: array-like of shape (n_samples, n_features).
        """
        return self._decode_outputs(self._outputs(X))


class SKLearnTransformer(TransformerMixin, _SKLearnBase):
    """A scikit-learn transformer around a fastnn model (Keras 3's
    ``SKLearnTransformer``): ``fit`` trains the model on ``X`` and ``y`` as the
    regressor does, ``transform`` returns the model's outputs (features for the next
    step of a pipeline: an embedding, an encoder's code).

    Args:
        model: a compiled fastnn model, or a callable ``model(X=..., y=...,
            **model_kwargs)`` returning one.  A model instance is copied before each
            fit unless ``warm_start``.
        warm_start: train the given model in place and continue from ``model_``.
        model_kwargs: keyword arguments for a callable ``model``.
        fit_kwargs: keyword arguments for ``model.fit``.

    Attributes:
        model_: the fitted fastnn model.
        history_: the per-epoch logs of the last fit.
        n_features_in_: the number of features seen in fit.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # outputs are in the model's dtype
        return tags

    def transform(self, X):
        """The model's outputs for ``X``, shape (n_samples, n_outputs).

        Args:
            X: array-like of shape (n_samples, n_features).
        """
        return self._outputs(X)


def _copy_model(model):
    """An independent copy of a compiled model, to be trained in its place.

    A built model is deep-copied (weights, compile settings and optimizer state
    travel through fastnn's own file format); a Sequential without an input shape yet
    has no weights, so its layers are rebuilt from its config and compiled alike.
    """
    if model.built:
        return copy.deepcopy(model)
    from .. import optimizers
    from ..models import saving

    fresh = type(model).from_config(model.get_config(),
                                    custom_objects=saving.custom_objects_of(model))
    if model.compiled:
        args = model._compile_args
        fresh.compile(optimizer=optimizers.deserialize(optimizers.serialize(model.optimizer)),
                      loss=copy.deepcopy(args["loss"]), metrics=copy.deepcopy(args["metrics"]),
                      loss_weights=copy.deepcopy(args["loss_weights"]),
                      weighted_metrics=copy.deepcopy(args.get("weighted_metrics")))
    return fresh
