"""The resume index: the heads of each stage's done records, compact enough for 100k samples,
and the seals that spare a no-op re-run a ``stat`` per record.

A no-op re-run looks at every (stage, sample); reading and hashing each record would cost
far more than the run itself, so each stage keeps the heads of the records it verified (what
planning needs: fingerprint, data hash, halt reasons) with what the record file and its
files looked like then (sizes, the record's modification time or object version). An entry
is trusted only while those still match (``Folder.unchanged``), or while the stage is
*sealed*; any other record is read and verified again. The index is a cache: losing it costs
time, never correctness.

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

``StageIndex`` keeps one stage's entries in columns, not as one object per entry: 32 bytes
of hashes, two integers and, for records with files, their sizes in a flat array. 100k
entries load from disk in milliseconds and take a few MB, where a dict of lists took seconds
and half a GB for ten stages. Stored with ``marshal`` (fast, and unlike pickle it never runs
code on load) in ``.state/<stage>.index`` (``.state/<stage>.<part>.index`` for a shard).
``ResumeIndex`` holds a store's stage indexes and seals for one process (``store.index``).
"""

from __future__ import annotations

import marshal
import math
import random
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from merr_factory.run.folders import Folder, IndexEntry, Signature
from merr_factory.run.records import ErrorInfo, Head, Record, RecordHead
from merr_factory.stage_data import Reason

INDEX_FORMAT = 3
HASH_BYTES = 16  # fingerprints and data hashes are 32 hex digits
NO_FILES = -1
# A folder changed less than this before a pass looked at it is not sealed by that pass:
# coarse file system clocks (and a network file system's clock skew) could hide a change.
SEAL_AFTER_NS = 10 * 10**9
# The share of a sealed stage's records each run reads again (``ResumeIndex.recheck``): a
# record damaged in place under a seal (cut short, a file deleted inside its folder) is
# found by a run with this chance, by ``merr-build verify`` for certain.
RECHECK_SHARE = 0.01


class IndexedHead:
    """The head of a done record as its stage's index holds it. Its hashes stay in the
    index's column (a hex string is made when one is asked for), so a no-op re-run's million
    heads take about 70 bytes each instead of 270."""

    __slots__ = ("_hashes", "_row", "halt", "sample", "stage")
    status: Literal["done"] = "done"
    error: ErrorInfo | None = None

    def __init__(
        self, stage: str, sample: str, hashes: bytearray, row: int, halt: tuple[Reason, ...] = ()
    ) -> None:
        self.stage, self.sample, self._hashes, self._row, self.halt = (
            stage, sample, hashes, row, halt,
        )  # fmt: skip

    @property
    def fingerprint(self) -> str:
        start = self._row * 2 * HASH_BYTES
        return self._hashes[start : start + HASH_BYTES].hex()

    @property
    def data_hash(self) -> str:
        start = (self._row * 2 + 1) * HASH_BYTES
        return self._hashes[start : start + HASH_BYTES].hex()

    def matches(self, fingerprint: str) -> bool:
        """True when the stored fingerprint is ``fingerprint`` (no string made)."""
        start = self._row * 2 * HASH_BYTES
        try:
            return self._hashes.startswith(bytes.fromhex(fingerprint), start, start + HASH_BYTES)
        except ValueError:
            return False

    @property
    def halted(self) -> bool:
        return bool(self.halt)


def packable(fingerprint: str, data_hash: str) -> bool:
    """True when both are 32 hex digits (every record this code writes); others go unindexed."""
    try:
        return len(bytes.fromhex(fingerprint)) == len(bytes.fromhex(data_hash)) == HASH_BYTES
    except ValueError:
        return False


