"""Agreement between label sources: accuracy, the confusion matrix, Cohen's kappa (two),
Fleiss' kappa (several raters), and the Wilson interval of a proportion.

Each takes (reference, other) pairs of labels: only the samples where both gave one.
"""

from __future__ import annotations

import math
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


def fleiss_kappa(ratings: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' kappa over subjects each rated by the same number (2 or more) of raters:
    (P - P_e) / (1 - P_e), P the mean agreement within a subject and P_e the agreement
    expected from the categories' overall shares. None without subjects or where P_e = 1."""
    if not ratings:
        return None
    raters = len(ratings[0])
    if raters < 2 or any(len(subject) != raters for subject in ratings):
        raise ValueError("Fleiss' kappa needs the same number (2 or more) of ratings per subject")
    totals: Counter[str] = Counter()
    agreement = 0.0
    for subject in ratings:
        counts = Counter(subject)
        totals.update(counts)
        agreement += (sum(n * n for n in counts.values()) - raters) / (raters * (raters - 1))
    observed = agreement / len(ratings)
    expected = sum((n / (len(ratings) * raters)) ** 2 for n in totals.values())
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% with the default ``z``); None without
    trials. Unlike p +- z*se it stays inside [0, 1] and is honest for small samples."""
    if trials <= 0:
        return None
    share = successes / trials
    scale = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / scale
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)
