"""The curation CSV: a person accepts or rejects samples and may fix a label, then the label
stage reads the decisions back (MERR's fine set was screened by hand). The export writes it.

Format: a header ``id,label,tier,caption,reasoning,transcript,accept``, then one row per
sample. ``accept`` is empty (no decision), ``yes`` (into the fine tier) or ``no`` (rejected);
a ``label`` that differs from the exported one is a correction.

Writing keeps a spreadsheet round trip readable: UTF-8 with a byte-order mark (Excel then
opens it as UTF-8), CRLF line ends, every field on one line (line breaks, also literal
backslash-n, become spaces), and a cell that a spreadsheet would run as a formula (``=``,
``+``, ``-``, ``@``) or that starts with an apostrophe gets a leading apostrophe, which the
reader removes again.

Reading takes a spreadsheet's re-save: only ``id`` and ``accept`` are required, columns in
any order, missing or extra ones are fine; ``,`` or ``;`` as separator; UTF-8 (with or without
the mark), else Windows-1252; ``accept`` in any case, also ``y``/``n``/``true``/``false``;
blank rows are skipped. A bad row (empty or repeated id, unknown ``accept``, text beyond the
header's columns) is reported in ``problems`` as ``<file>:<line>: <why>`` and skipped; a
missing or unreadable file or an absent required column is a :class:`CurationError`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from merr_factory.run.atomic import atomic_text_file
from merr_factory.text import clean_text

COLUMNS = ("id", "label", "tier", "caption", "reasoning", "transcript", "accept")
REQUIRED = ("id", "accept")
FORMULA_START = ("=", "+", "-", "@")
_ESCAPED_START = (*FORMULA_START, "'")  # text starting so gets an apostrophe in front

Accept = Literal["", "yes", "no"]
_ACCEPT: dict[str, Accept] = {
    "": "",
    "yes": "yes",
    "y": "yes",
    "true": "yes",
    "no": "no",
    "n": "no",
    "false": "no",
}


class CurationError(ValueError):
    """The curation file cannot be read at all (missing, unreadable, required column absent)."""


@dataclass(frozen=True)
class CurationRow:
    """One sample's row; the text fields as written (``""`` when empty or absent)."""

    id: str
    label: str = ""
    tier: str = ""
    caption: str = ""
    reasoning: str = ""
    transcript: str = ""
    accept: Accept = ""
    line: int = field(default=0, compare=False)  # where the reader found it; 0: not read


@dataclass
class CurationTable:
    path: Path
    rows: dict[str, CurationRow] = field(default_factory=dict)  # by id, in file order
    problems: list[str] = field(default_factory=list)  # "<file>:<line>: <why>"


# -- writing ------------------------------------------------------------------------------
def curation_text(rows: Iterable[CurationRow]) -> str:
    """The file's text (without the byte-order mark), one line per row in the given order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_cells(row))
    return buffer.getvalue()


def write_curation_csv(rows: Iterable[CurationRow], path: Path) -> int:
    """Write ``rows`` to ``path`` (atomically, with the byte-order mark); return the count.
    The rows go to the file as they come (100k rows as one text would take 100 MB)."""
    count = 0
    with atomic_text_file(path, encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(_cells(row))
            count += 1
    return count


def _cells(row: CurationRow) -> list[str]:
    return [_protect(getattr(row, column)) for column in COLUMNS]


def _protect(text: str) -> str:
    """One line, kept from running as a formula (undone by ``_unprotect``)."""
    text = clean_text(text)
    return "'" + text if text.startswith(_ESCAPED_START) else text


def _unprotect(text: str) -> str:
    if text[:1] == "'" and text[1:2] and text[1:2] in _ESCAPED_START:
        return text[1:]
    return text


# -- reading ------------------------------------------------------------------------------
def read_curation_csv(path: Path) -> CurationTable:
    """Read the decisions; bad rows are reported in ``problems`` with their line and skipped."""
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise CurationError(f"{path}: missing column(s): {', '.join(missing)}")
    table = CurationTable(path=path)
    start = reader.line_num + 1
    for values in reader:
        line, start = start, reader.line_num + 1  # a quoted field may span lines
        row = _parse_row(header, values, line)
        problem = _add(table, row) if isinstance(row, CurationRow) else row
        if problem:
            table.problems.append(f"{path}:{line}: {problem}")
    return table


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CurationError(f"{path}: curation file not found") from None
    except OSError as error:
        raise CurationError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _parse_row(header: list[str], values: list[str], line: int) -> CurationRow | str | None:
    """The row, or why it is bad, or None for a blank row."""
    values = [_unprotect(value.strip()) for value in values]
    if not any(values):
        return None
    if any(values[len(header) :]):
        return "more fields than columns"
    cells = dict(zip(header, values, strict=False))
    text = {column: cells.get(column, "") for column in COLUMNS}
    if not text["id"]:
        return "empty id"
    accept = _ACCEPT.get(text["accept"].lower())
    if accept is None:
        return f"accept must be empty, yes or no (got {text['accept']!r})"
    return CurationRow(**{**text, "accept": accept}, line=line)


def _add(table: CurationTable, row: CurationRow) -> str | None:
    """Add ``row`` to the table, or say why not (its id is already there)."""
    first = table.rows.get(row.id)
    if first is not None:
        return f"duplicate id {row.id!r} (see line {first.line})"
    table.rows[row.id] = row
    return None
