"""The on-disk layout of an output folder; the only module that knows where files live.

    <output>/stages/<stage>/<sample>.json   the record of one (stage, sample)
    <output>/stages/<stage>/<sample>/...    files the stage wrote for that sample
    <output>/stages/<stage>/_final.json     marker of a stage's whole-set output (export)
    <output>/<stage>/                       that whole-set output
    <output>/runs/<time>.json               the summary of each run
    <output>/logs/<time>.log                the log of each run
    <output>/.tmp/                          work folders of samples being computed

A record is written last, atomically, and lists its files with their sizes, so a record
that exists and verifies describes a complete result; anything else is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from pathlib import Path

from pydantic import ValidationError

from .atomic import write_json_atomic
from .records import Artifact, Record
from .sample_ids import is_valid_sample_id

log = logging.getLogger(__name__)

STALE_WORKDIR_SECONDS = 3600


class Store:
    """Reads and writes records and artifacts under one output folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp_root = root / ".tmp"

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
        """The stored record if it is intact and its files are all there, else None."""
        path = self.record_path(stage, sample_id)
        try:
            record = Record.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as error:
            log.warning("%s: damaged record, will recompute (%s)", path, _first_line(error))
            return None
        problem = self._verify(record, stage, sample_id)
        if problem:
            log.warning("%s: %s, will recompute", path, problem)
            return None
        return record

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
        return self.stage_dir(stage) / "_final.json"

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
