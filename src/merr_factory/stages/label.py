"""label: the pseudo-label, the AU-rule check and the tier (coarse / fine / rejected), with
every reason a sample is not fine or is rejected.

- pseudo-label: the first of ``sources`` that gives one: the label CSV, the AU rule, the
  LLM's open prediction, the face's expression model (``face_expression``: the clip's most
  probable class, when the label set has it), or the agreement of several of those;
- coarse: the AU rule agrees with the label (MERR's filter);
- fine: coarse, plus the LLM's open prediction agrees, plus the reasoning is not a near
  duplicate of an earlier sample's, plus optional neutral down-sampling;
- a curation CSV edited by a person overrides the tier (and may correct the label);
- then people's review decisions (``merr-build review``, ``curation/review_log.py``) do the
  same, and their edited texts ride along in ``LabelData.human`` for the export.
A label outside the run's label set (e.g. disgust) is rejected by rule, never exported.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from merr_factory.curation.decisions import (
    CurationError,
    CurationRow,
    CurationTable,
    read_curation_csv,
)
from merr_factory.curation.dedup import Deduplication
from merr_factory.curation.gates import reasoning_problems
from merr_factory.curation.review_log import ReviewSet, read_reviews
from merr_factory.inputs.discovery import SampleSource
from merr_factory.inputs.labels import LabelRow
from merr_factory.llm.cues import Cues
from merr_factory.run.store import Store
from merr_factory.stage_data import HumanReview, IngestData, LabelData, Reason, SynthesizeData
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings

log = logging.getLogger(__name__)

Source = Literal["csv", "au_rule", "llm", "face_expression", "agreement"]
Voter = Literal["csv", "au_rule", "llm", "face_expression"]


class LabelSettings(StageSettings):
    sources: list[Source] = Field(
        default_factory=lambda: ["csv", "agreement"],
        min_length=1,
        description="where the pseudo-label comes from; the first that gives one wins",
    )
    agreement_of: list[Voter] = Field(default_factory=lambda: ["au_rule", "llm"], min_length=1)
    min_agree: int = Field(default=2, ge=1, description="votes the agreed label needs")
    min_rule_aus: int = Field(
        default=1, ge=1, description="AUs of the label's rule active at the peak for agreement"
    )
    fine_llm_check: Literal["open_prediction", "judge", "either", "none"] = Field(
        default="open_prediction",
        description="fine needs the LLM's open prediction to agree, the judge to accept, "
        "either of them, or neither",
    )
    fine_requires_reasoning: bool = True
    reasoning_min_words: int = Field(
        default=12, ge=0, description="a shorter reasoning is not fine (MERR's run 12-79 words)"
    )
    reasoning_max_words: int = Field(
        default=79, ge=1, description="a longer reasoning is not fine (MERR's run 12-79 words)"
    )
    reasoning_max_quoted: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="a reasoning more than this share of whose words quote the transcript "
        "(runs of 3+ words) is not a reasoning; a bare label or a question never is",
    )
    deduplicate: bool = Field(default=True, description="near-identical reasoning is not fine")
    duplicate_similarity: float = Field(
        default=0.85,
        ge=0.6,  # the candidate search is tuned for high similarity (near_duplicates.py)
        le=1,
        description="word 3-gram Jaccard similarity at which two reasonings count as one",
    )
    neutral_keep_fraction: float = Field(
        default=1.0, ge=0, le=1, description="share of neutral samples kept in the fine tier"
    )
    curation_csv: Path | None = Field(default=None, description="decisions made by a person")

    @field_validator("curation_csv")
    @classmethod
    def _curation_file_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"{path} is not a file")
        return path


class LabelStage(Stage[LabelSettings]):
    name = "label"
    summary = "Pseudo-labels, the AU-rule check and the coarse / fine / rejected tiers."
    settings_model = LabelSettings
    output_model = LabelData
    requires = ("synthesize",)
    version = "1"

    def __init__(self, settings: LabelSettings, facts: RunFacts) -> None:
        super().__init__(settings, facts)
        self._lock = threading.Lock()
        self._curation: CurationTable | None = None
        self._curation_error: CurationError | None = None
        self._store: Store | None = None
        self._reviews: ReviewSet | None = None

    # -- per-sample inputs that live outside the upstream records --------------------------
    def source_identity(self, source: SampleSource, label: LabelRow | None) -> Any:
        """The curation row and the review of this sample: editing one row or reviewing one
        sample recomputes that sample only."""
        try:
            row = self.curation_row(source.id)
        except CurationError as error:
            return {"curation_error": str(error)}  # fixed file: a new fingerprint, recomputed
        curated = None if row is None else [row.accept or None, _curated_label(row)]
        review = self.review(source.id)
        if review is None:
            return curated  # None: empty
        return {"curation": curated, "review": review.model_dump(mode="json")}

    def review(self, sample_id: str) -> HumanReview | None:
        """People's decisions on this sample (``merr-build review``); None: none yet."""
        folder = self.facts.review_folder
        if folder is None:
            return None
        with self._lock:
            if self._reviews is None:
                self._reviews = read_reviews(folder)
                for problem in self._reviews.problems:
                    log.warning("%s", problem)
        return self._reviews.resolved(sample_id)

    def curation_row(self, sample_id: str) -> CurationRow | None:
        """This sample's row of the curation CSV; CurationError when the file is unusable."""
        if self.settings.curation_csv is None:
            return None
        with self._lock:
            if self._curation is None and self._curation_error is None:
                try:
                    self._curation = read_curation_csv(self.settings.curation_csv)
                except CurationError as error:
                    self._curation_error = error
                    log.error("%s", error)
                else:
                    for problem in self._curation.problems:
                        log.warning("%s", problem)
        if self._curation_error is not None:
            raise self._curation_error
        assert self._curation is not None
        return self._curation.rows.get(sample_id)

    def whole_set_step(self) -> Deduplication | None:
        if not self.settings.deduplicate:
            return None
        return Deduplication(self.settings.duplicate_similarity)

    # -- the decision ------------------------------------------------------------------------
    def process(self, sample: SampleContext) -> StageResult:
        cues = Cues.of(sample)
        ingest = sample.input(IngestData)
        synth = sample.input(SynthesizeData)
        votes = self._votes(cues, synth)
        label, label_source = self._pseudo_label(votes)
        reasons: list[Reason] = []
        rule_agrees = self._rule_agrees(cues, label, reasons)
        llm_agrees = (
            None if synth.open_label is None or label is None else synth.open_label == label
        )
        if ingest.label_status == "outside_label_set":
            reasons.insert(0, _outside(ingest.label, ingest.excluded))
            label, label_source = None, None
        elif label is None:
            reasons.insert(0, Reason(code="no_label", message=_no_label_message(votes)))
        data = LabelData(
            label=label,
            label_source=label_source,
            valence=ingest.valence,
            tier="rejected",
            reasons=reasons,
            au_rule_agrees=rule_agrees,
            llm_agrees=llm_agrees,
            votes=dict(votes),
        )
        if label is not None and rule_agrees:
            data.tier = "coarse"
            data.duplicate_of = self._fine_checks(sample, synth, data, cues)
        self._apply_curation(sample.source.id, data)
        self._apply_review(sample.source.id, data)
        return StageResult(data=data)

    def _votes(self, cues: Cues, synth: SynthesizeData) -> dict[str, str | None]:
        label_set = self.facts.label_set
        open_label = synth.open_label if synth.open_label in label_set else None
        return {
            "csv": cues.csv_label(label_set),
            "au_rule": cues.au_rule_label(label_set),
            "llm": open_label,
            "face_expression": cues.face_expression_label(label_set),
        }

    def _pseudo_label(self, votes: dict[str, str | None]) -> tuple[str | None, Source | None]:
        for source in self.settings.sources:
            label = self._agreed(votes) if source == "agreement" else votes[source]
            if label is not None:
                return label, source
        return None, None

    def _agreed(self, votes: dict[str, str | None]) -> str | None:
        counts = Counter(votes[v] for v in self.settings.agreement_of if votes[v] is not None)
        ranked = counts.most_common(2)
        if not ranked or ranked[0][1] < self.settings.min_agree:
            return None
        if len(ranked) == 2 and ranked[1][1] == ranked[0][1]:
            return None  # a tie is no agreement
        return ranked[0][0]

    def _rule_agrees(self, cues: Cues, label: str | None, reasons: list[Reason]) -> bool:
        visual = cues.visual
        if visual is None or (visual.peak_index is None and not visual.peak_AU_list):
            reasons.append(Reason(code="no_au_data", message="no face or Action Units analysed"))
            return False
        if label is None:
            return False
        if label == "neutral":
            return True  # MERR's neutral rule is empty: nothing to contradict
        support = visual.rule_support.get(label, [])
        if len(support) >= self.settings.min_rule_aus:
            return True
        active = ", ".join(visual.peak_AU_list) or "none"
        reasons.append(
            Reason(
                code="au_rule_disagrees",
                message=f"no AU of the {label} rule is active at the peak (active: {active})",
            )
        )
        return False

    def _fine_checks(
        self, sample: SampleContext, synth: SynthesizeData, data: LabelData, cues: Cues
    ) -> str | None:
        """Add the reasons the sample is not fine; make it fine when there are none."""
        settings = self.settings
        reasons: list[Reason] = []
        if settings.fine_requires_reasoning and not synth.smp_reason_caption:
            reasons.append(Reason(code="no_reasoning", message="no fine reasoning"))
        elif synth.smp_reason_caption:
            said = (cues.asr.text_en or cues.asr.text) if cues.asr else ""
            reasons += reasoning_problems(
                synth.smp_reason_caption,
                self.facts.label_set,
                said,
                settings.reasoning_min_words,
                settings.reasoning_max_words,
                settings.reasoning_max_quoted,
            )
        reasons += self._llm_check(synth, data)
        duplicate = None
        if settings.deduplicate:
            duplicate = sample.whole_set.get(Deduplication.name)  # see dedup.py
            if duplicate:
                message = f"reasoning repeats that of {duplicate}"
                reasons.append(Reason(code="duplicate", message=message))
        if data.label == "neutral" and not _kept(sample.source.id, settings.neutral_keep_fraction):
            message = f"neutral down-sampled (keep fraction {settings.neutral_keep_fraction})"
            reasons.append(Reason(code="neutral_downsampled", message=message))
        data.reasons += reasons
        if not reasons:
            data.tier = "fine"
        return duplicate

    def _llm_check(self, synth: SynthesizeData, data: LabelData) -> list[Reason]:
        """Why the LLM does not back the label, per ``fine_llm_check`` ([] when it does)."""
        check = self.settings.fine_llm_check
        if check == "none":
            return []
        prediction: list[Reason] = []
        if synth.open_label is None:
            prediction.append(Reason(code="no_llm_prediction", message="no open LLM prediction"))
        elif not data.llm_agrees:
            message = f"the LLM predicted {synth.open_label}, not {data.label}"
            prediction.append(Reason(code="llm_disagrees", message=message))
        judge: list[Reason] = []
        if synth.judge_accepts is None:
            judge.append(Reason(code="no_judge", message="no LLM judge verdict"))
        elif not synth.judge_accepts:
            judge.append(
                Reason(code="judge_rejects", message="the LLM judge rejected the reasoning")
            )
        if check == "open_prediction":
            return prediction
        if check == "judge":
            return judge
        return [] if not prediction or not judge else prediction + judge

    def _apply_curation(self, sample_id: str, data: LabelData) -> None:
        row = self.curation_row(sample_id)
        if row is None:
            return
        label = _curated_label(row)
        if label and label != data.label:
            if label in self.facts.label_set:
                data.label, data.label_source = label, "curation"
            else:
                message = f"curation label {label!r} is outside the label set; ignored"
                data.reasons.append(Reason(code="curation_label_invalid", message=message))
        if row.accept == "no":
            data.tier = "rejected"
            data.reasons.append(Reason(code="curated_out", message="rejected by a person"))
        elif row.accept == "yes" and data.label is not None:
            data.tier = "fine"

    def _apply_review(self, sample_id: str, data: LabelData) -> None:
        """A person's label wins, a rejection takes the sample out, an accept makes it fine."""
        review = self.review(sample_id)
        if review is None:
            return
        data.human = review.model_copy(update={"machine_label": data.label})
        if review.label and review.label != data.label:
            if review.label in self.facts.label_set:
                data.label, data.label_source = review.label, "human"
            else:
                message = f"reviewed label {review.label!r} is outside the label set; ignored"
                data.reasons.append(Reason(code="human_label_invalid", message=message))
        who = ", ".join(review.annotators) or "a person"
        if review.verdict == "reject":
            data.tier = "rejected"
            data.reasons.append(Reason(code="human_rejected", message=f"rejected by {who}"))
        elif review.verdict == "accept" and data.label is not None:
            data.tier = "fine"


def _curated_label(row: CurationRow) -> str | None:
    """The row's label as the label set spells it (lower case); None when left empty."""
    return row.label.lower() or None


def _outside(label: str | None, excluded: str | None = None) -> Reason:
    message = excluded or f"label {label!r} is outside the run's label set"
    return Reason(code="outside_label_set", message=f"{message}; rejected by rule")


def _no_label_message(votes: dict[str, str | None]) -> str:
    given = ", ".join(f"{name}={value}" for name, value in votes.items() if value) or "none"
    return f"no pseudo-label from the configured sources (votes: {given})"


def _kept(sample_id: str, fraction: float) -> bool:
    """A stable pseudo-random choice per sample: the same samples are kept on every run."""
    if fraction >= 1:
        return True
    draw = int(hashlib.sha256(sample_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return draw < fraction
