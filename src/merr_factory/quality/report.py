"""The quality report: one ``QualityReport`` computed from the export entries.

- Label sources against the CSV label: for the samples with a CSV label, each vote the label
  stage recorded (``LabelData.votes``: the AU rule, the LLM's open prediction, any other
  voter) gives accuracy and a confusion matrix; the tone word is compared by valence
  (``knowledge.emotions``: the tone's valence against the CSV label's).
- Cohen's kappa between every two sources, the CSV label included.
- The reasoning's grounding (``grounding.py``).
- Our MERR fine file's distributions beside those of MERR's released one
  (``distributions.py``), and which AUs are active at the peak per label.
- People's review, when there is one (``human.py``): the annotators' agreement, every
  automatic source against the human labels, the precision from the random audit.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from merr_factory.curation.gates import GATE_CODES
from merr_factory.dataset.entry import ExportEntry
from merr_factory.dataset.merr import MerrSets, merr_value
from merr_factory.knowledge.au import au_number
from merr_factory.knowledge.emotions import LABEL_VALENCE, MERR_LABELS, TONE_VALENCE, VALENCES
from merr_factory.quality.agreement import Pair, accuracy, cohen_kappa, confusion_matrix
from merr_factory.quality.asr_wer import AsrWer, word_error_rates
from merr_factory.quality.distributions import (
    MerrDistributions,
    MerrReference,
    merr_distributions,
    merr_reference,
)
from merr_factory.quality.grounding import Grounding, ReasoningFacts, grounding
from merr_factory.quality.human import HumanQuality, human_quality

QUALITY_FILE = "quality.json"
CSV = "csv"
TONE_VALENCE_SOURCE = "tone_valence"
VOTE_ORDER = ("au_rule", "face_expression", "llm")  # known voters first, then any other


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceAgreement(_Model):
    """One label source against the CSV label."""

    source: str
    space: Literal["label", "valence"]
    reference_samples: int  # samples with a CSV label (with a valence, for "valence")
    compared: int  # of those, the source gave an answer
    correct: int
    accuracy: float | None  # correct / compared
    labels: list[str]  # the confusion matrix's row and column order
    confusion: list[list[int]]  # rows: the CSV label; columns: the source's


class PairKappa(_Model):
    first: str
    second: str
    compared: int  # samples where both gave a label
    observed: float | None  # the share that agree
    kappa: float | None  # Cohen's kappa; None where undefined (see agreement.cohen_kappa)


class CoOccurrence(_Model):
    """Per label, how many samples (with a peak) have each AU active at the peak."""

    samples: dict[str, int]
    counts: dict[str, dict[str, int]]


class QualityReport(_Model):
    samples: int  # export entries evaluated
    csv_labelled: int
    agreement: list[SourceAgreement]
    kappa: list[PairKappa]
    grounding: Grounding
    au_by_label: CoOccurrence  # every labelled sample with a peak
    fine: MerrDistributions  # our MERR fine file
    merr: MerrReference  # MERR's released fine file
    # The ASR model against the dataset's given transcripts, per language (none given: empty).
    asr_wer: list[AsrWer] = Field(default_factory=list)
    # Samples each quality gate stopped (curation/gates.py), by the gate's reason code.
    gates: dict[str, int] = Field(default_factory=dict)
    # People's review (merr-build review); None: nobody gave a verdict yet.
    human: HumanQuality | None = None


def build_quality(entries: Sequence[ExportEntry], sets: MerrSets) -> QualityReport:
    """The report for ``entries``; ``sets`` is their MERR selection (``select_merr``)."""
    entries = sorted(entries, key=lambda entry: entry.sample_id)
    sources = vote_sources(entries)
    return QualityReport(
        samples=len(entries),
        csv_labelled=sum(entry.ingest_label is not None for entry in entries),
        agreement=[label_agreement(entries, source) for source in sources]
        + [tone_agreement(entries)],
        kappa=kappas(entries, [CSV, *sources]),
        grounding=grounding([reasoning_facts(entry) for entry in entries]),
        au_by_label=au_by_label(entries),
        fine=merr_distributions(merr_value(entry, fine=True) for entry in sets.fine),
        merr=merr_reference(),
        asr_wer=word_error_rates(entries),
        gates=gate_counts(entries),
        human=human_quality(entries, [CSV, *sources]),
    )


def gate_counts(entries: Iterable[ExportEntry]) -> dict[str, int]:
    """Per gate, the samples it stopped (a sample counts once per gate)."""
    counts = dict.fromkeys(GATE_CODES, 0)
    for entry in entries:
        for code in {reason.code for reason in [*entry.reasons, *entry.transcript_unreliable]}:
            if code in counts:
                counts[code] += 1
    return counts


def quality_json(report: QualityReport) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=1, ensure_ascii=False) + "\n"


def vote_sources(entries: Iterable[ExportEntry]) -> list[str]:
    """The label stage's voters other than the CSV, known ones first."""
    found = {source for entry in entries for source in entry.votes if source != CSV}
    known = [source for source in VOTE_ORDER if source in found]
    return known + sorted(found - set(VOTE_ORDER))