class StageIndex:
    """Entries by sample id. Rows are appended; a replaced or dropped sample leaves its old
    row unused until the index is written again (``to_bytes`` keeps only live rows)."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self._samples: list[str] = []
        self.hashes = bytearray()  # fingerprint + data hash, raw, per row
        self._sizes = array("q")  # the record file's size
        # its mtime in ns (local files: an array) or version tag (object stores: a list)
        self._versions: array | list[Any] = array("q")
        self.halts: dict[int, list[list[str]]] = {}  # row -> [code, message] per reason
        self._shapes: list[tuple[str, ...]] = []  # distinct lists of artifact names
        self._shape_of = array("i")  # row -> index in _shapes, or NO_FILES
        self._files_at = array("q")  # row -> where its artifact sizes start in _file_sizes
        self._file_sizes = array("q")
        self.seal: list[int] | None = None  # the sealed folder's [inode, ctime_ns], if any
        self._shared = False  # rows and sample list shared with another index (from_bytes)
        self._text: str | None = None  # the sample list as read, to compare the next one with

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.rows

    def samples(self) -> Iterator[str]:
        return iter(self.rows)

    def fingerprint(self, row: int) -> str:
        start = row * 2 * HASH_BYTES
        return self.hashes[start : start + HASH_BYTES].hex()

    def data_hash(self, row: int) -> str:
        start = (row * 2 + 1) * HASH_BYTES
        return self.hashes[start : start + HASH_BYTES].hex()

    def halt(self, row: int) -> list[list[str]]:
        return self.halts.get(row) or []

    def head(self, stage: str, sample_id: str, row: int) -> IndexedHead:
        halt = self.halts.get(row)
        reasons = tuple(Reason(code=code, message=message) for code, message in halt or ())
        return IndexedHead(stage, sample_id, self.hashes, row, reasons)

    def entry(self, row: int) -> IndexEntry:
        """The row as the folder's ``unchanged`` check reads it."""
        return IndexEntry(
            size=self._sizes[row],
            version=self._versions[row],
            fingerprint=self.fingerprint(row),
            data_hash=self.data_hash(row),
            halt=self.halt(row),
            artifacts=self.artifacts(row),
        )

    def artifacts(self, row: int) -> list[list[Any]]:
        shape = self._shape_of[row]
        if shape == NO_FILES:
            return []
        names = self._shapes[shape]
        start = self._files_at[row]
        return [[name, self._file_sizes[start + i]] for i, name in enumerate(names)]

    def _own(self) -> None:
        """Copy the sample list and rows shared with another index before changing them
        (and forget the text they were read from: it no longer describes them)."""
        self._text = None
        if self._shared:
            self.rows, self._samples, self._shared = dict(self.rows), list(self._samples), False

    def put(self, sample_id: str, signature: Signature, entry: IndexEntry) -> None:
        """Add or replace a sample's entry (fingerprint and data hash: see ``packable``)."""
        self._own()
        self.rows[sample_id] = row = len(self._samples)
        self._samples.append(sample_id)
        self.hashes += bytes.fromhex(entry.fingerprint) + bytes.fromhex(entry.data_hash)
        self._sizes.append(signature[0])
        version = signature[1]
        if isinstance(self._versions, array) and type(version) is not int:
            self._versions = self._versions.tolist()
        self._versions.append(version)
        if entry.halt:
            self.halts[row] = [list(reason) for reason in entry.halt]
        names = tuple(name for name, _ in entry.artifacts)
        if not names:
            self._shape_of.append(NO_FILES)
            self._files_at.append(0)
            return
        if names not in self._shapes:
            self._shapes.append(names)
        self._shape_of.append(self._shapes.index(names))
        self._files_at.append(len(self._file_sizes))
        self._file_sizes.extend(size for _, size in entry.artifacts)

    def drop(self, sample_id: str) -> bool:
        if sample_id not in self.rows:
            return False
        self._own()
        del self.rows[sample_id]
        return True

    def merge(self, other: StageIndex) -> None:
        """Take every entry of ``other`` (a shard's index) over this one's."""
        for sample_id, row in other.rows.items():
            self.put(sample_id, (other._sizes[row], other._versions[row]), other.entry(row))

    def to_bytes(self) -> bytes:
        live = self if len(self.rows) == len(self._samples) else self._compacted()
        versions = live._versions
        document = {
            "format": INDEX_FORMAT,
            "samples": "\n".join(live._samples),  # one string: quick to read and compare
            "hashes": bytes(live.hashes),
            "sizes": live._sizes.tobytes(),
            "versions": versions.tobytes() if isinstance(versions, array) else versions,
            "halts": live.halts,
            "shapes": [list(shape) for shape in live._shapes],
            "shape_of": live._shape_of.tobytes(),
            "files_at": live._files_at.tobytes(),
            "file_sizes": live._file_sizes.tobytes(),
            "seal": self.seal,
        }
        return marshal.dumps(document)

    def _compacted(self) -> StageIndex:
        """A copy without the rows of replaced or dropped samples."""
        live = StageIndex()
        for sample_id, row in self.rows.items():
            live.put(sample_id, (self._sizes[row], self._versions[row]), self.entry(row))
        return live

    @classmethod
    def from_bytes(cls, data: bytes, like: StageIndex | None = None) -> StageIndex:
        """The index stored in ``data``; an empty one when it is not a readable index (an
        old format, a damaged file): the entries are then verified again.

        ``like``: an index read before; when this one lists the same samples in the same
        order (the usual case: every stage's index lists every sample), it shares that
        one's sample list and row numbers until either changes (a tenth of the memory
        and time for ten stages)."""
        try:
            return cls._parse(marshal.loads(data), like)
        except (ValueError, EOFError, TypeError, KeyError, AttributeError, IndexError):
            return cls()

    @classmethod
    def _parse(cls, document: Any, like: StageIndex | None) -> StageIndex:
        index = cls()
        if not isinstance(document, dict) or document.get("format") != INDEX_FORMAT:
            return index
        text = document["samples"]
        if not isinstance(text, str):
            raise TypeError("samples")
        if like is not None and like._text is not None and like._text == text:
            index._samples, index.rows, index._shared = like._samples, like.rows, True
            like._shared = True
        else:
            samples = list(map(sys.intern, text.split("\n"))) if text else []
            index._samples, index._text = samples, text
            index.rows = dict(zip(samples, range(len(samples)), strict=True))
        samples = index._samples
        index.hashes = bytearray(document["hashes"])
        index._sizes = _array(document["sizes"])
        versions = document["versions"]
        index._versions = _array(versions) if isinstance(versions, bytes) else list(versions)
        index.halts = dict(document["halts"])
        index._shapes = [tuple(shape) for shape in document["shapes"]]
        index._shape_of = _array(document["shape_of"], "i")
        index._files_at = _array(document["files_at"])
        index._file_sizes = _array(document["file_sizes"])
        seal = document.get("seal")
        index.seal = list(seal) if isinstance(seal, list) and len(seal) == 2 else None
        rows = len(samples)
        columns = (len(index._sizes), len(index._versions), len(index._shape_of))
        if len(index.hashes) != rows * 2 * HASH_BYTES or columns != (rows,) * 3:
            raise ValueError("columns of different lengths")
        return index


