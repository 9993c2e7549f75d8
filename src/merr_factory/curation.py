"""The curation CSV: a human accepts or rejects samples and may fix a label, then the label
stage reads the decisions back (MERR's fine set was screened by hand).

Format (UTF-8, one header row): ``id,label,tier,caption,reasoning,transcript,accept``.
``accept`` is empty (no decision), ``yes`` (into the fine tier) or ``no`` (rejected). A
``label`` that differs from the exported one is a correction. Extra columns are ignored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .atomic import write_text_atomic

COLUMNS = ("id", "label", "tier", "caption", "reasoning", "transcript", "accept")
REQUIRED = ("id", "accept")
Decision = Literal["yes", "no"]


class CurationError(ValueError):
    """The curation file cannot be read at all (missing, no header, required column absent)."""


@dataclass(frozen=True)
class CurationRow:
    id: str
    accept: Decision | None
    label: str | None  # as written in the file ("" -> None)
    line: int


@dataclass
class CurationTable:
    path: Path
    rows: dict[str, CurationRow] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # "<file>:<line>: <why>"


def write_curation_csv(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write rows (dicts with the COLUMNS keys; missing keys are empty) and return the count.

    Text is written on one line per field (newlines become spaces) so a spreadsheet shows
    one sample per row.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_one_line(row.get(column)) for column in COLUMNS])
        count += 1
    write_text_atomic(path, buffer.getvalue())
    return count


def read_curation_csv(path: Path) -> CurationTable:
    """Read decisions back; bad rows are reported with their line number and skipped."""
    table = CurationTable(path=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CurationError(f"{path}: curation file not found") from None
    except UnicodeDecodeError:
        raise CurationError(f"{path}: not UTF-8 text") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise CurationError(f"{path}: missing column(s): {', '.join(missing)}")
    reader.fieldnames = header
    for number, raw in enumerate(reader, start=2):
        row, problem = _parse_row(raw, number)
        if problem:
            table.problems.append(f"{path}:{number}: {problem}")
        elif row is not None:
            if row.id in table.rows:
                first = table.rows[row.id].line
                table.problems.append(
                    f"{path}:{number}: duplicate id {row.id!r} (see line {first})"
                )
                continue
            table.rows[row.id] = row
    return table


def _parse_row(raw: dict[str, Any], line: int) -> tuple[CurationRow | None, str | None]:
    if None in raw:  # more fields than the header has
        return None, "more fields than columns"
    sample_id = (raw.get("id") or "").strip()
    if not sample_id:
        return None, "empty id"
    accept = (raw.get("accept") or "").strip().lower()
    if accept not in ("", "yes", "no"):
        return None, f"accept must be empty, yes or no (got {accept!r})"
    label = (raw.get("label") or "").strip().lower() or None
    decision: Decision | None = accept or None  # type: ignore[assignment]
    return CurationRow(id=sample_id, accept=decision, label=label, line=line), None


def _one_line(value: Any) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())
