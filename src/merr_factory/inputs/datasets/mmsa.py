"""CMU-MOSEI and CH-SIMS (v1, v2), as MMSA distributes them, and MOSEI's raw segment transcripts.

MMSA: ``label.csv`` (MOSEI, CH-SIMS: ``video_id,clip_id,text,label,label_T,label_A,
label_V,annotation,mode``, as MMSA-FET's ``dataset.py`` reads it; sentiment -3..3, -1..1)
or ``meta.csv`` (CH-SIMS v2: ``video_id,clip_id,text,label,mode``; -1..1), clips
``Raw/{video_id}/{clip_id}.mp4`` (a bare number ``1`` also finds ``0001.mp4``, as MERTools'
``preprocess/sims.py`` names them). The label is a sentiment score, not an emotion: it
becomes the valence (native scale beside it), the ``annotation`` word (else the score's
sign) the sentiment extra, the unimodal ``label_T/A/V`` extras; the emotion is left for the
pseudo-label. ``mode`` is the split.
Raw MOSEI: ``Transcript/Segmented/Combined/{vid}.txt`` lines ``vid___seg___start___end___text``
give segments of the full video ``{vid}.mp4`` found under the root.
"""

from __future__ import annotations

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
    read_text,
)
from merr_factory.inputs.sample_ids import safe_sample_id
from merr_factory.inputs.segment import Segment

SPLITS = {"train": "train", "valid": "dev", "test": "test"}


def plain_name(name: str) -> bool:
    """A cell usable as one file name: no folder part, no ``..`` (cells are data)."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name


def sentiment_word(score: float, neutral_band: float) -> str:
    if score > neutral_band:
        return "positive"
    return "negative" if score < -neutral_band else "neutral"


class CmuMosei(Adapter):
    name = "cmu-mosei"
    label_map: ClassVar = {}
    note = "MMSA label.csv + Raw/{video}/{clip}.mp4, or raw segment transcripts; valence -3..3"
    label_files: ClassVar = ("label.csv",)  # the first that is there is read
    scale: ClassVar = "-3..3"
    language: ClassVar = "en"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        paths = [settings.root / name for name in self.label_files]
        path = next((path for path in paths if path.is_file()), paths[0])
        if not path.is_file() and self.name == "cmu-mosei":
            yield from raw_segments(settings.root, problems)
            return
        required = ("video_id", "clip_id", "text", "label", "mode")
        for line, row in read_csv_rows(path, problems, required):
            where = f"{path}:{line}"
            try:
                score = number(row["label"])
            except ValueError:
                problems.add(path, line, f"label {row['label']!r} is not a number; skipped")
                continue
            video, clip = row["video_id"], row["clip_id"]
            media = clip_file(settings.root / "Raw", video, clip)
            if media is None:
                problems.add(path, line, f"no clip Raw/{video}/{clip}.mp4")
                media = settings.root / "Raw" / (safe_sample_id(f"{video}_{clip}") + ".mp4")
            yield DatasetSample(
                id=safe_sample_id(f"{video}_{clip}"),
                media=media,
                origin=where,
                valence=score,
                scale=self.scale,
                text=cell(row["text"]),
                language=self.language,
                speaker=video,
                split=SPLITS.get(row["mode"].lower(), row["mode"].lower() or None),
                extra=extras(row, score),
            )


def clip_file(raw: Path, video: str, clip: str) -> Path | None:
    """``Raw/{video}/{clip}.mp4``, or ``{clip:04d}.mp4`` for a bare number; None if neither
    is there or a cell is not one plain name."""
    if not (plain_name(video) and plain_name(clip)):
        return None
    names = [clip] + ([f"{int(clip):04d}"] if clip.isdigit() and len(clip) < 4 else [])
    for name in names:
        if (raw / video / f"{name}.mp4").is_file():
            return raw / video / f"{name}.mp4"
    return None


def extras(row: dict[str, str], score: float | None) -> dict[str, str]:
    """The sentiment word (the ``annotation`` cell, else the score's sign: MOSEI's
    negative < 0 < positive) and the unimodal scores CH-SIMS gives."""
    found: dict[str, str] = {}
    annotation = cell(row.get("annotation"))
    if annotation:
        found["sentiment"] = annotation.lower()
    elif score is not None:
        found["sentiment"] = sentiment_word(score, 0.0)
    for column in ("label_t", "label_a", "label_v"):
        if cell(row.get(column)):
            found[column] = row[column]
    return found


class ChSims(CmuMosei):
    name = "ch-sims"
    note = "CH-SIMS v2 meta.csv (or MMSA's label.csv) + Raw/{video}/{clip}.mp4; valence -1..1"
    label_files: ClassVar = ("meta.csv", "label.csv")
    scale: ClassVar = "-1..1"
    language: ClassVar = "zh"


def raw_segments(root: Path, problems: Problems) -> Iterator[DatasetSample]:
    """MOSEI's raw form: segments of whole videos from the segmented transcripts."""
    videos = MediaIndex(root, (".mp4",))
    folder = root / "Transcript" / "Segmented" / "Combined"
    if not folder.is_dir():
        problems.add(root, None, "neither label.csv nor Transcript/Segmented/Combined/")
        return
    for path in sorted(folder.glob("*.txt")):
        text = read_text(path, problems)
        for line_no, line in enumerate((text or "").splitlines(), start=1):
            parts = line.strip().split("___", 4)
            if len(parts) < 5:
                if line.strip():
                    problems.add(path, line_no, "not vid___seg___start___end___text; skipped")
                continue
            video, segment, start, end, words = parts
            try:
                span = Segment(float(start), float(end))
            except ValueError:
                problems.add(path, line_no, f"times {start!r}, {end!r} are not numbers; skipped")
                continue
            media = videos.find(video)
            if media is None:
                problems.add(path, line_no, f"no video {video}.mp4 under {root}")
                media = videos.expected(video, ".mp4")
            yield DatasetSample(
                id=safe_sample_id(f"{video}_{segment}"),
                media=media,
                origin=f"{path}:{line_no}",
                segment=span,
                text=words.strip() or None,
                language="en",
                speaker=video,
            )
