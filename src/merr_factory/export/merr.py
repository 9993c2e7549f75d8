"""Writing the four MERR files; what goes in them is :mod:`merr_factory.dataset.merr`. The
samples people checked (``merr-build review``) get the four files of their own too, in
``human_checked/``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from merr_factory.dataset.merr import COARSE, FINE, MerrSets, merr_value, txt_line
from merr_factory.export.jsonfile import write_indented_items

HUMAN_CHECKED_DIR = "human_checked"


def write_merr(
    sets: MerrSets, folder: Path, frame_counts: Mapping[str, int] | None = None
) -> list[Path]:
    """Write the four MERR files; returns their paths. ``frame_counts``: the frames of the
    clips the export re-encoded, by sample id."""
    counts = frame_counts or {}
    written = []
    for stem, entries, fine in ((COARSE, sets.coarse, False), (FINE, sets.fine, True)):
        json_path = folder / f"{stem}.json"
        document = ((entry.name, merr_value(entry, fine)) for entry in entries)  # names: unique
        write_indented_items(json_path, document, indent=4)
        lines = [txt_line(entry, counts.get(entry.sample_id)) + "\n" for entry in entries]
        txt_path = folder / f"{stem}.txt"
        txt_path.write_text("".join(lines), "utf-8")
        written += [json_path, txt_path]
    return written


def write_human_checked(
    sets: MerrSets, folder: Path, frame_counts: Mapping[str, int] | None = None
) -> list[Path]:
    """The MERR files of the human-checked samples, in ``human_checked/``; none: no files."""
    checked = MerrSets(
        coarse=[entry for entry in sets.coarse if entry.human_checked],
        fine=[entry for entry in sets.fine if entry.human_checked],
    )
    if not checked.coarse:
        return []
    subset = folder / HUMAN_CHECKED_DIR
    subset.mkdir(exist_ok=True)
    return write_merr(checked, subset, frame_counts)
