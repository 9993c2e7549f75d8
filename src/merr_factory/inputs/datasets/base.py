"""What a dataset adapter is and what it yields: one ``DatasetSample`` per sample.

An adapter reads a dataset's folder as the dataset is distributed (its own file names, label
files and vocabulary) and describes each sample without opening any media: the file (or a
time range of it, optionally a crop), the label in the dataset's own words, valence/arousal
with their native scale, the speaker, the given transcript and the split. A line it cannot
use becomes one problem naming the file, the line and the reason; the other samples go on.
"""

from __future__ import annotations

import csv
import io
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from merr_factory.inputs.sample_ids import safe_sample_id
from merr_factory.inputs.segment import Segment

DatasetName = Literal[
    "mer2023",
    "mer2024",
    "mer2025",
    "mer2026",
    "meld",
    "iemocap",
    "crema-d",
    "ravdess",
    "dfew",
    "mafw",
    "cmu-mosei",
    "ch-sims",
    "manifest",
]
MEDIA_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv", ".wav", ".mp3")


class DatasetInput(BaseModel):
    """``input: {dataset: NAME, root: DIR}``: a dataset read in its distributed layout."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName = Field(description="which dataset's layout `root` holds")
    root: Path = Field(
        description="the dataset's folder as distributed (for `manifest`: the JSONL or CSV file)"
    )
    label_map: dict[str, str | None] = Field(
        default_factory=dict,
        description="the dataset's label words to the run's label_set, over the adapter's "
        "default map; null excludes a label",
    )
    fold: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="IEMOCAP: the session held out as test (default 5); "
        "DFEW/MAFW: the official set_N split (default 1)",
    )

    def __str__(self) -> str:
        return f"{self.dataset} dataset at {self.root}"

    @field_validator("label_map")
    @classmethod
    def _lower(cls, mapping: dict[str, str | None]) -> dict[str, str | None]:
        return {
            key.strip().lower(): None if value is None else value.strip().lower()
            for key, value in mapping.items()
        }


@dataclass(frozen=True)
class DatasetSample:
    """One sample as its dataset describes it; ``media`` is where the file is (or would be)."""

    id: str
    media: Path
    origin: str  # "file:line" that described it, for messages
    segment: Segment | None = None
    label: str | None = None  # in the dataset's own words, normalised to lower case
    valence: float | None = None
    arousal: float | None = None
    scale: str | None = None  # the native scale of valence/arousal ("-1..1", "1..5")
    speaker: str | None = None
    text: str | None = None  # the transcript the dataset gives
    language: str | None = None
    split: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # open-set labels, sentiment...


class Problems(list[str]):
    """Problems met while reading, each one line: ``file:line: reason``."""

    def add(self, where: Path | str, line: int | None, reason: str) -> None:
        self.append(f"{where}:{line}: {reason}" if line is not None else f"{where}: {reason}")


class Adapter(ABC):
    """One dataset's layout. ``label_map`` is its documented default map from its words to
    the MERR labels; the config's ``input.label_map`` overrides entries of it."""

    name: ClassVar[str]
    label_map: ClassVar[Mapping[str, str]]
    note: ClassVar[str] = ""  # one line for the docs: what is read, what is not

    @abstractmethod
    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        """Every sample of the dataset under ``settings.root``, in a stable order."""


# -- helpers the adapters share ----------------------------------------------------------------


def read_text(path: Path, problems: Problems, fallback: str | None = None) -> str | None:
    """A text file's content (UTF-8, BOM or not; else ``fallback``, said once); None, with
    the problem, when it is missing or unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.add(path, None, "file not found; skipped")
        return None
    except OSError as error:
        problems.add(path, None, f"cannot read ({error.strerror}); skipped")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if fallback is None:
            problems.add(path, None, f"not UTF-8 text ({error.reason}); skipped")
            return None
        problems.add(path, None, f"not UTF-8 text; read as {fallback}")
        return data.decode(fallback, errors="replace")


def read_csv_rows(
    path: Path,
    problems: Problems,
    required: tuple[str, ...],
    fallback: str | None = None,
    delimiter: str = ",",
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by lower-cased column name) of a CSV file, physical line numbers.

    A missing or unreadable file, or one without the ``required`` columns, is one problem and
    no rows; a row with too few cells is one problem and skipped."""
    text = read_text(path, problems, fallback)
    if text is None:
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        missing = [column for column in required if column not in header]
        if missing:
            problems.add(path, 1, f"missing column {', '.join(missing)}; file skipped")
            return
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) < len(header):
                problems.add(path, start, f"{len(cells)} cells for {len(header)} columns; skipped")
                continue
            yield start, dict(zip(header, (cell.strip() for cell in cells), strict=False))
    except csv.Error as error:
        problems.add(path, reader.line_num, f"not valid CSV ({error}); rest of file skipped")


def number(text: str | None) -> float | None:
    """A finite float, or None for an empty / NaN cell; ValueError for anything else."""
    if text is None or not text.strip() or text.strip().lower() in ("nan", "none"):
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def word(text: str | None) -> str | None:
    """A label cell in lower case, None when empty."""
    value = cell(text)
    return value.lower() if value else None


def cell(text: str | None) -> str | None:
    """A text cell, None when empty or NaN (pandas writes missing values so)."""
    if text is None:
        return None
    text = text.strip()
    return None if not text or text.lower() == "nan" else text


class MediaIndex:
    """The media files under a folder by stem (any extension): ``find("sample_1")``.

    Names come from label files, i.e. from data: only names listed here are ever opened, so
    no cell can point outside the folder."""

    def __init__(self, folder: Path, suffixes: tuple[str, ...] = MEDIA_SUFFIXES) -> None:
        self.folder = folder
        self.by_stem: dict[str, Path] = {}
        if not folder.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
            for name in sorted(filenames):
                stem, suffix = os.path.splitext(name)
                if name.startswith(".") or suffix.lower() not in suffixes:
                    continue  # AppleDouble ._x.avi and hidden files
                self.by_stem.setdefault(stem, Path(dirpath) / name)

    def find(self, stem: str) -> Path | None:
        return self.by_stem.get(stem)

    def expected(self, stem: str, suffix: str) -> Path:
        """Where a missing file would be (for its record), never outside the folder."""
        return self.folder / (safe_sample_id(stem) + suffix)


def media_or_missing(
    index: MediaIndex, stem: str, suffix: str, where: str, problems: Problems
) -> Path:
    """The file for ``stem``; a missing one is a problem and still a sample (its ingest
    record says the file is not there), so every labelled sample has a record."""
    found = index.find(stem)
    if found is None:
        problems.append(f"{where}: no media file {stem}{suffix} under {index.folder}")
        return index.expected(stem, suffix)
    return found
