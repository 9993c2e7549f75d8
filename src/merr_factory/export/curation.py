"""The export's curation file: one row per export entry, sorted by id, written as
``curation.csv`` in the export folder. The format (and its reader, which the label stage
uses to read a person's decisions back) lives in :mod:`merr_factory.curation.decisions`."""

from __future__ import annotations

from pathlib import Path

from merr_factory.curation.decisions import CurationRow, write_curation_csv
from merr_factory.dataset.entry import ExportEntry

CURATION_FILE = "curation.csv"


def row_for(entry: ExportEntry) -> CurationRow:
    """The entry's row, with no decision yet."""
    return CurationRow(
        id=entry.sample_id,
        label=entry.label or "",
        tier=entry.tier,
        caption=entry.caption,
        reasoning=entry.smp_reason_caption or "",
        transcript=entry.transcript,
    )


def write_curation(entries: list[ExportEntry], folder: Path) -> Path:
    path = folder / CURATION_FILE
    ordered = sorted(entries, key=lambda entry: entry.sample_id)  # the rows are made one by one
    write_curation_csv((row_for(entry) for entry in ordered), path)
    return path
