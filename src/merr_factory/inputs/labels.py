"""Reading a MER2023-style label CSV (``name, discrete, valence`` or ``name, label``)."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from merr_factory.inputs.text_files import NotUtf8Error, printable, read_utf8

NAME_COLUMNS = ("name",)
LABEL_COLUMNS = ("discrete", "label")
VALENCE_COLUMNS = ("valence",)
KNOWN_MEDIA_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".jpg", ".jpeg", ".png")


class LabelFileError(ValueError):
    """The label file as a whole cannot be used (missing, unreadable, no name column)."""


@dataclass(frozen=True, slots=True)
class LabelRow:
    """One row of the label CSV: the ground-truth label of a clip."""

    name: str
    label: str | None
    valence: float | None
    line: int
    # What a dataset adapter knows besides (inputs/datasets/); a label CSV leaves them empty.
    native: str | None = None  # the label in the dataset's own words, before the label map
    excluded: str | None = None  # why the native label maps to no label of the run
    arousal: float | None = None
    scale: str | None = None  # the native scale of valence/arousal
    speaker: str | None = None
    text: str | None = None  # the transcript the dataset gives
    language: str | None = None
    split: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # open-set labels, sentiment...


@dataclass
class LabelTable:
    """All rows of a label CSV by clip name, plus the problems met while reading it."""

    path: Path
    rows: dict[str, LabelRow] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def outside(self, label_set: list[str]) -> Counter[str]:
        """Counts of labels that are not in ``label_set``."""
        allowed = set(label_set)
        return Counter(
            row.label for row in self.rows.values() if row.label and row.label not in allowed
        )


def _pick_column(header: list[str], candidates: tuple[str, ...]) -> int | None:
    for candidate in candidates:
        if candidate in header:
            return header.index(candidate)
    return None


def _clean_name(raw: str) -> str:
    name = raw.strip()
    lowered = name.lower()
    if not lowered.endswith(KNOWN_MEDIA_SUFFIXES):  # one check for most names
        return name
    for suffix in KNOWN_MEDIA_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _parse_valence(raw: str) -> float | None:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {raw!r}")
    return value


def read_label_table(path: Path) -> LabelTable:
    """Read a label CSV; bad rows are reported in ``problems`` and skipped, never fatal."""
    try:
        rows = list(csv.reader(io.StringIO(read_utf8(path), newline="")))
    except OSError as error:
        raise LabelFileError(f"{path}: cannot read label file ({error.strerror})") from error
    except NotUtf8Error as error:
        raise LabelFileError(f"{path}: {error}") from None
    except csv.Error as error:
        raise LabelFileError(f"{path}: not a CSV file ({printable(str(error))})") from None
    if not rows:
        raise LabelFileError(f"{path}: the label file is empty")
    header = [column.strip().lower() for column in rows[0]]
    name_col = _pick_column(header, NAME_COLUMNS)
    label_col = _pick_column(header, LABEL_COLUMNS)
    if name_col is None or label_col is None:
        raise LabelFileError(
            f"{path}: needs columns 'name' and 'discrete' (or 'label'); "
            f"found {printable(', '.join(header))}"
        )
    valence_col = _pick_column(header, VALENCE_COLUMNS)
    table = LabelTable(path=path)
    for line_no, row in enumerate(rows[1:], start=2):
        _add_row(table, row, line_no, name_col, label_col, valence_col)
    return table


def _add_row(
    table: LabelTable,
    row: list[str],
    line_no: int,
    name_col: int,
    label_col: int,
    valence_col: int | None,
) -> None:
    if not any(cell.strip() for cell in row):
        return
    if len(row) <= max(name_col, label_col):
        table.problems.append(f"line {line_no}: too few columns, skipped")
        return
    name = _clean_name(row[name_col])
    if not name:
        table.problems.append(f"line {line_no}: empty name, skipped")
        return
    if name in table.rows:
        first = table.rows[name].line
        table.problems.append(f"line {line_no}: duplicate name {name!r} (first on line {first})")
        return
    label = row[label_col].strip().lower() or None
    valence = None
    if valence_col is not None and valence_col < len(row) and row[valence_col].strip():
        try:
            valence = _parse_valence(row[valence_col])
        except ValueError:
            table.problems.append(f"line {line_no}: valence {row[valence_col]!r} is not a number")
    table.rows[name] = LabelRow(name=name, label=label, valence=valence, line=line_no)
