"""``transcription_en_all.csv``: the sentence Emotion-LLaMA puts in every prompt.

Emotion-LLaMA's dataset reads it with pandas from the folder of its annotation file and
looks each clip's ``sentence`` up by ``name`` (first_face.py); a missing row raises and an
empty cell becomes the text "nan". So every exported name has a row, and the sentence is
never empty and never a string pandas reads as missing ("NA", "null", "None"...).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from merr_factory.dataset.entry import ExportEntry

TRANSCRIPTS_FILE = "transcription_en_all.csv"
NO_SPEECH = "(no speech)"
# pandas' default missing-value strings (pandas.read_csv, ``na_values``).
_PANDAS_MISSING = {
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
}  # fmt: skip


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
