"""The curation CSV: one row per sample for people to accept or reject, and its reader.

The label stage reads the decisions back, so the format is a contract: UTF-8, header
``id,label,tier,caption,reasoning,transcript,accept``; ``accept`` is empty (no decision),
``yes`` or ``no``. Written so a spreadsheet round trip keeps it readable: a byte-order mark
(Excel then opens it as UTF-8), CRLF line ends, every line break removed from the text, and
cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) prefixed with an
apostrophe, which the reader removes again. The reader also takes a spreadsheet's re-save:
any column order, extra columns, ``;`` as separator, Windows-1252 text, ``Yes``/``Y``/``No``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .entry import ExportEntry, clean_text

CURATION_FILE = "curation.csv"
COLUMNS = ("id", "label", "tier", "caption", "reasoning", "transcript", "accept")
FORMULA_START = ("=", "+", "-", "@")
_ACCEPT = {"": "", "yes": "yes", "y": "yes", "true": "yes", "no": "no", "n": "no", "false": "no"}

Accept = Literal["", "yes", "no"]


class CurationError(ValueError):
    """The curation CSV cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class CurationRow:
    id: str
    label: str
    tier: str
    caption: str
    reasoning: str
    transcript: str
    accept: Accept = ""


def row_for(entry: ExportEntry) -> CurationRow:
    return CurationRow(
        id=entry.sample_id,
        label=entry.label or "",
        tier=entry.tier,
        caption=entry.caption,
        reasoning=entry.smp_reason_caption or "",
        transcript=entry.transcript,
    )


def _protect(text: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (undone by ``_unprotect``)."""
    text = clean_text(text)
    if text.startswith(FORMULA_START) or (text[:1] == "'" and text[1:2] in FORMULA_START):
        return "'" + text
    return text


def _unprotect(text: str) -> str:
    if text[:1] == "'" and (text[1:2] in FORMULA_START or text[1:2] == "'"):
        return text[1:]
    return text


def curation_text(rows: Iterable[CurationRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_protect(getattr(row, column)) for column in COLUMNS])
    return buffer.getvalue()


def write_curation(entries: list[ExportEntry], folder: Path) -> Path:
    path = folder / CURATION_FILE
    rows = sorted((row_for(entry) for entry in entries), key=lambda row: row.id)
    path.write_bytes(curation_text(rows).encode("utf-8-sig"))
    return path


def read_curation(path: Path) -> list[CurationRow]:
    """The rows of a curation CSV, as written or as a spreadsheet saved it."""
    text = _decode(path)
    lines = text.splitlines()
    if not lines:
        raise CurationError(f"{path}: empty file, expected the header {','.join(COLUMNS)}")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise CurationError(f"{path}: line 1: missing columns: {', '.join(missing)}")
    reader.fieldnames = header
    rows: list[CurationRow] = []
    seen: set[str] = set()
    for raw in reader:
        line = reader.line_num
        values = {column: _unprotect((raw.get(column) or "").strip()) for column in COLUMNS}
        if not any(values.values()):
            continue
        if not values["id"]:
            raise CurationError(f"{path}: line {line}: empty id")
        if values["id"] in seen:
            raise CurationError(f"{path}: line {line}: id {values['id']!r} appears twice")
        seen.add(values["id"])
        accept = _ACCEPT.get(values["accept"].lower())
        if accept is None:
            raise CurationError(
                f"{path}: line {line}: accept must be empty, yes or no (got {values['accept']!r})"
            )
        rows.append(CurationRow(**{**values, "accept": accept}))
    return rows


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CurationError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")
