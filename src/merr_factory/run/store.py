"""The layout of an output folder; with the resume index (which names its own files), the
only module that knows where files live.

    <output>/stages/<stage>/<sample>.json   the record of one (stage, sample)
    <output>/stages/<stage>/<sample>/...    files the stage wrote for that sample
    <output>/.state/<stage>.final.json      marker of a stage's whole-set output (export)
    <output>/.state/<stage>.index           a cache of record heads (``resume_index.py``)
    <output>/.state/<step>.whole-set        a whole-set step's entries, keyed by their inputs
    <output>/.state/plan.memo               what the last full planning pass found
    <output>/.state/verified.json           when each stage was last verified, and what it found
    <output>/<stage>/                       that whole-set output
    <output>/<step>/entries.json            a whole-set step's entries (e.g. dedup), by sample
    <output>/runs/<time>.json               the summary of each run
    <output>/logs/<time>.log                the log of each run
    <output>/.tmp/                          work folders of samples being computed

A record is written last, atomically, and lists its files with their sizes, so a record
that exists and verifies describes a complete result; anything else is recomputed.

Verifying means reading and hashing the record; to keep a no-op re-run over 100k records
quick, each stage keeps an index of the heads of records it has verified, and a stage whose
records folder has not changed since a pass checked them all is sealed (``resume_index.py``:
``store.index``). The index is only a cache: deleting it costs time, never correctness.

With ``output_url`` the same layout (less ``runs/``, ``logs/`` and ``.tmp/``, which stay in
the local ``output`` folder) lives at an fsspec URL; ``folders.py`` moves the bytes.
"""

from __future__ import annotations

import json
import logging
import marshal
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from merr_factory.faults import first_line, writing_output
from merr_factory.inputs.sample_ids import is_valid_sample_id
from merr_factory.run.folders import Folder, LocalFolder, Signature, file_sha256
from merr_factory.run.plan_memo import PlanMemo
from merr_factory.run.records import Artifact, Record
from merr_factory.run.resume_index import ResumeIndex

log = logging.getLogger(__name__)

STALE_WORKDIR_SECONDS = 3600


