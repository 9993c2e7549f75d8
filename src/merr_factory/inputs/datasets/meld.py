"""MELD (declare-lab/MELD): ``{train,dev,test}_sent_emo.csv`` and the MELD.Raw clip folders.

Header ``Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,
StartTime,EndTime`` (CRLF; UTF-8 since ca3e126, Windows-1252 before). Clips
``dia{D}_utt{U}.mp4`` in ``train_splits/``, ``dev_splits_complete/`` and
``output_repeated_splits_test/`` (or, as MERTools' ``preprocess/meld.py`` has them, in
``train/``, ``dev/`` and ``test/`` beside the CSVs). Ids restart per split, so a sample id
is ``{split}_dia{D}_utt{U}`` (MERTools names them so too). Start/EndTime are positions in
the episode (kept as extras): the clips are already cut. Known broken files (dev
dia110_utt7 missing; train dia125_utt3 and, per MERTools, test dia279_utt15 faulty) are
samples whose ingest record says so.
"""

from __future__ import annotations

import os
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
    read_csv_rows,
    word,
)

SPLITS = {
    "train": "train_splits",
    "dev": "dev_splits_complete",
    "test": "output_repeated_splits_test",
}
REQUIRED = ("utterance", "speaker", "emotion", "dialogue_id", "utterance_id")


def find_named(root: Path, names: set[str], depth: int = 3) -> dict[str, Path]:
    """The first file or folder of each name at most ``depth`` levels under ``root``."""
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        level = len(Path(dirpath).relative_to(root).parts)
        for name in sorted([*dirnames, *filenames]):
            if name in names and name not in found:
                found[name] = Path(dirpath) / name
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        if level >= depth:
            dirnames[:] = []
    return found


def renamed_folder(csv_path: Path, root: Path, split: str) -> Path:
    """The clips' folder when the official one is not there: ``train/``, ``dev/`` or
    ``test/`` beside the split's CSV or under the root (MERTools' layout), else where the
    official folder would be (so each clip is reported missing there)."""
    for folder in (csv_path.parent / split, root / split):
        if folder.is_dir():
            return folder
    return root / SPLITS[split]


class Meld(Adapter):
    name = "meld"
    label_map: ClassVar = {
        "neutral": "neutral",
        "joy": "happy",
        "sadness": "sad",
        "anger": "angry",
        "surprise": "surprise",
        "fear": "fear",
    }
    note = "{split}_sent_emo.csv + MELD.Raw clip folders; ids {split}_dia{D}_utt{U}"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        wanted = {f"{split}_sent_emo.csv" for split in SPLITS} | set(SPLITS.values())
        found = find_named(settings.root, wanted)
        for split, folder_name in SPLITS.items():
            csv_path = found.get(f"{split}_sent_emo.csv")
            if csv_path is None:
                problems.add(settings.root, None, f"no {split}_sent_emo.csv; split {split} skipped")
                continue
            folder = found.get(folder_name) or renamed_folder(csv_path, settings.root, split)
            yield from self._split(csv_path, MediaIndex(folder), split, problems)

    def _split(
        self, path: Path, index: MediaIndex, split: str, problems: Problems
    ) -> Iterator[DatasetSample]:
        for line, row in read_csv_rows(path, problems, REQUIRED, fallback="cp1252"):
            dialogue, utterance = row["dialogue_id"], row["utterance_id"]
            if not (dialogue.isdigit() and utterance.isdigit()):
                problems.add(path, line, f"Dialogue_ID {dialogue!r} / Utterance_ID {utterance!r}")
                continue
            stem = f"dia{int(dialogue)}_utt{int(utterance)}"
            media = index.find(stem)
            if media is None:
                problems.add(path, line, f"no clip {stem}.mp4 in {index.folder}")
                media = index.expected(stem, ".mp4")
            extra = {"sentiment": word(row.get("sentiment")) or ""}
            if cell(row.get("starttime")):
                extra["episode_time"] = f"{row['starttime']}-{row.get('endtime', '')}"
            yield DatasetSample(
                id=f"{split}_{stem}",
                media=media,
                origin=f"{path}:{line}",
                label=word(row["emotion"]),
                speaker=cell(row["speaker"]),
                text=cell(row["utterance"]),
                language="en",
                split=split,
                extra={key: value for key, value in extra.items() if value},
            )
