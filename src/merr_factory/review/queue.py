"""The review queue: which samples, in which order.

Filters: the tier, the label, and "sources disagree" (the label stage's voters and its
label are not all the same). Orders: ``disagree`` (sources disagree first, then by id),
``audit`` (a seeded uniform random order: reviewing its first n samples is a uniform sample
of the filtered population, the unbiased way to estimate its precision), ``id``.

At 100,000 samples reading every export record takes most of a minute, so the queue keeps
only what it needs, a :class:`QueueRow` per sample, in a cache of columns beside the
decisions (``<output>/review/queue.cache``), each row with the content hash of the record it
came from: a row is reused while its record's hash (from the store's index) is the same.
The rest of a sample is read when it is shown.

Even that check reads the store's index and lists 100,000 records (most of a second), so
the cache also keeps the export records folder's inode and change time (its *stamp*) when
its rows were checked against every record: while the folder's stamp is the same, no record
was written, replaced or removed (each enters the folder by a rename and leaves it by an
unlink, which set the folder's change time), and the rows are taken as they are, one
``stat`` in all. It is the resume index's seal (``run/resume_index.py``), with its rule: a
folder changed less than ``SEAL_AFTER_NS`` before it was looked at is not stamped (a coarse
clock could hide a later change).
"""

from __future__ import annotations

import logging
import marshal
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from merr_factory.dataset.entry import ExportEntry
from merr_factory.run.atomic import write_bytes_atomic

log = logging.getLogger(__name__)

Order = Literal["disagree", "audit", "id"]
ORDERS: tuple[Order, ...] = ("disagree", "audit", "id")
QUEUE_CACHE = "queue.cache"  # under <output>/review/
CACHE_FORMAT = 2


class QueueRow(NamedTuple):  # a tuple: 100k are made in milliseconds
    sample_id: str
    label: str | None
    tier: str
    disagree: bool


@dataclass(frozen=True)
class QueueFilter:
    tier: str = ""
    label: str = ""
    disagree: bool = False
    order: Order = "disagree"
    seed: int = 0

    def population(self) -> str:
        """What an audit in this queue samples: ``tier=fine,label=happy`` or ``all``."""
        parts = [
            f"tier={self.tier}" if self.tier else "",
            f"label={self.label}" if self.label else "",
        ]
        parts.append("disagree" if self.disagree else "")
        return ",".join(part for part in parts if part) or "all"


def queue_row(entry: ExportEntry) -> QueueRow:
    return QueueRow(entry.sample_id, entry.label, entry.tier, sources_disagree(entry))


def sources_disagree(entry: ExportEntry) -> bool:
    said = {vote for vote in entry.votes.values() if vote}
    if entry.label:
        said.add(entry.label)
    return len(said) > 1


def ordered(rows: list[QueueRow], chosen: QueueFilter) -> list[int]:
    """The indexes into ``rows`` (sorted by id) that ``chosen`` keeps, in its order."""
    kept = [
        index
        for index, row in enumerate(rows)
        if (not chosen.tier or row.tier == chosen.tier)
        and (not chosen.label or row.label == chosen.label)
        and (not chosen.disagree or row.disagree)
    ]
    if chosen.order == "disagree":
        kept.sort(key=lambda index: not rows[index].disagree)  # stable: by id within
    elif chosen.order == "audit":
        random.Random(chosen.seed).shuffle(kept)
    return kept


class RowCache(NamedTuple):
    """The queue's rows as last written (sorted by id), each with the content hash of the
    export record it came from, and ``stamp``: the export records folder's (inode, change
    time) when the rows were known to describe that folder's records in full, else None."""

    stamp: tuple[int, int] | None
    rows: list[QueueRow]
    hashes: list[str]

    def by_id(self) -> dict[str, tuple[str, QueueRow]]:
        """sample id -> (its record's content hash, its row)."""
        return {
            row.sample_id: (digest, row) for row, digest in zip(self.rows, self.hashes, strict=True)
        }


def read_row_cache(path: Path) -> RowCache | None:
    """The cache at ``path``; None when the file is missing or not this format (a cache:
    losing it costs time only)."""
    try:
        stored = marshal.loads(path.read_bytes())
        version, stamp, ids, hashes, labels, tiers, disagree = stored
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if version != CACHE_FORMAT:
        return None
    try:
        rows = list(map(QueueRow, ids.split("\n"), labels, tiers, map(bool, disagree)))
        digests = hashes.split("\n")
        kept = (int(stamp[0]), int(stamp[1])) if stamp is not None else None
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    if not rows or not (len(rows) == len(labels) == len(tiers) == len(disagree) == len(digests)):
        return None
    return RowCache(kept, rows, digests)


def write_row_cache(
    path: Path, rows: list[QueueRow], hashes: list[str], stamp: tuple[int, int] | None
) -> None:
    """The rows and their records' hashes as columns (the ids and the hashes one string
    each: quick to load), with the folder's stamp; a failure is only logged."""
    columns = (
        CACHE_FORMAT,
        None if stamp is None else list(stamp),
        "\n".join(row.sample_id for row in rows),
        "\n".join(hashes),
        [row.label for row in rows],
        [row.tier for row in rows],
        bytes(row.disagree for row in rows),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, marshal.dumps(columns))
    except OSError as error:
        log.warning("review: %s: the queue cache was not written: %s", path, error)
