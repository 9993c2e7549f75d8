"""``transcription_en_all.csv``: the sentence Emotion-LLaMA puts in every prompt.

Emotion-LLaMA's dataset reads it with pandas from the folder of its annotation file and
looks each clip's ``sentence`` up by ``name`` (first_face.py); a missing row raises and an
empty cell becomes the text "nan". So every exported name has a row, and the sentence is
never empty and never a string pandas reads as missing ("NA", "null", "None"...).

The names are the clips' own: when pandas would not read one back as itself (every name a
number, ``00001`` read as 1; a name such as ``NA`` read as missing), the export says so
(``misread_names``), as Emotion-LLaMA then finds no sentence for those clips.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from merr_factory.dataset.entry import ExportEntry

TRANSCRIPTS_FILE = "transcription_en_all.csv"
NO_SPEECH = "(no speech)"
# pandas' default missing-value strings (pandas.read_csv, ``na_values``).
_PANDAS_MISSING = {
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
}  # fmt: skip
# What pandas reads as a number or a boolean; a column is kept as text when one cell is not.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_BOOLEAN = {"True", "TRUE", "true", "False", "FALSE", "false"}


def sentence(entry: ExportEntry) -> str:
    """The clip's English sentence (else its transcript), as Emotion-LLaMA will read it."""
    text = entry.subtitle
    if not text:
        return NO_SPEECH
    return f"{text}." if text in _PANDAS_MISSING else text


def transcripts_text(entries: list[ExportEntry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "sentence"])
    for entry in sorted(entries, key=lambda entry: entry.name):
        writer.writerow([entry.name, sentence(entry)])
    return buffer.getvalue()


def write_transcripts(entries: list[ExportEntry], folder: Path) -> Path:
    path = folder / TRANSCRIPTS_FILE
    path.write_text(transcripts_text(entries), "utf-8")
    return path


def misread_names(names: Sequence[str]) -> list[str]:
    """The names ``pandas.read_csv`` would not give back as themselves from the ``name``
    column: all of them when every one reads as a number or a boolean, else those it reads
    as missing."""
    if names and all(_NUMBER.fullmatch(name) or name in _BOOLEAN for name in names):
        return list(names)
    return [name for name in names if name in _PANDAS_MISSING]
