"""The on-disk layout of an output folder; the only module that knows where files live.

    <output>/stages/<stage>/<sample>.json   the record of one (stage, sample)
    <output>/stages/<stage>/<sample>/...    files the stage wrote for that sample
    <output>/.state/<stage>.final.json      marker of a stage's whole-set output (export)
    <output>/.state/<stage>.index           a cache of record heads, keyed by file size and time
    <output>/<stage>/                       that whole-set output
    <output>/runs/<time>.json               the summary of each run
    <output>/logs/<time>.log                the log of each run
    <output>/.tmp/                          work folders of samples being computed

A record is written last, atomically, and lists its files with their sizes, so a record
that exists and verifies describes a complete result; anything else is recomputed.

Verifying means reading and hashing the record; to keep a no-op re-run over 100k records
quick, each stage keeps an index of the heads of records it has verified, with the record
file's size and modification time. A record whose file (and listed files) still have those
sizes and times is taken from the index; any other is read and verified again. The index is
only a cache: deleting it costs time, never correctness.
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import os
import shutil
import time
import uuid
from pathlib import Path

from pydantic import ValidationError

from .atomic import write_bytes_atomic, write_json_atomic
from .records import Artifact, Reason, Record, RecordHead
from .sample_ids import is_valid_sample_id

log = logging.getLogger(__name__)

STALE_WORKDIR_SECONDS = 3600
INDEX_FORMAT = 1


class Store:
    """Reads and writes records and artifacts under one output folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp_root = root / ".tmp"
        self._indexes: dict[str, dict[str, list]] = {}
        self._stage_roots: dict[str, str] = {}
        self._dirty: set[str] = set()

    def stage_dir(self, stage: str) -> Path:
        return self.root / "stages" / stage

    def record_path(self, stage: str, sample_id: str) -> Path:
        return self.stage_dir(stage) / f"{_checked(sample_id)}.json"

    def artifact_dir(self, stage: str, sample_id: str) -> Path:
        return self.stage_dir(stage) / _checked(sample_id)

    def artifact_path(self, record: Record, name: str) -> Path:
        """Where an artifact listed in ``record`` lives."""
        return self.artifact_dir(record.stage, record.sample) / name

    def load(self, stage: str, sample_id: str) -> Record | None:
        """The stored record if it is intact and its files are all there, else None.

        A damaged record is removed, so that nothing (the index included) trusts it again.
        """
        path = self.record_path(stage, sample_id)
        try:
            record = Record.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as error:
            log.warning("%s: damaged record, will recompute (%s)", path, _first_line(error))
            path.unlink(missing_ok=True)
            return None
        problem = self._verify(record, stage, sample_id)
        if problem:
            log.warning("%s: %s, will recompute", path, problem)
            path.unlink(missing_ok=True)
            return None
        return record

    def head(self, stage: str, sample_id: str) -> RecordHead | None:
        """The head of the stored record: from the index when the files are unchanged."""
        entry = self._index(stage).get(sample_id)
        if entry is not None:
            folder = f"{self._stage_root(stage)}/{_checked(sample_id)}"
            if _unchanged(folder, entry):  # plain strings: this runs 100k times on a resume
                return _head_from_entry(stage, sample_id, entry)
        record = self.load(stage, sample_id)
        if record is None:
            return None
        self.remember(record)
        return RecordHead.of(record)

    def remember(self, record: Record) -> None:
        """Put a verified, stored record in its stage's index (done records only)."""
        index = self._index(record.stage)
        if record.status != "done":
            if index.pop(record.sample, None) is not None:
                self._dirty.add(record.stage)
            return
        try:
            stat = self.record_path(record.stage, record.sample).stat()
        except OSError:
            return
        index[record.sample] = [
            stat.st_size,
            stat.st_mtime_ns,
            record.fingerprint,
            record.data_hash,
            [[reason.code, reason.message] for reason in record.halt],
            [[artifact.path, artifact.size] for artifact in record.artifacts],
        ]
        self._dirty.add(record.stage)

    def flush_indexes(self) -> None:
        """Write the indexes that changed (atomically; a lost index only costs time).

        ``marshal`` reads 100k entries several times faster than JSON, and unlike pickle
        never runs code on load; a file it cannot read is simply ignored.
        """
        for stage in sorted(self._dirty):
            document = {"format": INDEX_FORMAT, "entries": self._indexes[stage]}
            write_bytes_atomic(self._index_path(stage), marshal.dumps(document))
        self._dirty.clear()

    def _stage_root(self, stage: str) -> str:
        if stage not in self._stage_roots:
            self._stage_roots[stage] = str(self.stage_dir(stage))
        return self._stage_roots[stage]

    def _index_path(self, stage: str) -> Path:
        return self.root / ".state" / f"{stage}.index"

    def _index(self, stage: str) -> dict[str, list]:
        if stage not in self._indexes:
            try:
                document = marshal.loads(self._index_path(stage).read_bytes())
                entries = document["entries"] if document.get("format") == INDEX_FORMAT else {}
            except (OSError, ValueError, EOFError, TypeError, KeyError, AttributeError):
                entries = {}
            self._indexes[stage] = entries if isinstance(entries, dict) else {}
        return self._indexes[stage]

    def _verify(self, record: Record, stage: str, sample_id: str) -> str | None:
        if record.stage != stage or record.sample != sample_id:
            return f"record is for {record.stage}/{record.sample}"
        if record.data_hash != record.content_hash():
            return "record content does not match its hash"
        for artifact in record.artifacts:
            file = self.artifact_path(record, artifact.path)
            try:
                size = file.stat().st_size
            except OSError:
                return f"file {artifact.path} is missing"
            if size != artifact.size:
                return f"file {artifact.path} has {size} bytes, expected {artifact.size}"
        return None

    def save(self, record: Record) -> None:
        """Write a sealed record atomically."""
        write_json_atomic(self.record_path(record.stage, record.sample), record.model_dump())

    def forget(self, stage: str, sample_id: str) -> None:
        """Remove a record before recomputing it, so no record outlives its files."""
        self.record_path(stage, sample_id).unlink(missing_ok=True)

    def new_workdir(self, stage: str, sample_id: str) -> Path:
        """A fresh private folder where a stage writes a sample's files before commit."""
        workdir = self.temp_root / f"{stage}-{_checked(sample_id)}-{uuid.uuid4().hex[:12]}"
        workdir.mkdir(parents=True)
        return workdir

    def commit_artifacts(self, stage: str, sample_id: str, workdir: Path) -> list[Artifact]:
        """Move a finished work folder into place and describe the files it holds."""
        artifacts = [
            _describe(file, workdir) for file in sorted(workdir.rglob("*")) if file.is_file()
        ]
        final = self.artifact_dir(stage, sample_id)
        if artifacts:
            self._replace_dir(final, workdir)
        else:
            shutil.rmtree(final, ignore_errors=True)
            shutil.rmtree(workdir, ignore_errors=True)
        return artifacts

    def final_dir(self, stage: str) -> Path:
        """Where a stage's whole-set output lives (e.g. ``<output>/export``)."""
        return self.root / stage

    def final_marker(self, stage: str) -> Path:
        return self.root / ".state" / f"{stage}.final.json"

    def final_fingerprint(self, stage: str) -> str | None:
        """The fingerprint the current whole-set output was made from, if it is intact."""
        try:
            marker = json.loads(self.final_marker(stage).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not self.final_dir(stage).is_dir():
            return None
        return marker.get("fingerprint")

    def commit_final(self, stage: str, workdir: Path, fingerprint: str, samples: int) -> None:
        """Swap a finished whole-set output into place; the marker is written last."""
        self.final_marker(stage).unlink(missing_ok=True)
        self._replace_dir(self.final_dir(stage), workdir)
        write_json_atomic(
            self.final_marker(stage), {"fingerprint": fingerprint, "samples": samples}
        )

    def _replace_dir(self, final: Path, workdir: Path) -> None:
        if final.exists():
            trash = self.temp_root / f"trash-{uuid.uuid4().hex}"
            final.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        workdir.rename(final)

    def sweep_temp(self, older_than: float = STALE_WORKDIR_SECONDS) -> int:
        """Delete work folders left by interrupted runs; returns how many were removed.

        Only old ones go: another shard may be writing into the same output folder now.
        """
        if not self.temp_root.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for entry in self.temp_root.iterdir():
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed


def _checked(sample_id: str) -> str:
    """Refuse any id that could name a path outside the output folder."""
    if not is_valid_sample_id(sample_id):
        raise ValueError(f"unsafe sample id {sample_id!r}")
    return sample_id


def _describe(file: Path, workdir: Path) -> Artifact:
    sha = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return Artifact(
        path=file.relative_to(workdir).as_posix(), size=file.stat().st_size, sha256=sha.hexdigest()
    )


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _unchanged(folder: str, entry: list) -> bool:
    """True when the record file (``folder + '.json'``) and its listed files are as indexed."""
    try:
        stat = os.stat(folder + ".json")
        if stat.st_size != entry[0] or stat.st_mtime_ns != entry[1]:
            return False
        for name, size in entry[5]:
            if os.stat(f"{folder}/{name}").st_size != size:
                return False
    except OSError:
        return False
    return True


def _head_from_entry(stage: str, sample_id: str, entry: list) -> RecordHead:
    return RecordHead(
        stage=stage,
        sample=sample_id,
        status="done",
        fingerprint=entry[2],
        data_hash=entry[3],
        halt=tuple(Reason(code=code, message=message) for code, message in entry[4]),
    )
