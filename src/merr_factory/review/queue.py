"""The review queue: which samples, in which order.

Filters: the tier, the label, and "sources disagree" (the label stage's voters and its
label are not all the same). Orders: ``disagree`` (sources disagree first, then by id),
``audit`` (a seeded uniform random order: reviewing its first n samples is a uniform sample
of the filtered population, the unbiased way to estimate its precision), ``id``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from merr_factory.dataset.entry import ExportEntry

Order = Literal["disagree", "audit", "id"]
ORDERS: tuple[Order, ...] = ("disagree", "audit", "id")


@dataclass(frozen=True)
class QueueRow:
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
