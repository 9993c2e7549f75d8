"""The record a stage stores for one sample: its result or its failure, and what made it."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Literal, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field

from merr_factory.faults import FaultKind
from merr_factory.run.atomic import canonical_json
from merr_factory.stage_data import Reason

RECORD_FORMAT = 1


def digest(value: Any) -> str:
    """A stable hex digest of any JSON-serialisable value."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:32]


class Artifact(BaseModel):
    """A file a stage wrote for a sample, relative to that stage's folder for the sample."""

    path: str
    size: int
    sha256: str


class ErrorInfo(BaseModel):
    """What went wrong when a stage failed on a sample.

    ``kind`` says whose fault it was (see ``faults.py``): ``data`` (the sample),
    ``environment`` (permission, a busy file, the network: it may pass) or ``worker_died``
    (the computing process was killed). Every failure is retried on the next run."""

    type: str
    message: str
    kind: FaultKind = "data"
    traceback: str | None = None


class Record(BaseModel):
    """One (stage, sample) outcome as stored on disk.

    ``fingerprint`` identifies everything the output was made from (stage code version,
    settings, inputs); the runner compares it with the fingerprint it expects today.
    ``data_hash`` covers the data and the artifacts, so downstream stages can key on the
    content of their inputs rather than on how they were made; ``provenance`` (what making it
    cost: LLM tokens, calls, cache hits), timing and the creation time are outside it.
    """

    # Written by pydantic's own JSON writer (``Store.save``: ten times quicker than the json
    # module's indented one); NaN and infinities as JavaScript constants, as json.dumps
    # writes them, so that a record reads back to the same content (and hash).
    model_config = ConfigDict(ser_json_inf_nan="constants")

    format: Literal[1] = RECORD_FORMAT
    stage: str
    sample: str
    status: Literal["done", "failed"]
    fingerprint: str
    data: dict[str, Any] = Field(default_factory=dict)
    data_hash: str = ""
    provenance: dict[str, Any] = Field(default_factory=dict)
    halt: list[Reason] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    error: ErrorInfo | None = None
    created_at: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the computing process (approximate on threads)
    # The worker's first sample of this stage: its seconds include first-use costs (a model
    # loaded lazily, a first compilation) that the worker pays once, not per sample.
    first_use: bool = False

    @property
    def halted(self) -> bool:
        """True when the sample must not go on to later stages (e.g. dropped by the filter)."""
        return bool(self.halt)

    def content_hash(self) -> str:
        """The hash that ``data_hash`` must equal for an intact record."""
        return digest(
            {
                "data": self.data,
                "halt": [reason.model_dump() for reason in self.halt],
                "artifacts": [artifact.model_dump() for artifact in self.artifacts],
            }
        )

    def seal(self) -> Record:
        """Fill in ``data_hash`` and the creation time; returns self for chaining."""
        self.data_hash = self.content_hash()
        self.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return self


class Head(Protocol):
    """What the planner reads of a stored record: a ``RecordHead``, or an ``IndexedHead``
    (``resume_index.py``) that keeps its hashes in the resume index's column."""

    @property
    def stage(self) -> str: ...
    @property
    def sample(self) -> str: ...
    @property
    def status(self) -> Literal["done", "failed"]: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def data_hash(self) -> str: ...
    @property
    def halt(self) -> tuple[Reason, ...]: ...
    @property
    def error(self) -> ErrorInfo | None: ...
    @property
    def halted(self) -> bool: ...


class RecordHead(NamedTuple):
    """What deciding staleness needs of a record, without its data: cheap to hold for 100k.

    The planner works on heads; the full record is read only when a stage computes. (A
    named tuple: a no-op re-run makes one per stage and sample, a million at 100k.)
    """

    stage: str
    sample: str
    status: Literal["done", "failed"]
    fingerprint: str
    data_hash: str
    halt: tuple[Reason, ...] = ()
    error: ErrorInfo | None = None

    @property
    def halted(self) -> bool:
        return bool(self.halt)

    @classmethod
    def of(cls, record: Record) -> RecordHead:
        return cls(
            stage=record.stage,
            sample=record.sample,
            status=record.status,
            fingerprint=record.fingerprint,
            data_hash=record.data_hash,
            halt=tuple(record.halt),
            error=record.error,
        )
