"""Accuracy, confusion matrix and Cohen's kappa against values computed by hand."""

from __future__ import annotations

import random

import pytest

from merr_factory.quality.agreement import accuracy, cohen_kappa, confusion_matrix


def test_confusion_matrix_rows_are_the_reference() -> None:
    pairs = [("happy", "happy"), ("happy", "sad"), ("sad", "sad"), ("sad", "sad")]
    assert confusion_matrix(pairs, ["happy", "sad", "angry"]) == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    assert accuracy(pairs) == 0.75
    assert accuracy([]) is None


def test_kappa_of_a_textbook_table() -> None:
    """50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15. p_o = 35/50 = 0.7;
    p_e = (25 * 30 + 25 * 20) / 50^2 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4."""
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_kappa_edges() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa([("a", "a")] * 4) is None  # one label throughout: undefined
    assert cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)
    # the other source always says "n": no agreement beyond chance
    assert cohen_kappa([("a", "n"), ("b", "n"), ("c", "n")]) == pytest.approx(0.0)


def test_kappa_equals_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(3)
    labels = ["happy", "sad", "angry", "neutral"]
    pairs = [(rng.choice(labels), rng.choice(labels[:3])) for _ in range(200)]
    pairs += [(label, label) for label in labels for _ in range(20)]
    expected = metrics.cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs])
    assert cohen_kappa(pairs) == pytest.approx(expected)
