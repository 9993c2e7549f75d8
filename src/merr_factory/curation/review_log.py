"""A person's review decisions: one append-only JSONL file per annotator,
``<output>/review/<annotator>.jsonl``, each line one :class:`Decision`, flushed and fsynced
before the next is accepted (a crash loses nothing that was acknowledged).

A decision is an event: ``accept`` (the label shown is right), ``reject`` (the sample leaves
the dataset), ``relabel`` (the right label is ``label``), ``edit`` (a corrected ``reasoning``
or ``transcript``) and ``undo`` (takes back the decision numbered ``undoes``). Reading folds
the events per sample, last wins: :func:`fold` gives one :class:`SampleReview` per sample and
annotator, :func:`resolve` one :class:`~merr_factory.stage_data.HumanReview` per sample over
all annotators (the latest verdict and the latest edit of each text win; every annotator's
own verdict is kept, for agreement).

These are the decisions ``curation.csv`` carries (accept yes/no, a corrected label) plus the
edited texts; the label stage applies them after the CSV's.

A line that cannot be read (the torn last line of a crash, a hand edit) is reported in
``problems`` as ``<file>:<line>: <why>`` and skipped.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from merr_factory.stage_data import AnnotatorVerdict, HumanReview

REVIEW_DIR = "review"  # under the run's output folder
LOG_SUFFIX = ".jsonl"
ANNOTATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

Action = Literal["accept", "reject", "relabel", "edit", "undo"]
Verdict = Literal["accept", "reject"]


class ReviewLogError(ValueError):
    """A decision or annotator name that cannot be taken; the message says why."""


class Decision(BaseModel):
    """One line of an annotator's log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int  # 1, 2, ... within the annotator's file
    at: str  # ISO 8601 UTC time it was made
    annotator: str
    sample_id: str
    action: Action
    label: str | None = None  # accept: the label confirmed; relabel: the right one
    reasoning: str | None = None  # edit: the corrected text
    transcript: str | None = None
    undoes: int | None = None  # undo: the seq taken back
    audit: str | None = None  # made in a random audit of this population ("tier=fine")

    @model_validator(mode="after")
    def _complete(self) -> Decision:
        if self.action == "relabel" and not self.label:
            raise ValueError("relabel needs a label")
        if self.action == "edit" and self.reasoning is None and self.transcript is None:
            raise ValueError("edit needs a reasoning or a transcript")
        if self.action == "undo" and self.undoes is None:
            raise ValueError("undo needs the seq it undoes")
        return self


@dataclass
class SampleReview:
    """One annotator's standing on one sample after folding their decisions."""

    verdict: Verdict | None = None
    label: str | None = None
    reasoning: str | None = None
    transcript: str | None = None
    audit: str | None = None
    at: str = ""  # the latest decision's time