def answers(entry: ExportEntry, source: str) -> str | None:
    """What ``source`` says about the sample (the CSV: its label as given)."""
    return entry.ingest_label if source == CSV else entry.votes.get(source)


def label_agreement(entries: Sequence[ExportEntry], source: str) -> SourceAgreement:
    labelled = [entry for entry in entries if entry.ingest_label is not None]
    pairs: list[Pair] = [
        (entry.ingest_label, answer)
        for entry in labelled
        if entry.ingest_label is not None and (answer := answers(entry, source)) is not None
    ]
    return _agreement(source, "label", len(labelled), pairs, label_order(_labels_of(pairs)))


def tone_agreement(entries: Sequence[ExportEntry]) -> SourceAgreement:
    """The tone word's valence against the CSV label's (samples whose label has one)."""
    references = [
        (entry, valence)
        for entry in entries
        if entry.ingest_label is not None
        and (valence := LABEL_VALENCE.get(entry.ingest_label)) is not None
    ]
    pairs: list[Pair] = [
        (valence, tone_valence)
        for entry, valence in references
        if entry.tone is not None and (tone_valence := TONE_VALENCE.get(entry.tone)) is not None
    ]
    return _agreement(TONE_VALENCE_SOURCE, "valence", len(references), pairs, list(VALENCES))


def _agreement(
    source: str,
    space: Literal["label", "valence"],
    references: int,
    pairs: list[Pair],
    labels: list[str],
) -> SourceAgreement:
    share = accuracy(pairs)
    return SourceAgreement(
        source=source,
        space=space,
        reference_samples=references,
        compared=len(pairs),
        correct=sum(a == b for a, b in pairs),
        accuracy=_rounded(share),
        labels=labels,
        confusion=confusion_matrix(pairs, labels),
    )


def kappas(entries: Sequence[ExportEntry], sources: Sequence[str]) -> list[PairKappa]:
    result = []
    for first, second in combinations(sources, 2):
        pairs: list[Pair] = [
            (a, b)
            for entry in entries
            if (a := answers(entry, first)) is not None
            and (b := answers(entry, second)) is not None
        ]
        result.append(
            PairKappa(
                first=first,
                second=second,
                compared=len(pairs),
                observed=_rounded(accuracy(pairs)),
                kappa=_rounded(cohen_kappa(pairs)),
            )
        )
    return result


def reasoning_facts(entry: ExportEntry) -> ReasoningFacts:
    return ReasoningFacts(
        sample_id=entry.sample_id,
        text=entry.smp_reason_caption or "",
        has_face=entry.peak_index is not None,
        has_tone=bool(entry.audio_prior),
        transcript=entry.subtitle,
        face_phrases=tuple(entry.visual_prior_list),
    )


def au_by_label(entries: Sequence[ExportEntry]) -> CoOccurrence:
    samples: Counter[str] = Counter()
    counts: dict[str, Counter[str]] = {}
    for entry in entries:
        if entry.label is None or entry.peak_index is None:
            continue
        samples[entry.label] += 1
        counts.setdefault(entry.label, Counter()).update(set(entry.peak_AU_list))
    labels = label_order(samples)
    return CoOccurrence(
        samples={label: samples[label] for label in labels},
        counts={
            label: {au: counts[label][au] for au in sorted(counts[label], key=au_number)}
            for label in labels
        },
    )


def source_name(agreement: SourceAgreement) -> str:
    """How tables and plots name a source."""
    return "tone word (valence)" if agreement.source == TONE_VALENCE_SOURCE else agreement.source


def label_order(labels: Iterable[str]) -> list[str]:
    """Emotion-LLaMA's nine in their order, then any other label by name."""
    found = set(labels)
    return [label for label in MERR_LABELS if label in found] + sorted(found - set(MERR_LABELS))


def _labels_of(pairs: Iterable[Pair]) -> set[str]:
    return {label for pair in pairs for label in pair}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
