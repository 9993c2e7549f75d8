"""What people's review says about the dataset and about every automatic source, from the
export entries' ``human`` (the label stage's ``HumanReview``):

- agreement between annotators: Cohen's kappa for each two, Fleiss' kappa when there are
  three or more (over the samples all of them judged), and the samples they disagree on; a
  verdict is its label, or ``rejected``;
- each automatic source (the CSV label, every voter of the label stage, and ``pipeline``:
  the label the pipeline chose before the review) against the human label: accuracy and
  the confusion matrix (rows: the human label);
- the dataset's precision from the random audit: of the samples judged in an audit (a
  seeded uniform sample of one population, e.g. ``tier=fine``), the share a person accepted
  with the pipeline's label, with its 95% Wilson interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations

from pydantic import BaseModel, ConfigDict

from merr_factory.dataset.entry import ExportEntry
from merr_factory.quality.agreement import (
    Pair,
    accuracy,
    cohen_kappa,
    confusion_matrix,
    fleiss_kappa,
    wilson_interval,
)
from merr_factory.stage_data import AnnotatorVerdict, HumanReview

REJECTED = "rejected"  # a rejection, as an annotator's category for agreement
PIPELINE = "pipeline"  # the pipeline's own label, before the review


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnnotatorKappa(_Model):
    first: str
    second: str
    compared: int  # samples both judged
    observed: float | None
    kappa: float | None


class Disagreement(_Model):
    sample_id: str
    verdicts: dict[str, str]  # annotator -> label or "rejected"


class HumanAgreement(_Model):
    """One automatic source against the human labels."""

    source: str
    reference_samples: int  # samples with a human label
    compared: int  # of those, the source gave a label
    correct: int
    accuracy: float | None
    labels: list[str]
    confusion: list[list[int]]  # rows: the human label; columns: the source's


class AuditPrecision(_Model):
    population: str  # what was sampled ("tier=fine", "all")
    audited: int
    correct: int  # accepted with the pipeline's label
    precision: float | None
    low: float | None  # the 95% Wilson interval
    high: float | None


class HumanQuality(_Model):
    annotators: list[str]
    reviewed: int  # samples with at least one verdict
    kappa: list[AnnotatorKappa]
    fleiss_kappa: float | None  # three or more annotators
    fleiss_samples: int  # the samples all of them judged
    disagreements: list[Disagreement]
    sources: list[HumanAgreement]
    audit: list[AuditPrecision]


def human_quality(entries: Sequence[ExportEntry], sources: Sequence[str]) -> HumanQuality | None:
    """The numbers of people's review; None when nobody gave a verdict. ``sources``: the
    label stage's voters (the CSV first)."""
    reviewed = [
        (entry, entry.human)
        for entry in entries
        if entry.human is not None and entry.human.annotators
    ]
    if not reviewed:
        return None
    annotators = sorted({name for _, human in reviewed for name in human.annotators})
    verdicts = [(entry.sample_id, _verdicts(human.annotators)) for entry, human in reviewed]
    everyone = [list(v.values()) for _, v in verdicts if len(v) == len(annotators)]
    several = len(annotators) >= 3
    return HumanQuality(
        annotators=annotators,
        reviewed=len(reviewed),
        kappa=[_pair(verdicts, first, second) for first, second in combinations(annotators, 2)],
        fleiss_kappa=_rounded(fleiss_kappa(everyone)) if several else None,
        fleiss_samples=len(everyone) if several else 0,
        disagreements=[
            Disagreement(sample_id=sample, verdicts=v)
            for sample, v in verdicts
            if len(set(v.values())) > 1
        ],
        sources=[_against_people(reviewed, source) for source in [*sources, PIPELINE]],
        audit=_audit(reviewed),
    )


def _verdicts(annotators: dict[str, AnnotatorVerdict]) -> dict[str, str]:
    return {
        name: (verdict.label or REJECTED) if verdict.verdict == "accept" else REJECTED
        for name, verdict in annotators.items()
        if verdict.verdict is not None
    }


def _pair(verdicts: list[tuple[str, dict[str, str]]], first: str, second: str) -> AnnotatorKappa:
    pairs: list[Pair] = [(v[first], v[second]) for _, v in verdicts if first in v and second in v]
    return AnnotatorKappa(
        first=first,
        second=second,
        compared=len(pairs),
        observed=_rounded(accuracy(pairs)),
        kappa=_rounded(cohen_kappa(pairs)),
    )


def _source_label(entry: ExportEntry, human: HumanReview, source: str) -> str | None:
    if source == PIPELINE:
        return human.machine_label
    if source == "csv":
        return entry.ingest_label
    return entry.votes.get(source)


def _against_people(reviewed: list[tuple[ExportEntry, HumanReview]], source: str) -> HumanAgreement:
    labelled = [(entry, human) for entry, human in reviewed if _human_label(human)]
    pairs: list[Pair] = [
        (str(_human_label(human)), answer)
        for entry, human in labelled
        if (answer := _source_label(entry, human, source)) is not None
    ]
    labels = sorted({label for pair in pairs for label in pair})
    share = accuracy(pairs)
    return HumanAgreement(
        source=source,
        reference_samples=len(labelled),
        compared=len(pairs),
        correct=sum(a == b for a, b in pairs),
        accuracy=_rounded(share),
        labels=labels,
        confusion=confusion_matrix(pairs, labels),
    )


def _human_label(human: HumanReview) -> str | None:
    return human.label if human.verdict == "accept" else None


def _audit(reviewed: list[tuple[ExportEntry, HumanReview]]) -> list[AuditPrecision]:
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for _, human in reviewed:
        audits = [v.audit for v in human.annotators.values() if v.audit]
        if audits and human.verdict is not None:
            right = human.verdict == "accept" and human.label == human.machine_label
            outcomes[audits[0]].append(right)
    result = []
    for population, results in sorted(outcomes.items()):
        correct, audited = sum(results), len(results)
        interval = wilson_interval(correct, audited)
        result.append(
            AuditPrecision(
                population=population,
                audited=audited,
                correct=correct,
                precision=_rounded(correct / audited),
                low=_rounded(interval[0]) if interval else None,
                high=_rounded(interval[1]) if interval else None,
            )
        )
    return result


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