class Store:
    """Reads and writes records and artifacts under one output folder.

    ``root`` is always a local folder: it holds work folders (and, for a remote output, the
    cache of downloaded files). ``files`` is where the outputs live: ``root`` itself by
    default, or a remote folder (an fsspec URL) given by the config's ``output_url``.
    """

    def __init__(self, root: Path, files: Folder | None = None) -> None:
        self.root = root
        self.files: Folder = files if files is not None else LocalFolder(root)
        self.temp_root = root / ".tmp"
        self.index = ResumeIndex(self)  # the heads of verified records, and stage seals

    def __reduce__(self) -> tuple[Any, ...]:  # workers get a fresh store on the same folder
        return (Store, (self.root, self.files))

    @property
    def remote(self) -> bool:
        return not isinstance(self.files, LocalFolder)

    def stage_key(self, stage: str) -> str:
        """The folder of a stage's records, relative to the output folder."""
        return f"stages/{stage}"

    def sample_key(self, stage: str, sample_id: str) -> str:
        """The folder of the files a stage wrote for a sample (its record: this + ``.json``)."""
        return f"stages/{stage}/{_checked(sample_id)}"

    def record_key(self, stage: str, sample_id: str) -> str:
        return f"{self.sample_key(stage, sample_id)}.json"

    def artifact_key(self, record: Record, name: str) -> str:
        """Where an artifact listed in ``record`` lives, relative to the output folder."""
        return f"{self.sample_key(record.stage, record.sample)}/{name}"

    def artifact_path(self, record: Record, name: str) -> Path:
        """A local path to an artifact listed in ``record`` (downloaded once if remote)."""
        listed = {artifact.path: artifact.sha256 for artifact in record.artifacts}
        if name not in listed:
            raise KeyError(f"{record.stage}/{record.sample} has no file {name}")
        path = self.files.local_file(self.artifact_key(record, name), listed[name])
        if path is None:
            self._drop_incomplete(record)
            raise FileNotFoundError(f"{self.url(self.artifact_key(record, name))} is missing")
        return path

    def _drop_incomplete(self, record: Record) -> None:
        """A stored record lists a file that is gone: it no longer describes a complete
        result. Removed (if it is still the one stored), so the next run recomputes it."""
        key = self.record_key(record.stage, record.sample)
        try:
            stored = Record.model_validate_json(self.files.read_bytes(key))
        except (OSError, ValidationError, ValueError):
            return
        if stored.data_hash == record.data_hash:
            log.warning("%s: lists a file that is gone, will recompute", self.url(key))
            self._remove_damaged(record.stage, key)

    def local_copy(self, key: str, sha256: str) -> Path | None:
        """A local path to the stored file ``key`` (e.g. from an export entry), or None."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"unsafe path {key!r} in the output folder")
        return self.files.local_file(key, sha256)

    def url(self, key: str) -> str:
        """Where ``key`` is, for messages and for files referred to in place."""
        return self.files.url(key)

    def sample_ids(self, stage: str) -> list[str]:
        """The ids of the samples with a stored record of ``stage`` (intact or not)."""
        return [
            name.removesuffix(".json") for name in self.files.names(self.stage_key(stage), ".json")
        ]

    def load(self, stage: str, sample_id: str) -> Record | None:
        """The stored record if it is intact and its files are all there, else None.

        A damaged record is removed, so that nothing (the index included) trusts it again.
        """
        key = self.record_key(stage, sample_id)
        try:
            record = Record.model_validate_json(self.files.read_bytes(key))
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as error:
            log.warning("%s: damaged record, will recompute (%s)", self.url(key), first_line(error))
            self._remove_damaged(stage, key)
            return None
        problem = self._verify(record, stage, sample_id)
        if problem:
            log.warning("%s: %s, will recompute", self.url(key), problem)
            self._remove_damaged(stage, key)
            return None
        return record

    def _remove_damaged(self, stage: str, key: str) -> None:
        self.files.delete(key)
        self.index.unseal(stage)

    def discard(self, stage: str, sample_id: str) -> None:
        """Remove a record found damaged (``merr-build verify --repair``): its stage is
        unsealed and the next run recomputes the sample."""
        self._remove_damaged(stage, self.record_key(stage, sample_id))
        self.index.forget(stage, sample_id)

    def verified(self) -> dict[str, Any]:
        """When each stage was last verified (``merr-build verify``), and what it found."""
        try:
            document = json.loads(self.files.read_bytes(_VERIFIED_KEY))
        except (OSError, ValueError):
            return {}
        return document if isinstance(document, dict) else {}

    def save_verified(self, stages: dict[str, Any]) -> None:
        """Keep what a verification found, per stage, over what earlier ones found."""
        self.files.write_bytes(_VERIFIED_KEY, _json_bytes({**self.verified(), **stages}))

    def read_records(self, sample_id: str, stages: list[str]) -> dict[str, Record]:
        """Records of one sample, read together, that parse and match their content hash.

        For a stage computing: the planner verified these records (files included) moments
        ago; the caller checks each is still the one planned. Missing ones are left out."""
        keys = {stage: self.record_key(stage, sample_id) for stage in stages}
        found = self.files.read_many(list(keys.values())) if keys else {}
        records = {}
        for stage, key in keys.items():
            data = found.get(key)
            if data is None:
                continue
            try:
                record = Record.model_validate_json(data)
            except (ValidationError, ValueError):
                record = None
            if record is None or record.data_hash != record.content_hash():
                # Never written so (writes are atomic): damaged, or edited in place under a
                # sealed stage. Removed, so that the next run verifies the stage again.
                log.warning("%s: damaged record, will recompute", self.url(key))
                self._remove_damaged(stage, key)
                continue
            records[stage] = record
        return records

    def _verify(self, record: Record, stage: str, sample_id: str) -> str | None:
        if record.stage != stage or record.sample != sample_id:
            return f"record is for {record.stage}/{record.sample}"
        if record.data_hash != record.content_hash():
            return "record content does not match its hash"
        for artifact in record.artifacts:
            try:
                size = self.files.size(self.artifact_key(record, artifact.path))
            except OSError:
                return f"file {artifact.path} is missing"
            if size != artifact.size:
                return f"file {artifact.path} has {size} bytes, expected {artifact.size}"
        return None

    def save(self, record: Record) -> Signature | None:
        """Write a sealed record atomically; returns its signature when known."""
        data = record.model_dump_json(indent=1).encode("utf-8") + b"\n"
        return self.files.write_bytes(self.record_key(record.stage, record.sample), data)

    def forget(self, stage: str, sample_id: str) -> None:
        """Remove a record before recomputing it, so no record outlives its files."""
        self.files.delete(self.record_key(stage, sample_id))

    def new_workdir(self, stage: str, sample_id: str) -> Path:
        """A fresh private folder where a stage writes a sample's files before commit."""
        workdir = self.workdir_path(stage, sample_id)
        with writing_output(workdir):
            workdir.mkdir(parents=True)
        return workdir

    def workdir_path(self, stage: str, sample_id: str) -> Path:
        """Where a fresh private folder for a sample's files would go (not made here)."""
        return self.temp_root / f"{stage}-{_checked(sample_id)}-{uuid.uuid4().hex[:12]}"

    def commit_artifacts(self, stage: str, sample_id: str, workdir: Path) -> list[Artifact]:
        """Move a finished work folder into place and describe the files it holds."""
        files = sorted(workdir.rglob("*")) if workdir.is_dir() else []
        artifacts = [_describe(file, workdir) for file in files if file.is_file()]
        prefix = self.sample_key(stage, sample_id)
        if artifacts:
            self.files.put_tree(prefix, workdir, self._trash())
        else:
            self.files.drop_stale_tree(prefix)
            shutil.rmtree(workdir, ignore_errors=True)
        return artifacts

    def final_fingerprint(self, stage: str) -> str | None:
        """The fingerprint the current whole-set output was made from, if it is intact."""
        try:
            marker = json.loads(self.files.read_bytes(_final_marker_key(stage)))
        except (OSError, ValueError):
            return None
        if not self.files.has_tree(stage):
            return None
        return marker.get("fingerprint")

    def commit_final(self, stage: str, workdir: Path, fingerprint: str, samples: int) -> None:
        """Swap a finished whole-set output into place; the marker is written last."""
        self.files.delete(_final_marker_key(stage))
        self.files.remove_tree(stage)
        self.files.put_tree(stage, workdir, self._trash())
        marker = {"fingerprint": fingerprint, "samples": samples}
        self.files.write_bytes(_final_marker_key(stage), _json_bytes(marker))

    def plan_memo(self) -> PlanMemo | None:
        """The plan memo (``plan_memo.py``), if there is a readable one."""
        try:
            return PlanMemo.from_bytes(self.files.read_bytes(_PLAN_MEMO_KEY))
        except OSError:
            return None

    def save_plan_memo(self, memo: PlanMemo) -> None:
        self.files.write_bytes(_PLAN_MEMO_KEY, memo.to_bytes())

    def whole_set_cache(self, step: str, key: str) -> dict[str, Any] | None:
        """The entries a whole-set step computed from inputs whose digest is ``key``, if
        kept (``save_whole_set_cache``); None when absent, damaged or made from others."""
        try:
            document = marshal.loads(self.files.read_bytes(_whole_set_key(step)))
        except (OSError, ValueError, EOFError, TypeError):
            return None
        if not isinstance(document, dict) or document.get("key") != key:
            return None
        entries = document.get("entries")
        return entries if isinstance(entries, dict) else None

    def save_whole_set_cache(self, step: str, key: str, entries: dict[str, Any]) -> None:
        """Keep a whole-set step's entries with the digest of what they were made from."""
        document = {"format": 1, "key": key, "entries": entries}
        self.files.write_bytes(_whole_set_key(step), marshal.dumps(document))

    def has_whole_set(self, step: str) -> bool:
        """True when the step's entries file for people (``save_whole_set``) exists."""
        return self.files.signature(f"{step}/entries.json") is not None

    def save_whole_set(self, step: str, entries: dict[str, Any]) -> None:
        """Write a whole-set step's entries for people to read (the planner recomputes them:
        a lost or edited file changes nothing)."""
        self.files.write_bytes(f"{step}/entries.json", _json_bytes(entries))

    def keep_copy(self, local: Path, key: str) -> None:
        """For a remote output, keep a copy of a local file (a run summary) there too."""
        if self.remote:
            self.files.write_bytes(key, local.read_bytes())

    def _trash(self) -> Path:
        return self.temp_root / f"trash-{uuid.uuid4().hex}"

    def trim_cache(self) -> None:
        """For a remote output: keep the local copies of its files under the size limit."""
        self.files.trim_cache()

    def sweep_temp(self, older_than: float = STALE_WORKDIR_SECONDS) -> int:
        """Delete work folders left by interrupted runs; returns how many were removed.

        Only old ones go: another shard may be writing into the same output folder now.
        """
        self.trim_cache()
        if not self.temp_root.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for entry in self.temp_root.iterdir():
            try:
                stale = entry.stat().st_mtime < cutoff
            except FileNotFoundError:  # another run's work folder, just moved into place
                continue
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


_PLAN_MEMO_KEY = ".state/plan.memo"
_VERIFIED_KEY = ".state/verified.json"


def _whole_set_key(step: str) -> str:
    return f".state/{step}.whole-set"


def _final_marker_key(stage: str) -> str:
    return f".state/{stage}.final.json"


def _checked(sample_id: str) -> str:
    """Refuse any id that could name a path outside the output folder."""
    if not is_valid_sample_id(sample_id):
        raise ValueError(f"unsafe sample id {sample_id!r}")
    return sample_id


def _describe(file: Path, workdir: Path) -> Artifact:
    return Artifact(
        path=file.relative_to(workdir).as_posix(),
        size=file.stat().st_size,
        sha256=file_sha256(file),
    )
