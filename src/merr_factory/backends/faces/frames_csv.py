"""``frames.csv``: the faces stage's per-frame table (``artifacts.FRAMES_CSV``), written
from a backend's ``FaceTable`` and read back as the ``FrameRow`` objects it was written from,
by the stages that read it (peak, features).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from merr_factory.backends.faces.base import Box, FaceTable, FrameRow

EXPRESSION_PREFIX = "expression_"


def frames_csv_columns(au_names: list[str], expression_names: list[str]) -> list[str]:
    """The header of ``frames.csv``."""
    base = ["frame", "time", "face", "x", "y", "w", "h", "confidence"]
    aus = [f"{au}_r" for au in au_names] + [f"{au}_c" for au in au_names]
    return base + aus + [EXPRESSION_PREFIX + name for name in expression_names]


def write_frames_csv(path: Path, table: FaceTable) -> None:
    """One row per analysed frame; empty cells where there is no face or no value."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(frames_csv_columns(table.au_names, table.expression_names))
        for row in table.rows:
            writer.writerow(_csv_row(row, table.au_names, table.expression_names))


def _csv_row(row: FrameRow, au_names: list[str], expression_names: list[str]) -> list[Any]:
    if row.box is None:
        return [row.index, row.time, 0] + [""] * (5 + 2 * len(au_names) + len(expression_names))
    box = [_cell(value, 1) for value in (row.box.x, row.box.y, row.box.w, row.box.h)]
    intensities = [_cell(row.intensities.get(au), 4) for au in au_names]
    presence = [row.presence.get(au, "") for au in au_names]
    expression = [_cell(row.expression.get(name), 4) for name in expression_names]
    face = [row.index, row.time, 1, *box, _cell(row.confidence, 4)]
    return face + intensities + presence + expression


def _cell(value: float | None, digits: int) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return round(float(value), digits)


def read_frames_csv(path: Path) -> list[FrameRow]:
    """``frames.csv`` back as the rows it was written from (``write_frames_csv``); a frame
    without a face has no box, an empty cell is a value that was not measured."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [_frame_row(raw) for raw in csv.DictReader(handle)]


def _frame_row(raw: dict[str, str]) -> FrameRow:
    def number(key: str) -> float | None:
        value = raw.get(key)
        return float(value) if value not in ("", None) else None

    row = FrameRow(index=int(raw["frame"]), time=float(raw["time"]))
    if not int(float(raw["face"] or 0)):
        return row
    x, y, w, h = (number(key) for key in ("x", "y", "w", "h"))
    row.box = Box(x=x or 0.0, y=y or 0.0, w=w or 0.0, h=h or 0.0)
    row.confidence = number("confidence")
    for key in raw:
        au = key[:-2]
        if key.startswith(EXPRESSION_PREFIX):
            if (value := number(key)) is not None:
                row.expression[key.removeprefix(EXPRESSION_PREFIX)] = value
        elif key.endswith("_r") and (value := number(key)) is not None:
            row.intensities[au] = value
        elif key.endswith("_c") and (value := number(key)) is not None:
            row.presence[au] = int(value)
    return row
