"""Deciding, per (stage, sample), whether the stored output is current.

A stored record is current when it verifies (see ``Store.load``) and its fingerprint equals
the one expected today: a digest of the stage's identity (code version, settings, backend),
the raw input it reads directly, and the content hashes of all its upstream records (the
stages it requires, and theirs, transitively: a stage may read any of them).
Keying on upstream *content* means a change upstream recomputes what follows only when it
changed what the next stage sees.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .atomic import canonical_json
from .discovery import SampleSource
from .folders import Signature
from .labels import LabelRow
from .records import Record, RecordHead, digest
from .stages.base import Stage
from .store import Store
from .whole_set import WholeSetStep

log = logging.getLogger(__name__)


class State(str, Enum):
    DONE = "done"  # stored and current
    FAILED = "failed"  # the last attempt failed with these inputs and settings
    STALE = "stale"  # stored, but made from other settings or inputs
    PENDING = "pending"  # never computed
    BLOCKED = "blocked"  # an upstream stage failed for this sample
    EXCLUDED = "excluded"  # an upstream stage dropped the sample (e.g. the filter)


@dataclass(slots=True)
class Verdict:
    """The state of one (stage, sample), and what computing it would need."""

    state: State
    record: RecordHead | None = None
    fingerprint: str | None = None
    upstream: dict[str, RecordHead] = field(default_factory=dict)
    reason: str = ""
    whole_set: dict[str, Any] = field(default_factory=dict)  # entries the stage reads

    @property
    def ready(self) -> bool:
        """True when every input is current, so the stage can be computed now."""
        return self.fingerprint is not None


class Planner:
    """Answers ``verdict(stage, sample)`` from the store, caching what it has read."""

    def __init__(
        self,
        stages: Mapping[str, Stage],
        store: Store,
        labels: Mapping[str, LabelRow],
        samples: Sequence[SampleSource] = (),
    ) -> None:
        self.stages = stages
        self.store = store
        store.look_again()
        self.labels = labels
        self.samples = samples  # all of the input's samples: whole-set steps read them all
        self._whole_set: dict[str, dict[str, Any]] = {}  # step name -> sample id -> entry
        self._identity = {name: digest(stage.identity()) for name, stage in stages.items()}
        self._records: dict[tuple[str, str], RecordHead | None] = {}
        self._verdicts: dict[str, dict[str, Verdict]] = {}  # sample id -> stage -> verdict
        self._sources: dict[tuple[str, str], str] = {}

    def identity(self, stage: str) -> str:
        """The digest of what, besides its inputs, decides a stage's output."""
        return self._identity[stage]

    def record(self, stage: str, sample_id: str) -> RecordHead | None:
        """The head of the stored record of (stage, sample), if there is an intact one."""
        key = (stage, sample_id)
        if key not in self._records:
            self._records[key] = self.store.head(stage, sample_id)
        return self._records[key]

    def remember(self, record: Record, stored_as: Signature | None = None) -> None:
        """Take note of a record just written; later verdicts of that sample are re-derived."""
        self.store.remember(record, stored_as)
        self._records[(record.stage, record.sample)] = RecordHead.of(record)
        self._verdicts.pop(record.sample, None)

    def verdict(self, stage_name: str, source: SampleSource) -> Verdict:
        known = self._verdicts.setdefault(source.id, {})
        if stage_name not in known:
            known[stage_name] = self._evaluate(self.stages[stage_name], source)
        return known[stage_name]

    def _evaluate(self, stage: Stage, source: SampleSource) -> Verdict:
        upstream: dict[str, RecordHead] = {}
        for dependency in stage.requires:
            before = self.verdict(dependency, source)
            if before.state is State.DONE and before.record and not before.record.halted:
                # A current, kept dependency had current, kept inputs itself: take them too,
                # so the fingerprint covers every ancestor (in a fixed order).
                upstream.update(before.upstream)
                upstream[dependency] = before.record
                continue
            return self._not_ready(stage, source, dependency, before)
        whole_set = self._whole_set_entries(stage, source)
        expected = self.fingerprint(stage, source, upstream, whole_set)
        record = self.record(stage.name, source.id)
        if record is None:
            state = State.PENDING
        elif record.fingerprint != expected:
            state = State.STALE
        else:
            state = State.FAILED if record.status == "failed" else State.DONE
        return Verdict(
            state, record=record, fingerprint=expected, upstream=upstream, whole_set=whole_set
        )

    def _whole_set_entries(self, stage: Stage, source: SampleSource) -> dict[str, Any]:
        step = stage.whole_set_step()
        if step is None:
            return {}
        return {step.name: self.whole_set(step).get(source.id)}

    def whole_set(self, step: WholeSetStep) -> dict[str, Any]:
        """Every sample's entry of ``step``, computed on first use from the current, kept
        records of the stage it reads, over all samples (``forget_whole_set`` to redo)."""
        if step.name not in self._whole_set:
            records: dict[str, Record] = {}
            for source in self.samples:
                verdict = self.verdict(step.reads, source)
                head = verdict.record
                if verdict.state is State.DONE and head is not None and not head.halted:
                    record = self.store.load(step.reads, source.id)
                    if record is not None:
                        records[source.id] = record
            self._whole_set[step.name] = step.compute(records)
            log.debug("%s: computed over %d %s records", step.name, len(records), step.reads)
        return self._whole_set[step.name]

    def forget_whole_set(self) -> None:
        """The records whole-set steps read may have changed: compute them again when asked,
        and re-derive the verdicts that read them."""
        self._whole_set.clear()
        self._verdicts.clear()

    def _not_ready(
        self, stage: Stage, source: SampleSource, dependency: str, before: Verdict
    ) -> Verdict:
        """The verdict of a stage whose input ``dependency`` is not a current, kept result."""
        record = self.record(stage.name, source.id)
        if before.state is State.DONE and before.record:  # kept out by the dependency
            reasons = "; ".join(reason.message for reason in before.record.halt)
            return Verdict(
                State.EXCLUDED, record=record, reason=f"dropped by {dependency}: {reasons}"
            )
        if before.state in (State.EXCLUDED, State.BLOCKED):
            return Verdict(before.state, record=record, reason=before.reason)
        if before.state is State.FAILED:
            return Verdict(State.BLOCKED, record=record, reason=f"{dependency} failed")
        state = State.STALE if record else State.PENDING
        return Verdict(
            state, record=record, reason=f"waits for {dependency} ({before.state.value})"
        )

    def _source_text(self, stage: Stage, source: SampleSource) -> str:
        """The canonical text of the raw input a stage reads, computed once per run."""
        key = (stage.name, source.id)
        if key not in self._sources:
            identity = stage.source_identity(source, self.labels.get(source.id))
            self._sources[key] = "" if identity is None else canonical_json(identity)
        return self._sources[key]

    def fingerprint(
        self,
        stage: Stage,
        source: SampleSource,
        upstream: Mapping[str, Record],
        whole_set: Mapping[str, Any] | None = None,
    ) -> str:
        parts = [
            self._identity[stage.name],
            self._source_text(stage, source),
            # The ancestors come in a fixed order (by the stages' requires), so no sorting.
            *(f"{name}={record.data_hash}" for name, record in upstream.items()),
            *(f"{name}:{canonical_json(entry)}" for name, entry in (whole_set or {}).items()),
        ]
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]