@dataclass
class ReviewSet:
    """Every annotator's folded decisions: annotator -> sample id -> review."""

    by_annotator: dict[str, dict[str, SampleReview]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def resolved(self, sample_id: str) -> HumanReview | None:
        reviews = {
            name: reviews[sample_id]
            for name, reviews in self.by_annotator.items()
            if sample_id in reviews
        }
        return resolve(reviews)

    def sample_ids(self) -> set[str]:
        return {sample for reviews in self.by_annotator.values() for sample in reviews}


def check_annotator(name: str) -> str:
    """``name`` if it can be a file name (letters, digits, ``_.-``), else ReviewLogError."""
    if not ANNOTATOR_NAME.match(name):
        raise ReviewLogError(
            f"annotator {name!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )
    return name


def log_path(folder: Path, annotator: str) -> Path:
    return folder / f"{check_annotator(annotator)}{LOG_SUFFIX}"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# -- reading ----------------------------------------------------------------------------------
def read_log(path: Path, problems: list[str] | None = None) -> list[Decision]:
    """The decisions of one file, in file order; unreadable lines go to ``problems``."""
    decisions: list[Decision] = []
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return decisions
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            decisions.append(Decision.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as error:
            why = "not JSON" if isinstance(error, json.JSONDecodeError) else _first_error(error)
            if problems is not None:
                problems.append(f"{path}:{number}: {why}; line skipped")
    return decisions


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def effective(decisions: Iterable[Decision]) -> list[Decision]:
    """The decisions still standing: undos and what they undid removed."""
    ordered = list(decisions)
    undone = {decision.undoes for decision in ordered if decision.action == "undo"}
    return [d for d in ordered if d.action != "undo" and d.seq not in undone]


def fold(decisions: Iterable[Decision]) -> dict[str, SampleReview]:
    """Per sample, the standing of one annotator's decisions (last wins, undos applied)."""
    reviews: dict[str, SampleReview] = {}
    for decision in sorted(effective(decisions), key=lambda d: d.seq):
        review = reviews.setdefault(decision.sample_id, SampleReview())
        review.at = decision.at
        if decision.action == "edit":
            if decision.reasoning is not None:
                review.reasoning = decision.reasoning
            if decision.transcript is not None:
                review.transcript = decision.transcript
            continue
        review.verdict = "reject" if decision.action == "reject" else "accept"
        review.label = None if decision.action == "reject" else decision.label
        review.audit = decision.audit
    return reviews


def read_reviews(folder: Path) -> ReviewSet:
    """Every ``<annotator>.jsonl`` of ``folder`` (none yet: an empty set)."""
    result = ReviewSet()
    if not folder.is_dir():
        return result
    for path in sorted(folder.glob(f"*{LOG_SUFFIX}")):
        annotator = path.name[: -len(LOG_SUFFIX)]
        if not ANNOTATOR_NAME.match(annotator):
            result.problems.append(f"{path}: not an annotator's name; file skipped")
            continue
        reviews = fold(read_log(path, result.problems))
        if reviews:
            result.by_annotator[annotator] = reviews
    return result


def resolve(reviews: dict[str, SampleReview]) -> HumanReview | None:
    """One sample's decision over all annotators: the latest verdict and the latest edit of
    each text win; each annotator's own verdict is kept. None when nobody decided anything."""
    if not reviews:
        return None
    latest = sorted(reviews.items(), key=lambda item: item[1].at, reverse=True)
    verdict = next((review for _, review in latest if review.verdict), None)
    return HumanReview(
        verdict=verdict.verdict if verdict else None,
        label=verdict.label if verdict else None,
        reasoning=next((r.reasoning for _, r in latest if r.reasoning is not None), None),
        transcript=next((r.transcript for _, r in latest if r.transcript is not None), None),
        annotators={
            name: AnnotatorVerdict(verdict=review.verdict, label=review.label, audit=review.audit)
            for name, review in sorted(reviews.items())
            if review.verdict is not None
        },
    )


# -- writing ----------------------------------------------------------------------------------
class DecisionLog:
    """An annotator's log, open for appending: every ``append`` is on disk when it returns."""

    def __init__(self, folder: Path, annotator: str) -> None:
        self.annotator = check_annotator(annotator)
        self.path = log_path(folder, annotator)
        self.problems: list[str] = []
        self.decisions = read_log(self.path, self.problems)
        self._lock = threading.Lock()
        self._torn = _ends_torn(self.path)  # a crash cut the last line: start a fresh one

    def reviews(self) -> dict[str, SampleReview]:
        with self._lock:
            return fold(self.decisions)

    def append(self, sample_id: str, action: Action, **fields: str | int | None) -> Decision:
        """Write one decision and fsync it; ReviewLogError when it is incomplete."""
        with self._lock:
            seq = max((decision.seq for decision in self.decisions), default=0) + 1
            try:
                decision = Decision(
                    seq=seq,
                    at=now(),
                    annotator=self.annotator,
                    sample_id=sample_id,
                    action=action,
                    **fields,  # type: ignore[arg-type]
                )
            except ValidationError as error:
                raise ReviewLogError(f"{action}: {_first_error(error)}") from None
            self._write(decision.model_dump_json(exclude_none=True) + "\n")
            self.decisions.append(decision)
            return decision

    def undo(self) -> Decision | None:
        """Take back the latest decision still standing; None when there is none."""
        with self._lock:
            standing = effective(self.decisions)
        if not standing:
            return None
        last = max(standing, key=lambda decision: decision.seq)
        self.append(last.sample_id, "undo", undoes=last.seq)
        return last

    def _write(self, line: str) -> None:
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("\n" + line if self._torn else line)
            handle.flush()
            os.fsync(handle.fileno())
        self._torn = False
        if new:  # the file's name is on disk too
            descriptor = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)


def _ends_torn(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except FileNotFoundError:
        return False