class RecordStore(Protocol):
    """What the resume index needs of its store (``Store``): where a stage's records are,
    and a record read and verified (None when absent or damaged; a damaged one is removed
    and its stage unsealed)."""

    files: Folder

    def stage_key(self, stage: str) -> str: ...  # the folder of the stage's records
    def sample_key(self, stage: str, sample_id: str) -> str: ...  # a sample's files folder
    def record_key(self, stage: str, sample_id: str) -> str: ...
    def load(self, stage: str, sample_id: str) -> Record | None: ...


@dataclass
class _Pass:
    """What one pass (a run, a status) knows of a stage's index and records folder."""

    stamp: tuple[int, int] | None = None  # the folder's (inode, ctime) when first looked at
    stamped_at: int = 0  # time.time_ns() then
    sealed: bool = False  # the index's seal matched the stamp: entries need no stat
    checked: set[str] = field(default_factory=set)  # entries checked (or written) this pass


class ResumeIndex:
    """The indexes of a store's stages and their seals, as one process sees them
    (``store.index``): each stage's index is read when first asked for, changed as records
    are verified, stored and removed, and written (``flush``) with the seals a pass earned.
    """

    def __init__(self, store: RecordStore) -> None:
        self._store = store
        self._indexes: dict[str, StageIndex] = {}
        self._passes: dict[str, _Pass] = {}
        self._dirty: set[str] = set()
        self._part: str | None = None
        self._files_read: dict[str, list[str]] = {}  # stage -> the index files read
        self._state_names: list[str] | None = None

    def head(self, stage: str, sample_id: str) -> Head | None:
        """The head of the stored record: from the index when the stage is sealed or the
        files are unchanged, else read and verified (then indexed)."""
        index = self._indexes.get(stage) or self._index(stage)
        state = self._passes[stage]
        row = index.rows.get(sample_id)
        if row is not None:
            if state.sealed:
                return index.head(stage, sample_id, row)
            if self._unchanged(stage, sample_id, row):
                state.checked.add(sample_id)
                return index.head(stage, sample_id, row)
            self._unindex(stage, sample_id)
        if not self._store.files.may_exist(self._store.record_key(stage, sample_id)):
            return None
        record = self._store.load(stage, sample_id)
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

    def data_hash(self, stage: str, sample_id: str) -> str:
        """The content hash the index holds for a record the plan memo gives as current (its
        stage is sealed: the entry is the record's); "" when there is no record."""
        index = self._indexes.get(stage) or self._index(stage)
        row = index.rows.get(sample_id)
        if row is not None:
            return index.data_hash(row)
        head = self.head(stage, sample_id)  # not indexed: read (and verified)
        return head.data_hash if head is not None else ""

    def seal(self, stage: str) -> tuple[int, int] | None:
        """The stage's seal when this pass found it sealed (or sealed it), else None."""
        index = self._index(stage)
        if not self._passes[stage].sealed or index.seal is None:
            return None
        return (index.seal[0], index.seal[1])

    def vouched_for(self, stage: str) -> Iterator[tuple[str, IndexEntry]]:
        """The entries the stage's seal vouches for this pass, by sample id (none when the
        stage is not sealed): what ``head`` gives without looking at the record's files."""
        if self.seal(stage) is None:
            return iter(())
        return self.entries(stage)

    def entries(self, stage: str) -> Iterator[tuple[str, IndexEntry]]:
        """Every entry of the stage's index, sealed or not, by sample id."""
        index = self._index(stage)
        for sample_id, row in list(index.rows.items()):
            yield sample_id, index.entry(row)

    def recheck(self, stage: str, share: float | None = None) -> tuple[int, int]:
        """Read again a random ``share`` (default ``RECHECK_SHARE``) of the records the
        stage's seal vouches for, as any read checks a record (its content hash, its files'
        presence and sizes: ``load``). A damaged one is removed and the stage unsealed, so
        this pass plans the stage in full and recomputes it. Returns (checked, damaged)."""
        index = self._index(stage)
        share = RECHECK_SHARE if share is None else share
        if self.seal(stage) is None or share <= 0:
            return 0, 0
        samples = list(index.rows)
        picked = random.sample(samples, min(len(samples), math.ceil(share * len(samples))))
        damaged = 0
        for sample_id in picked:
            if self._store.load(stage, sample_id) is None:  # removed if there, stage unsealed
                self.unseal(stage)
                self.forget(stage, sample_id)
                damaged += 1
        return len(picked), damaged

    def forget(self, stage: str, sample_id: str) -> None:
        """Drop a sample's entry (its record was removed)."""
        self._unindex(stage, sample_id)

    def look_again(self) -> None:
        """Start a new pass (a run, a status): listings and seals seen before are out of date."""
        self._store.files.forget_listings()
        for stage in self._indexes:
            self._take_stamp(stage)

    def remember(self, record: Record, stored_as: Signature | None = None) -> None:
        """Put a record this run has just stored in its stage's index (done records only).

        ``stored_as`` is the record file's signature when the writer knows it (saves asking
        the object store again). Writing into a stage's folder breaks its seal."""
        self._index(record.stage)
        self.unseal(record.stage)
        self._index_record(record, stored_as)

    def unseal(self, stage: str) -> None:
        """This process wrote or removed a record of the stage: no seal from this pass, and
        none kept. (A stage not looked at yet finds its folder changed when it is.)"""
        index = self._indexes.get(stage)
        if index is None:
            return
        state = self._passes[stage]
        state.sealed, state.stamp = False, None
        if index.seal is not None:
            index.seal = None
            self._dirty.add(stage)

    def write_as(self, part: str | None) -> None:
        """Write indexes to files of this ``part`` (a shard), or to the main files (None).

        Shards of one run finish at different times; with one shared index file the last to
        finish would drop the entries of all others, and the next run would read every record
        again. Reading merges all files of a stage (each entry is checked anyway); a run that
        writes the main file removes the parts it merged.
        """
        self._part = part

    def flush(self) -> None:
        """Write the indexes that changed, sealing those this pass found whole (atomically;
        a lost index only costs time)."""
        for stage in sorted(self._indexes):
            if self._may_seal(stage):
                self._indexes[stage].seal = list(self._passes[stage].stamp or ())
                self._passes[stage].sealed = True
                self._dirty.add(stage)
        files = self._store.files
        for stage in sorted(self._dirty):
            key = _index_key(stage, self._part)
            files.write_bytes(key, self._indexes[stage].to_bytes())
            if self._part is None:
                for merged in self._files_read.get(stage, []):
                    if merged != key:
                        files.delete(merged)
                self._files_read[stage] = [key]
        self._dirty.clear()

    def _index_record(self, record: Record, stored_as: Signature | None = None) -> None:
        """Index a verified, stored record (a failed one is dropped from the index)."""
        if record.status != "done" or not packable(record.fingerprint, record.data_hash):
            self._unindex(record.stage, record.sample)
            return
        index = self._index(record.stage)
        key = self._store.record_key(record.stage, record.sample)
        signature = stored_as or self._store.files.signature(key)
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

    def _unchanged(self, stage: str, sample_id: str, row: int) -> bool:
        """True when the record's file and its files look as when the entry was made."""
        try:
            folder = self._store.sample_key(stage, sample_id)
        except ValueError:  # no sample id: a damaged index file
            return False
        return self._store.files.unchanged(folder, self._indexes[stage].entry(row))

    def _may_seal(self, stage: str) -> bool:
        """True when this pass may seal the stage: its folder was already old when first
        looked at and is unchanged since, and every entry of its index has been checked
        (those the pass did not ask for are checked now; any that fails is dropped)."""
        state, index = self._passes[stage], self._indexes[stage]
        if state.sealed or state.stamp is None or self._part is not None or not index:
            return False
        if state.stamped_at - state.stamp[1] < SEAL_AFTER_NS:
            return False
        folder = self._store.stage_key(stage)
        if self._store.files.stamp(folder) != state.stamp:
            return False
        for sample_id in [name for name in index.samples() if name not in state.checked]:
            if not self._unchanged(stage, sample_id, index.rows[sample_id]):
                self._unindex(stage, sample_id)
        return self._store.files.stamp(folder) == state.stamp

    def _index(self, stage: str) -> StageIndex:
        """The stage's index, read (its files merged) when first asked for."""
        if stage not in self._indexes:
            keys = [f".state/{name}" for name in self._state_files() if _indexes_of(stage, name)]
            like = next(iter(self._indexes.values()), None)
            parts = [self._read_index(key, like) for key in keys]
            index = parts[0] if parts else StageIndex()
            for part in parts[1:]:
                index.merge(part)
                index.seal = None  # a shard wrote records since
            self._files_read[stage] = keys
            self._indexes[stage] = index
            self._take_stamp(stage)
            if self._part is None and set(keys) - {_index_key(stage)}:
                self._dirty.add(stage)  # merge the shards' files into the main one
        return self._indexes[stage]

    def _take_stamp(self, stage: str) -> None:
        """Look at the stage's folder for this pass; sealed if it matches the index's seal."""
        stamp = self._store.files.stamp(self._store.stage_key(stage))
        seal = self._indexes[stage].seal
        self._passes[stage] = _Pass(
            stamp=stamp,
            stamped_at=time.time_ns(),
            sealed=stamp is not None and seal is not None and tuple(seal) == stamp,
        )

    def _state_files(self) -> list[str]:
        if self._state_names is None:  # listed once per store
            self._state_names = self._store.files.names(".state", ".index")
        return self._state_names

    def _read_index(self, key: str, like: StageIndex | None = None) -> StageIndex:
        try:
            return StageIndex.from_bytes(self._store.files.read_bytes(key), like)
        except OSError:
            return StageIndex()


def _index_key(stage: str, part: str | None = None) -> str:
    return f".state/{stage}.{part}.index" if part else f".state/{stage}.index"


def _indexes_of(stage: str, name: str) -> bool:
    """True for ``<stage>.index`` and ``<stage>.<part>.index`` (stage names have no dots)."""
    return name.startswith(f"{stage}.") and name.endswith(".index")


def _array(data: bytes, code: str = "q") -> array:
    column = array(code)
    column.frombytes(data)
    return column
