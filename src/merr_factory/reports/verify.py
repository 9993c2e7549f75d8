"""``merr-build verify``: every stored record read again, with every file it lists.

A sealed stage (``run/resume_index.py``) is trusted without a look at each record: damage
that leaves its records folder as it was (a record cut short in place, a file deleted inside
a sample's folder) is found only when something reads that record, or by the random share
each run reads again. Verifying reads, for every record of each stage (sealed or not), the
record (it must parse, be the stage's and the sample's, and match its content hash) and each
file it lists, once (its size and sha256 must be those listed); an indexed record whose file
is gone is missing. ``repair`` removes each damaged record and unseals its stage, so the
next run recomputes exactly those samples. When each stage was last verified is kept in the
output (``Store.save_verified``) for ``merr-build status``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from pydantic import ValidationError

from merr_factory.faults import OutputError
from merr_factory.run.records import Record
from merr_factory.run.store import Store
from merr_factory.tables import render_table

log = logging.getLogger(__name__)

Damage = Literal["missing", "truncated", "hash mismatch"]
DAMAGES: tuple[Damage, ...] = ("missing", "truncated", "hash mismatch")
SHOWN_IDS = 5  # damaged sample ids shown per stage


@dataclass
class StageCheck:
    """What verifying one stage found."""

    stage: str
    checked: int = 0
    damaged: dict[str, tuple[Damage, str]] = field(default_factory=dict)  # sample -> why

    def count(self, damage: Damage) -> int:
        return sum(kind == damage for kind, _ in self.damaged.values())


def verify_output(store: Store, stages: list[str], repair: bool = False) -> list[StageCheck]:
    """Check every record of these stages; with ``repair``, remove the damaged ones (their
    stages unsealed, so the next run recomputes them). Notes the time in the output."""
    checks = []
    for stage in stages:
        check = _verify_stage(store, stage)
        if repair:
            for sample_id in check.damaged:
                store.discard(stage, sample_id)
        checks.append(check)
    if repair:
        store.index.flush()
    _note(store, checks, repair)
    return checks


def _verify_stage(store: Store, stage: str) -> StageCheck:
    indexed = {sample_id: entry.size for sample_id, entry in store.index.entries(stage)}
    samples = sorted(set(store.sample_ids(stage)) | set(indexed))
    check = StageCheck(stage=stage, checked=len(samples))
    for sample_id in samples:
        found = _check_record(store, stage, sample_id, indexed.get(sample_id))
        if found is not None:
            check.damaged[sample_id] = found
    return check


def _check_record(
    store: Store, stage: str, sample_id: str, indexed_size: int | None
) -> tuple[Damage, str] | None:
    """The damage of one record and its files (the first found), or None when intact."""
    key = store.record_key(stage, sample_id)
    try:
        data = store.files.read_bytes(key)
    except FileNotFoundError:
        return "missing", "the record is gone"
    except OSError as error:
        return "missing", f"the record cannot be read: {error.strerror or error}"
    try:
        record = Record.model_validate_json(data)
    except (ValidationError, ValueError):
        shorter = indexed_size is not None and len(data) < indexed_size
        if shorter or not data.rstrip().endswith(b"}"):
            return "truncated", f"the record has {len(data)} bytes and does not parse"
        return "hash mismatch", "the record does not parse"
    if record.stage != stage or record.sample != sample_id:
        return "hash mismatch", f"the record is for {record.stage}/{record.sample}"
    if record.data_hash != record.content_hash():
        return "hash mismatch", "the record does not match its content hash"
    for artifact in record.artifacts:
        found = _check_file(store, store.artifact_key(record, artifact.path))
        if found is None:
            return "missing", f"{artifact.path} is gone"
        size, sha256 = found
        if size != artifact.size:
            return "truncated", f"{artifact.path} has {size} bytes, listed {artifact.size}"
        if sha256 != artifact.sha256:
            return "hash mismatch", f"{artifact.path} does not match its sha256"
    return None


def _check_file(store: Store, key: str) -> tuple[int, str] | None:
    """A stored file's size and sha256, from one read; None when it is gone."""
    try:
        data = store.files.read_bytes(key)
    except OSError:
        return None
    return len(data), hashlib.sha256(data).hexdigest()


def _note(store: Store, checks: list[StageCheck], repair: bool) -> None:
    """Keep when each stage was verified (a read-only output keeps nothing: said, not fatal)."""
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    found = {
        check.stage: {
            "at": at,
            "checked": check.checked,
            "damaged": len(check.damaged),
            "repaired": repair,
        }
        for check in checks
    }
    try:
        store.save_verified(found)
    except (OutputError, OSError) as error:
        log.warning("when the stages were verified was not kept: %s", error)


def render_verify(checks: list[StageCheck], repair: bool) -> str:
    """One row per stage: records checked, damage by kind, the first damaged sample ids."""
    header = ["stage", "checked", *DAMAGES, "damaged samples"]
    rows = [
        [check.stage, check.checked, *(check.count(damage) for damage in DAMAGES), _ids(check)]
        for check in checks
    ]
    damaged = sum(len(check.damaged) for check in checks)
    lines = [render_table(header, rows)]
    for check in checks:
        for sample_id, (_, why) in list(check.damaged.items())[:SHOWN_IDS]:
            lines.append(f"{check.stage}/{sample_id}: {why}")
    if not damaged:
        lines.append(f"{sum(check.checked for check in checks)} records checked: no damage")
    elif repair:
        lines.append(f"{damaged} damaged records removed: the next run recomputes them")
    else:
        lines.append(
            f"{damaged} damaged records; `merr-build verify --repair` removes them, and the "
            "next run recomputes them"
        )
    return "\n".join(lines)


def _ids(check: StageCheck) -> str:
    shown = list(check.damaged)[:SHOWN_IDS]
    more = len(check.damaged) - len(shown)
    return ", ".join(shown) + (f" (+{more})" if more else "") if shown else "-"
