"""Agreement between two label sources: accuracy, the confusion matrix, Cohen's kappa.

Each takes (reference, other) pairs of labels: only the samples where both gave one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

Pair = tuple[str, str]


def confusion_matrix(pairs: Sequence[Pair], labels: Sequence[str]) -> list[list[int]]:
    """Counts, rows = the reference's label, columns = the other source's, in ``labels``
    order (which must hold every label of ``pairs``)."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for reference, other in pairs:
        matrix[index[reference]][index[other]] += 1
    return matrix


def accuracy(pairs: Sequence[Pair]) -> float | None:
    """The share of pairs that agree; None without pairs."""
    if not pairs:
        return None
    return sum(reference == other for reference, other in pairs) / len(pairs)


def cohen_kappa(pairs: Sequence[Pair]) -> float | None:
    """Cohen's kappa, (p_o - p_e) / (1 - p_e): the observed agreement p_o beyond the
    agreement p_e expected by chance from each source's own label shares.

    None where it is undefined: no pairs, or p_e = 1 (both sources gave one and the same
    label throughout, so there is nothing to agree on beyond chance).
    """
    if not pairs:
        return None
    total = len(pairs)
    observed = sum(a == b for a, b in pairs) / total
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / total**2
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)
