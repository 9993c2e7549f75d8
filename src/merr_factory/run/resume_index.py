"""A stage's resume index: the heads of its done records, compact enough for 100k samples.

A no-op re-run looks at every (stage, sample); reading and hashing each record would cost
far more than the run itself, so each stage keeps the heads of the records it verified (what
planning needs: fingerprint, data hash, halt reasons) with what the record file and its
files looked like then (sizes, the record's modification time or object version). The store
trusts an entry only while those still match (``Folder.unchanged``), or while the stage is
*sealed* (see ``Store``): the index is a cache, and losing it costs time, never correctness.

The entries are kept in columns, not as one object per entry: 32 bytes of hashes, two
integers and, for records with files, their sizes in a flat array. 100k entries load from
disk in milliseconds and take a few MB, where a dict of lists took seconds and half a GB
for ten stages. Stored with ``marshal`` (fast, and unlike pickle it never runs code on load).
"""

from __future__ import annotations

import marshal
import sys
from array import array
from collections.abc import Iterator
from typing import Any, Literal

from merr_factory.run.folders import IndexEntry, Signature
from merr_factory.run.records import ErrorInfo
from merr_factory.stage_data import Reason

INDEX_FORMAT = 3
HASH_BYTES = 16  # fingerprints and data hashes are 32 hex digits
NO_FILES = -1


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


def _array(data: bytes, code: str = "q") -> array:
    column = array(code)
    column.frombytes(data)
    return column
