"""The layout of an output folder; the only module that knows where files live.

    <output>/stages/<stage>/<sample>.json   the record of one (stage, sample)
    <output>/stages/<stage>/<sample>/...    files the stage wrote for that sample
    <output>/.state/<stage>.final.json      marker of a stage's whole-set output (export)
    <output>/.state/<stage>.index           a cache of record heads, keyed by file size and time
    <output>/.state/<step>.whole-set        a whole-set step's entries, keyed by their inputs
    <output>/.state/plan.memo               what the last full planning pass found
    <output>/<stage>/                       that whole-set output
    <output>/<step>/entries.json            a whole-set step's entries (e.g. dedup), by sample
    <output>/runs/<time>.json               the summary of each run
    <output>/logs/<time>.log                the log of each run
    <output>/.tmp/                          work folders of samples being computed

A record is written last, atomically, and lists its files with their sizes, so a record
that exists and verifies describes a complete result; anything else is recomputed.

Verifying means reading and hashing the record; to keep a no-op re-run over 100k records
quick, each stage keeps an index of the heads of records it has verified, with the record
file's size and modification time (``resume_index.py``). A record whose file (and listed
files) still have those sizes and times is taken from the index; any other is read and
verified again. The index is only a cache: deleting it costs time, never correctness.

Checking a million files still costs a million ``stat`` calls (seconds), so a stage whose
index a pass has fully checked is *sealed*: the index stores its records folder's inode and
change time (``ctime``), taken before the checks, once that folder has been unchanged for a
while (``SEAL_AFTER_NS``: no coarse clock tick hides a change). Every record and every
sample's files folder enter a stage's folder by a rename and leave it by an unlink, which
sets the folder's ``ctime`` (no tool can set it back), so while the folder's inode and
``ctime`` equal the seal, no record of the stage was written, replaced or removed, and its
entries are taken without a ``stat`` each. What a seal does not see (a record edited in place,
a file deleted inside a sample's folder) is still never *used*: every read of a record checks
its hash and every read of a file its presence, and a record found damaged or incomplete is
removed, which breaks the seal, so the next run verifies the stage again and recomputes it.
Object stores have no folder times: their entries are checked against one listing per stage.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from merr_factory.faults import writing_output
from merr_factory.inputs.sample_ids import is_valid_sample_id
from merr_factory.run.folders import Folder, IndexEntry, LocalFolder, Signature, file_sha256
from merr_factory.run.plan_memo import PlanMemo
from merr_factory.run.records import Artifact, Head, Record, RecordHead
from merr_factory.run.resume_index import IndexedHead, StageIndex, packable

log = logging.getLogger(__name__)

STALE_WORKDIR_SECONDS = 3600
# A folder changed less than this before a pass looked at it is not sealed by that pass:
# coarse file system clocks (and a network file system's clock skew) could hide a change.
SEAL_AFTER_NS = 10 * 10**9


@dataclass
class _Pass:
    """What one pass (a run, a status) knows of a stage's index and records folder."""

    stamp: tuple[int, int] | None = None  # the folder's (inode, ctime) when first looked at
    stamped_at: int = 0  # time.time_ns() then
    sealed: bool = False  # the index's seal matched the stamp: entries need no stat
    checked: set[str] = field(default_factory=set)  # entries checked (or written) this pass


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
        self._indexes: dict[str, StageIndex] = {}
        self._passes: dict[str, _Pass] = {}
        self._dirty: set[str] = set()
        self._index_part: str | None = None
        self._index_files: dict[str, list[str]] = {}  # stage -> the index files read
        self._state_names: list[str] | None = None

    def __reduce__(self) -> tuple[Any, ...]:  # workers get a fresh store on the same folder
        return (Store, (self.root, self.files))

    @property
    def remote(self) -> bool:
        return not isinstance(self.files, LocalFolder)

    def record_key(self, stage: str, sample_id: str) -> str:
        return f"stages/{stage}/{_checked(sample_id)}.json"

    def artifact_key(self, record: Record, name: str) -> str:
        """Where an artifact listed in ``record`` lives, relative to the output folder."""
        return f"stages/{record.stage}/{_checked(record.sample)}/{name}"

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
        return [name.removesuffix(".json") for name in self.files.names(f"stages/{stage}", ".json")]

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
            log.warning(
                "%s: damaged record, will recompute (%s)", self.url(key), _first_line(error)
            )
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
        if stage in self._indexes:
            self._unseal(stage)

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

    def head(self, stage: str, sample_id: str) -> Head | None:
        """The head of the stored record: from the index when the stage is sealed or the
        files are unchanged, else read and verified (then indexed)."""
        index = self._indexes.get(stage) or self._index(stage)
        state = self._passes[stage]
        row = index.rows.get(sample_id)
        if row is not None:
            if state.sealed:
                return _head_from_row(stage, sample_id, index, row)
            if self.files.unchanged(f"stages/{stage}/{_checked(sample_id)}", index.entry(row)):
                state.checked.add(sample_id)
                return _head_from_row(stage, sample_id, index, row)
            self._unindex(stage, sample_id)
        if not self.files.may_exist(self.record_key(stage, sample_id)):
            return None
        record = self.load(stage, sample_id)
        if record is None:
            return None
        self._index_record(record)
        return RecordHead.of(record)

    def head_finder(self, stage: str) -> Callable[[str], Head | None]:
        """``head`` for one stage, quicker when asked for many samples: while the stage is
        sealed an indexed head is made here, without a call per step."""
        index = self._index(stage)
        state = self._passes[stage]
        hashes, halts = index.hashes, index.halts  # changed in place, never replaced

        def find(sample_id: str) -> Head | None:
            row = index.rows.get(sample_id)
            if row is None or not state.sealed or row in halts:
                return self.head(stage, sample_id)
            return IndexedHead(stage, sample_id, hashes, row)

        return find

    def indexed_data_hash(self, stage: str, sample_id: str) -> str:
        """The content hash the index holds for a record the plan memo gives as current (its
        stage is sealed: the entry is the record's)."""
        index = self._indexes.get(stage) or self._index(stage)
        row = index.rows.get(sample_id)
        if row is not None:
            return index.data_hash(row)
        head = self.head(stage, sample_id)  # not indexed: read (and verified)
        return head.data_hash if head is not None else ""

    def look_again(self) -> None:
        """Start a new pass (a run, a status): listings and seals seen before are out of date."""
        self.files.forget_listings()
        for stage in self._indexes:
            self._take_stamp(stage)

    def remember(self, record: Record, stored_as: Signature | None = None) -> None:
        """Put a record this run has just stored in its stage's index (done records only).

        ``stored_as`` is the record file's signature when the writer knows it (saves asking
        the object store again). Writing into a stage's folder breaks its seal."""
        self._unseal(record.stage)
        self._index_record(record, stored_as)

    def _index_record(self, record: Record, stored_as: Signature | None = None) -> None:
        """Index a verified, stored record (a failed one is dropped from the index)."""
        if record.status != "done" or not packable(record.fingerprint, record.data_hash):
            self._unindex(record.stage, record.sample)
            return
        index = self._index(record.stage)
        signature = stored_as or self.files.signature(self.record_key(record.stage, record.sample))
        if signature is None:
            self._unindex(record.stage, record.sample)
            return
        entry = IndexEntry(
            *signature,
            fingerprint=record.fingerprint,
            data_hash=record.data_hash,
            halt=[[reason.code, reason.message] for reason in record.halt],
            artifacts=[[artifact.path, artifact.size] for artifact in record.artifacts],
        )
        index.put(record.sample, signature, entry)
        self._passes[record.stage].checked.add(record.sample)
        self._dirty.add(record.stage)

    def _unindex(self, stage: str, sample_id: str) -> None:
        if self._index(stage).drop(sample_id):
            self._dirty.add(stage)

    def _unseal(self, stage: str) -> None:
        """This process changed the stage's folder: no seal from this pass."""
        index = self._index(stage)
        state = self._passes[stage]
        state.sealed, state.stamp = False, None
        if index.seal is not None:
            index.seal = None
            self._dirty.add(stage)

    def write_indexes_as(self, part: str | None) -> None:
        """Write indexes to files of this ``part`` (a shard), or to the main files (None).

        Shards of one run finish at different times; with one shared index file the last to
        finish would drop the entries of all others, and the next run would read every record
        again. Reading merges all files of a stage (each entry is checked anyway); a run that
        writes the main file removes the parts it merged.
        """
        self._index_part = part

    def flush_indexes(self) -> None:
        """Write the indexes that changed, sealing those this pass found whole (atomically;
        a lost index only costs time)."""
        for stage in sorted(self._indexes):
            if self._may_seal(stage):
                self._indexes[stage].seal = list(self._passes[stage].stamp or ())
                self._passes[stage].sealed = True
                self._dirty.add(stage)
        for stage in sorted(self._dirty):
            key = _index_key(stage, self._index_part)
            self.files.write_bytes(key, self._indexes[stage].to_bytes())
            if self._index_part is None:
                for merged in self._index_files.get(stage, []):
                    if merged != key:
                        self.files.delete(merged)
                self._index_files[stage] = [key]
        self._dirty.clear()

    def _may_seal(self, stage: str) -> bool:
        """True when this pass may seal the stage: its folder was already old when first
        looked at and is unchanged since, and every entry of its index has been checked
        (those the pass did not ask for are checked now; any that fails is dropped)."""
        state, index = self._passes[stage], self._indexes[stage]
        if state.sealed or state.stamp is None or self._index_part is not None or not index:
            return False
        if state.stamped_at - state.stamp[1] < SEAL_AFTER_NS:
            return False
        if self.files.stamp(f"stages/{stage}") != state.stamp:
            return False
        for sample_id in [name for name in index.samples() if name not in state.checked]:
            row = index.rows[sample_id]
            if not self.files.unchanged(f"stages/{stage}/{sample_id}", index.entry(row)):
                self._unindex(stage, sample_id)
        return self.files.stamp(f"stages/{stage}") == state.stamp

    def _index(self, stage: str) -> StageIndex:
        if stage not in self._indexes:
            keys = [f".state/{name}" for name in self._state_files() if _indexes_of(stage, name)]
            like = next(iter(self._indexes.values()), None)
            parts = [self._read_index(key, like) for key in keys]
            index = parts[0] if parts else StageIndex()
            for part in parts[1:]:
                index.merge(part)
                index.seal = None  # a shard wrote records since
            self._index_files[stage] = keys
            self._indexes[stage] = index
            self._take_stamp(stage)
            if self._index_part is None and set(keys) - {_index_key(stage)}:
                self._dirty.add(stage)  # merge the shards' files into the main one
        return self._indexes[stage]

    def _take_stamp(self, stage: str) -> None:
        """Look at the stage's folder for this pass; sealed if it matches the index's seal."""
        stamp = self.files.stamp(f"stages/{stage}")
        seal = self._indexes[stage].seal
        self._passes[stage] = _Pass(
            stamp=stamp,
            stamped_at=time.time_ns(),
            sealed=stamp is not None and seal is not None and tuple(seal) == stamp,
        )

    def _state_files(self) -> list[str]:
        if self._state_names is None:  # listed once per store
            self._state_names = self.files.names(".state", ".index")
        return self._state_names

    def _read_index(self, key: str, like: StageIndex | None = None) -> StageIndex:
        try:
            return StageIndex.from_bytes(self.files.read_bytes(key), like)
        except OSError:
            return StageIndex()

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
        prefix = f"stages/{stage}/{_checked(sample_id)}"
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

    def seal(self, stage: str) -> tuple[int, int] | None:
        """The stage's seal when this pass found it sealed (or sealed it), else None."""
        index = self._index(stage)
        if not self._passes[stage].sealed or index.seal is None:
            return None
        return (index.seal[0], index.seal[1])

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


def _index_key(stage: str, part: str | None = None) -> str:
    return f".state/{stage}.{part}.index" if part else f".state/{stage}.index"


def _indexes_of(stage: str, name: str) -> bool:
    """True for ``<stage>.index`` and ``<stage>.<part>.index`` (stage names have no dots)."""
    return name.startswith(f"{stage}.") and name.endswith(".index")


_PLAN_MEMO_KEY = ".state/plan.memo"


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


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _head_from_row(stage: str, sample_id: str, index: StageIndex, row: int) -> Head:
    return index.head(stage, sample_id, row)
