"""DFEW and MAFW: in-the-wild clips with five official folds (``input.fold``, default 1).

DFEW: ``Clip/original/XXXXX.mp4``; ``EmoLabel_DataSplit/{train,test}(single-labeled)/
set_{1-5}.csv`` with ``video_name,label`` (integer names, zero-padded to 5 digits; labels 1
Happy 2 Sad 3 Neutral 4 Angry 5 Surprise 6 Disgust 7 Fear). The database's README spells
the folders ``(single_labeled)``, the loaders ``(single-labeled)``: either is read.
MAFW: ``split/single/no_caption/set_{1-5}/{train,test}.txt`` lines ``00025.mp4 happiness``
(the 11 words MAE-DFER's ``preprocess/mafw.py`` knows: anger disgust fear happiness neutral
sadness surprise contempt anxiety helplessness disappointment; a compound label such as
``anger_disgust``, should one appear, is kept as an extra, unmapped); clips found by name
anywhere under the root.

Their clips are named by numbers only, so a sample id is ``dfew_00001`` / ``mafw_00025``:
Emotion-LLaMA reads ``transcription_en_all.csv`` with pandas, which turns a column of
numbers-only names into integers (``00001`` becomes 1) and then finds no clip's sentence.
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
    read_csv_rows,
    read_text,
)

DFEW_LABELS = {
    "1": "happy",
    "2": "sad",
    "3": "neutral",
    "4": "angry",
    "5": "surprise",
    "6": "disgust",
    "7": "fear",
}


def clip(index: MediaIndex, stem: str, where: str, problems: Problems) -> Path:
    media = index.find(stem)
    if media is None:
        problems.append(f"{where}: no clip {stem}.mp4 under {index.folder}")
        return index.expected(stem, ".mp4")
    return media


def split_file(folder: Path, split: str, fold: int) -> Path:
    """``{split}(single-labeled)/set_{fold}.csv``, or the README's ``(single_labeled)``."""
    hyphen = folder / f"{split}(single-labeled)" / f"set_{fold}.csv"
    underscore = folder / f"{split}(single_labeled)" / f"set_{fold}.csv"
    return underscore if not hyphen.is_file() and underscore.is_file() else hyphen


class Dfew(Adapter):
    name = "dfew"
    label_map: ClassVar = {
        "happy": "happy",
        "sad": "sad",
        "neutral": "neutral",
        "angry": "angry",
        "surprise": "surprise",
        "fear": "fear",
    }
    note = "Clip/original/*.mp4 + EmoLabel_DataSplit set_N.csv (labels 1-7); fold = set"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        fold = settings.fold or 1
        index = MediaIndex(settings.root / "Clip" / "original", (".mp4",))
        for split in ("train", "test"):
            path = split_file(settings.root / "EmoLabel_DataSplit", split, fold)
            for line, row in read_csv_rows(path, problems, ("video_name", "label")):
                name, code = row["video_name"], row["label"]
                if not name.isdigit() or code not in DFEW_LABELS:
                    problems.add(path, line, f"video_name {name!r}, label {code!r}; skipped")
                    continue
                stem = f"{int(name):05d}"
                yield DatasetSample(
                    id=f"dfew_{stem}",
                    media=clip(index, stem, f"{path}:{line}", problems),
                    origin=f"{path}:{line}",
                    label=DFEW_LABELS[code],
                    split=split,
                )


class Mafw(Adapter):
    name = "mafw"
    label_map: ClassVar = {
        "anger": "angry",
        "fear": "fear",
        "happiness": "happy",
        "neutral": "neutral",
        "sadness": "sad",
        "surprise": "surprise",
        "contempt": "contempt",
        "anxiety": "worried",
    }
    note = "split/single/no_caption/set_N/{train,test}.txt (the 11 single labels)"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        fold = settings.fold or 1
        index = MediaIndex(settings.root, (".mp4",))
        folder = settings.root / "split" / "single" / "no_caption" / f"set_{fold}"
        for split in ("train", "test"):
            path = folder / f"{split}.txt"
            text = read_text(path, problems)
            for line_no, line in enumerate((text or "").splitlines(), start=1):
                parts = line.split()
                if not parts:
                    continue
                stem = Path(parts[0]).stem
                if len(parts) != 2 or not stem.isdigit():
                    problems.add(path, line_no, f"not '<clip>.mp4 <label>': {line[:60]!r}")
                    continue
                label = parts[1].lower()
                yield DatasetSample(
                    id=f"mafw_{stem}",
                    media=clip(index, stem, f"{path}:{line_no}", problems),
                    origin=f"{path}:{line_no}",
                    label=label,
                    split=split,
                    extra={"compound": label} if "_" in label else {},
                )
