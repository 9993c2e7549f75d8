"""The distributions of a MERR fine-grained file, ours or the one MERR released.

Both are computed by ``merr_distributions`` from values in the MERR JSON shape (``AU_list``,
``peak_AU_list``, ``pseu_emotion``, ``smp_reason_caption``), so the two columns of the card's
comparison are measured the same way. MERR's numbers are package data
(``knowledge/merr_reference.json``), made by ``scripts/merr_reference_stats.py`` from the
released file.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from merr_factory.knowledge.au import MERR_RULES, au_number
from merr_factory.knowledge.emotions import MERR_LABELS

REFERENCE_FILE = "merr_reference.json"
PERCENTILES = (5, 25, 75, 95)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WordCounts(_Model):
    """Reasoning length in words (whitespace-separated)."""

    texts: int
    min: int
    max: int
    mean: float
    median: float
    percentiles: dict[str, float]  # "p5", "p25", "p75", "p95"
    histogram: dict[int, int]  # words -> texts


class RuleCount(_Model):
    records: int
    within: int


class RuleFit(_Model):
    """How many records' ``AU_list`` lies within the AU rule of their label (MERR_RULES),
    over the labels whose rule is not empty (neutral's is)."""

    records: int
    within: int
    rate: float | None
    by_label: dict[str, RuleCount]


class MerrDistributions(_Model):
    records: int
    au_list_length: dict[int, int]  # AUs in AU_list -> records
    au_list_within_rule: RuleFit
    peak_au_count: dict[int, int]  # AUs in peak_AU_list -> records
    reasoning_words: WordCounts | None
    labels: dict[str, int]
    label_shares: dict[str, float]
    peak_aus_by_label: dict[str, dict[str, int]]  # label -> AU -> records with it at the peak


class ReferenceSource(_Model):
    repository: str
    path: str
    commit: str
    note: str


class MerrReference(_Model):
    """MERR's released fine file, measured: where it came from and its distributions."""

    source: ReferenceSource
    rules_source: str
    rules: dict[str, list[str]]
    script: str
    fine: MerrDistributions


def merr_distributions(values: Iterable[Mapping[str, Any]]) -> MerrDistributions:
    """The distributions of MERR fine-file values (the JSON file's values, in any order)."""
    items = list(values)
    labels = Counter(str(value["pseu_emotion"]) for value in items)
    words = [
        len(str(value["smp_reason_caption"]).split())
        for value in items
        if value.get("smp_reason_caption")
    ]
    return MerrDistributions(
        records=len(items),
        au_list_length=_sorted_counts(len(value["AU_list"]) for value in items),
        au_list_within_rule=rule_fit(items),
        peak_au_count=_sorted_counts(len(value["peak_AU_list"]) for value in items),
        reasoning_words=word_counts(words),
        labels=dict(_label_order(labels)),
        label_shares={label: round(n / len(items), 4) for label, n in _label_order(labels)},
        peak_aus_by_label=_aus_by_label(items),
    )


def rule_fit(items: Sequence[Mapping[str, Any]]) -> RuleFit:
    by_label: dict[str, RuleCount] = {}
    for value in items:
        rule = MERR_RULES.get(str(value["pseu_emotion"]))
        if not rule:
            continue
        count = by_label.setdefault(str(value["pseu_emotion"]), RuleCount(records=0, within=0))
        count.records += 1
        count.within += set(value["AU_list"]) <= set(rule)
    records = sum(count.records for count in by_label.values())
    within = sum(count.within for count in by_label.values())
    return RuleFit(
        records=records,
        within=within,
        rate=round(within / records, 4) if records else None,
        by_label=dict(_label_order(by_label)),
    )


def word_counts(words: Sequence[int]) -> WordCounts | None:
    if not words:
        return None
    ordered = sorted(words)
    return WordCounts(
        texts=len(ordered),
        min=ordered[0],
        max=ordered[-1],
        mean=round(statistics.fmean(ordered), 2),
        median=float(statistics.median(ordered)),
        percentiles={f"p{p}": round(percentile(ordered, p), 2) for p in PERCENTILES},
        histogram=_sorted_counts(ordered),
    )


def percentile(ordered: Sequence[float], p: float) -> float:
    """The p-th percentile of sorted values, interpolated linearly (numpy's default)."""
    position = (len(ordered) - 1) * p / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _aus_by_label(items: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for value in items:
        counts.setdefault(str(value["pseu_emotion"]), Counter()).update(set(value["peak_AU_list"]))
    return {
        label: {au: counter[au] for au in sorted(counter, key=au_number)}
        for label, counter in _label_order(counts)
    }


def _sorted_counts(values: Iterable[int]) -> dict[int, int]:
    return dict(sorted(Counter(values).items()))


def _label_order(counts: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Emotion-LLaMA's nine in their order, then any other label by name."""
    known = [(label, counts[label]) for label in MERR_LABELS if label in counts]
    return known + sorted((k, v) for k, v in counts.items() if k not in MERR_LABELS)


def merr_reference() -> MerrReference:
    """MERR's numbers as kept in the package (``knowledge/merr_reference.json``)."""
    text = resources.files("merr_factory.knowledge").joinpath(REFERENCE_FILE).read_text("utf-8")
    return MerrReference.model_validate_json(text)


def load_released_merr(path: Path) -> dict[str, dict[str, Any]]:
    """MERR_fine_grained.json as a copy online holds it: JSON with ``//`` comments (whole
    lines and after values) and line breaks inside one string; both are read past."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    text = strip_line_comments(path.read_text("utf-8"))
    try:
        data = json.loads(text, strict=False)  # strict=False: line breaks inside strings
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not MERR JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not MERR JSON (expected an object keyed by clip name)")
    return data


def strip_line_comments(text: str) -> str:
    """``text`` without ``//`` comments outside strings (to the end of their line)."""
    out: list[str] = []
    index, in_string, escaped = 0, False, False
    while index < len(text):
        char = text[index]
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif text.startswith("//", index):
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
            continue
        else:
            in_string = char == '"'
            out.append(char)
        index += 1
    return "".join(out)
