"""MER2023-MER2026 (MERTools ``toolkit/preprocess/mer20*.py``; the challenges' HF folders).

MER2023: ``train/``, ``test1/``-``test3/`` beside ``{split}-label.csv`` (``name,discrete,
valence``; test3 has no valence); ``.avi`` and ``.mp4`` mixed, so a file is found by name
with any extension. Clips without a label row are the unlabelled pool.
MER2024: ``video-labeled/`` + ``label-disdim.csv``; ``video-unlabeled-with-test2noise/``.
MER2025/2026: ``video/{name}.mp4``, ``subtitle_chieng.csv`` (``name,chinese,english``, NaN
cells empty), ``track1_train*.csv`` (``name,discrete``), the candidates to predict
(``name``), and, once released, the test labels MERTools reads with ``with_gt``
(``track1_test_dis.csv`` / ``track1_test.csv``, ``name,discrete``). Open-set labels
``name,openset``, read as MERTools' ``string_to_list`` reads them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from merr_factory.inputs.datasets.base import (
    Adapter,
    DatasetInput,
    DatasetSample,
    MediaIndex,
    Problems,
    cell,
    number,
    read_csv_rows,
    word,
)

# The MER vocabularies (MER2026's README spells anger, happiness, sadness, worry).
MER_LABELS = {
    "neutral": "neutral",
    "angry": "angry",
    "anger": "angry",
    "happy": "happy",
    "happiness": "happy",
    "sad": "sad",
    "sadness": "sad",
    "worried": "worried",
    "worry": "worried",
    "surprise": "surprise",
    "surprised": "surprise",
}
VALENCE_SCALE = "-5..5"


class LabelRows:
    """``name -> (line, row)`` of one label CSV, with the problems of its lines."""

    def __init__(self, path: Path, problems: Problems, required: tuple[str, ...]) -> None:
        self.path = path
        self.rows: dict[str, tuple[int, dict[str, str]]] = {}
        if not path.is_file():  # a split without labels (test3's, the unlabelled pool)
            return
        for line, row in read_csv_rows(path, problems, required):
            name = Path(row["name"]).stem if row["name"] else ""
            if not name:
                problems.add(path, line, "empty name; skipped")
            elif name in self.rows:
                problems.add(path, line, f"{name} again (first on line {self.rows[name][0]})")
            else:
                self.rows[name] = (line, row)


def valence_of(row: dict[str, str], path: Path, line: int, problems: Problems) -> float | None:
    try:
        return number(row.get("valence"))
    except ValueError:
        problems.add(path, line, f"valence {row.get('valence')!r} is not a number; left empty")
        return None


def folder_samples(
    folder: Path, labels: LabelRows, split: str, problems: Problems
) -> Iterator[DatasetSample]:
    """The clips of one split folder with their label rows; labelled rows first checked for a
    file, then the clips no row names (unlabelled)."""
    index = MediaIndex(folder)
    for name, (line, row) in labels.rows.items():
        origin = f"{labels.path}:{line}"
        media = index.find(name)
        if media is None:
            problems.add(labels.path, line, f"no media file {name}.* in {folder}")
            media = index.expected(name, ".mp4")
        yield DatasetSample(
            id=name,
            media=media,
            origin=origin,
            label=word(row.get("discrete")),
            valence=valence_of(row, labels.path, line, problems),
            scale=VALENCE_SCALE if "valence" in row else None,
            split=split,
        )
    for name, media in index.by_stem.items():
        if name not in labels.rows:
            yield DatasetSample(id=name, media=media, origin=str(media), split=split)


class Mer2023(Adapter):
    name = "mer2023"
    label_map: ClassVar = MER_LABELS
    note = "train/, test1-3/ and {split}-label.csv; valence -5..5 (not in test3)"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        for split in ("train", "test1", "test2", "test3"):
            folder = settings.root / split
            labels = LabelRows(settings.root / f"{split}-label.csv", problems, ("name",))
            if folder.is_dir() or labels.rows:
                yield from folder_samples(folder, labels, split, problems)


class Mer2024(Adapter):
    name = "mer2024"
    label_map: ClassVar = MER_LABELS
    note = "video-labeled/ + label-disdim.csv (train); video-unlabeled-with-test2noise/ (test)"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        root = settings.root
        labels = LabelRows(root / "label-disdim.csv", problems, ("name", "discrete"))
        yield from folder_samples(root / "video-labeled", labels, "train", problems)
        unlabelled = LabelRows(root / "video-unlabeled.csv", problems, ())  # no such file
        pool = root / "video-unlabeled-with-test2noise"
        yield from folder_samples(pool, unlabelled, "test", problems)


class Mer2025(Adapter):
    """``video/`` holds every clip: train (track 1 labels), test (the candidates), the rest
    unlabelled. Subtitles give the words (English; the Chinese kept as ``text_zh``)."""

    name = "mer2025"
    label_map: ClassVar = MER_LABELS
    note = "video/ + track1_train_disdim.csv; subtitle_chieng.csv; open-set track2 labels"
    train_files: ClassVar = ("track1_train_disdim.csv",)
    candidate_files: ClassVar = ("track_all_candidates.csv",)
    test_files: ClassVar = ("track1_test_dis.csv",)  # MERTools' with_gt test labels
    # human-annotated first: where a clip is in both, the human words are kept
    openset_files: ClassVar = ("track2_train_ovmerd.csv", "track2_train_mercaptionplus.csv")

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        root = settings.root
        train = merged_rows(root, self.train_files, problems, ("name", "discrete"))
        candidates = merged_rows(root, self.candidate_files, problems, ("name",))
        tests = merged_rows(root, self.test_files, problems, ("name", "discrete"))
        for name, value in tests.rows.items():
            candidates.rows.setdefault(name, value)
        subtitles = LabelRows(root / "subtitle_chieng.csv", problems, ("name",))
        opensets = {
            file: LabelRows(root / file, problems, ("name", "openset"))
            for file in self.openset_files
        }
        index = MediaIndex(root / "video")
        names = dict.fromkeys([*train.rows, *candidates.rows, *index.by_stem])
        for name in names:
            yield self._sample(name, index, train, candidates, tests, subtitles, opensets, problems)

    def _sample(
        self,
        name: str,
        index: MediaIndex,
        train: LabelRows,
        candidates: LabelRows,
        tests: LabelRows,
        subtitles: LabelRows,
        opensets: dict[str, LabelRows],
        problems: Problems,
    ) -> DatasetSample:
        listed = train.rows.get(name) or tests.rows.get(name) or candidates.rows.get(name)
        source = train if name in train.rows else tests if name in tests.rows else candidates
        origin = f"{source.path}:{listed[0]}" if listed else str(index.find(name))
        media = index.find(name)
        if media is None:
            problems.append(f"{origin}: no media file {name}.mp4 in {index.folder}")
            media = index.expected(name, ".mp4")
        split = "train" if name in train.rows else "test" if name in candidates.rows else None
        labelled = train.rows.get(name) or tests.rows.get(name)
        label = word(labelled[1].get("discrete")) if labelled else None
        extra: dict[str, str] = {}
        subtitle = subtitles.rows.get(name, (0, {}))[1]
        if cell(subtitle.get("chinese")):
            extra["text_zh"] = subtitle["chinese"]
        for rows in opensets.values():
            if name in rows.rows and "openset" not in extra:
                _line, row = rows.rows[name]
                words = openset_words(row["openset"])
                if words:
                    extra["openset"] = ", ".join(words)
        return DatasetSample(
            id=name,
            media=media,
            origin=origin,
            label=label,
            text=cell(subtitle.get("english")),
            language="en" if cell(subtitle.get("english")) else None,
            split=split or "unlabelled",
            extra=extra,
        )


class Mer2026(Mer2025):
    name = "mer2026"
    note = "video/ + track1_train.csv; subtitle_chieng.csv (ASR); open-set track2 labels"
    train_files: ClassVar = ("track1_train.csv",)
    candidate_files: ClassVar = ("track1_track2_candidate.csv",)
    test_files: ClassVar = ("track1_test.csv",)
    openset_files: ClassVar = ("track2_train_human.csv", "track2_train_mercaptionplus.csv")


def merged_rows(
    root: Path, files: tuple[str, ...], problems: Problems, required: tuple[str, ...]
) -> LabelRows:
    merged = LabelRows(root / files[0], problems, required)
    for file in files[1:]:
        for name, value in LabelRows(root / file, problems, required).rows.items():
            merged.rows.setdefault(name, value)
    return merged


def openset_words(text: str) -> list[str]:
    """An open-set cell as MERTools' ``string_to_list`` reads it: a Python list literal
    (``['happy', 'excited']``), else the words between optional brackets split at commas
    and quotes (``[happy, excited]``, ``happy, excited``); an empty cell has none."""
    text = (cell(text) or "").strip()
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = None
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        inner = text[1:] if text.startswith("[") else text
        inner = inner[:-1] if inner.endswith("]") else inner
        items = re.split("['\",]", inner)
    return [item.strip().lower() for item in items if item.strip()]
