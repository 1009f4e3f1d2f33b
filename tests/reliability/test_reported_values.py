"""Errors report the value the user gave, not what a cast made of it.

Labels and ids are range-checked in the dtype they arrive in: casting 1e20 or a uint64
``2**64 - 1`` to int64 first wraps it to a negative number, and the error then showed
``-9223372036854775808`` or ``-1``.
"""

import re

import numpy as np
import pytest

import fastnn
from fastnn import layers, losses

HUGE = [
    (np.array([0, 1e20]), "1e+20"),
    (np.array([[0.0], [-1e20]]), "-1e+20"),
    (np.array([0, 2**64 - 1], dtype=np.uint64), "18446744073709551615"),
    (np.array([0, 2**63], dtype=np.uint64), "9223372036854775808"),
]


@pytest.mark.parametrize("labels, shown", HUGE)
def test_sparse_labels_out_of_range_are_reported_as_given(labels, shown):
    with pytest.raises(ValueError, match=rf"received a label {re.escape(shown)}\."):
        losses.SparseCategoricalCrossentropy().prepare_target(labels, (None, 3))


@pytest.mark.parametrize("labels, shown", HUGE)
def test_fit_and_evaluate_report_the_label_as_given(labels, shown):
    model = fastnn.Sequential([layers.Dense(3, input_dim=2)])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.zeros((2, 2))
    for call in (model.fit, model.evaluate):
        with pytest.raises(ValueError, match=rf"received a label {re.escape(shown)}\."):
            call(x, labels, verbose=0)


def test_the_loss_function_reports_the_label_as_given():
    with pytest.raises(ValueError, match=r"received a label 1e\+20\."):
        losses.sparse_categorical_crossentropy(np.array([1e20]), np.ones((1, 3)) / 3)


def test_sparse_accuracy_compares_huge_labels_without_wrapping():
    # a wrapped label could equal an argmax; 1e20 and 2**64 - 1 match nothing
    pred = np.eye(3)[[0, 1]]
    for labels in (np.array([0, 1e20]), np.array([0, 2**64 - 1], dtype=np.uint64)):
        np.testing.assert_array_equal(
            fastnn.metrics.sparse_categorical_accuracy(labels, pred), [1.0, 0.0])


@pytest.mark.parametrize("ids, shown", [
    (np.array([[0, 1e20]]), "1e+20"),
    (np.array([[0, 2**64 - 1]], dtype=np.uint64), "18446744073709551615"),
    (np.array([[0, -1]]), "-1"),
])
def test_embedding_ids_out_of_range_are_reported_as_given(ids, shown):
    with pytest.raises(ValueError, match=rf"Received: id {re.escape(shown)}$"):
        layers.Embedding(4, 2)(ids)


def test_embedding_non_integer_ids_are_plain_numbers_in_the_message():
    for ids, shown in ((np.array([[0.5]]), "0.5"), (np.array([[np.nan]]), "nan")):
        with pytest.raises(ValueError, match=rf"non-integer values such as {shown}$"):
            layers.Embedding(4, 2)(ids)
