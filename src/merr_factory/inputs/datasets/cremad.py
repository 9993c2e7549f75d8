"""CREMA-D: ``VideoFlash/*.flv`` named ``ActorID_Sentence_Emotion_Level`` (1001_IEO_NEU_XX).

Emotions ``ANG DIS FEA HAP NEU SAD``, levels ``LO MD HI XX``; the sentence code gives the
words. No official split.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from merr_factory.inputs.datasets.base import (
    Adapter,
    DatasetInput,
    DatasetSample,
    MediaIndex,
    Problems,
)

SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}


class CremaD(Adapter):
    name = "crema-d"
    label_map: ClassVar = {
        "ang": "angry",
        "fea": "fear",
        "hap": "happy",
        "neu": "neutral",
        "sad": "sad",
    }
    note = "VideoFlash/*.flv; the sentence code gives the transcript; no official split"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        folder = settings.root / "VideoFlash"
        if not folder.is_dir():
            problems.add(folder, None, "folder not found")
        for stem, path in sorted(MediaIndex(folder, (".flv", ".mp4")).by_stem.items()):
            parts = stem.split("_")
            if (
                len(parts) != 4
                or not parts[0].isdigit()
                or parts[1] not in SENTENCES
                or parts[2] not in EMOTIONS
                or parts[3] not in LEVELS
            ):
                problems.add(path, None, "name is not ActorID_Sentence_Emotion_Level; skipped")
                continue
            actor, sentence, emotion, level = parts
            yield DatasetSample(
                id=stem,
                media=path,
                origin=str(path),
                label=emotion.lower(),
                speaker=actor,
                text=SENTENCES[sentence],
                language="en",
                extra={"intensity": LEVELS[level]},
            )
