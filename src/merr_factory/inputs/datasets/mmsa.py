"""CMU-MOSEI and CH-SIMS v2, as MMSA distributes them, and MOSEI's raw segment transcripts.

MMSA: ``label.csv`` (MOSEI: ``video_id,clip_id,text,label,label_T,label_A,label_V,
annotation,mode``; sentiment -3..3) or ``meta.csv`` (CH-SIMS v2: ``video_id,clip_id,text,
label,mode``; -1..1), clips ``Raw/{video_id}/{clip_id}.mp4``. The label is a sentiment score,
not an emotion: it becomes the valence (native scale beside it) and the sentiment word an
extra; the emotion is left for the pseudo-label. ``mode`` is the split.
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
    label_file: ClassVar = "label.csv"
    scale: ClassVar = "-3..3"
    language: ClassVar = "en"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        path = settings.root / self.label_file
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
            media = settings.root / "Raw" / video / f"{clip}.mp4"
            if not (plain_name(video) and plain_name(clip) and media.is_file()):
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
                extra={"sentiment": sentiment_word(score, 0.0)} if score is not None else {},
            )


class ChSims(CmuMosei):
    name = "ch-sims"
    note = "CH-SIMS v2 meta.csv + Raw/{video}/{clip}.mp4; valence -1..1"
    label_file: ClassVar = "meta.csv"
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
