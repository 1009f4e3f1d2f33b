"""Wrappers that let fastnn models work inside other libraries' tools.

``SKLearnClassifier``, ``SKLearnRegressor`` and ``SKLearnTransformer`` are
scikit-learn estimators (Keras 3's ``keras.wrappers``); they need the optional
scikit-learn extra, which only this package imports.
"""

from .scikit_learn import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]
