"""RAVDESS: ``Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4``.

Modality 01 audio-video, 02 video-only (no sound), 03 audio-only (``.wav``: no picture, not
read); vocal 01 speech, 02 song; emotion 01-08; intensity 01 normal, 02 strong; statement 01
"Kids are talking by the door", 02 "Dogs are sitting by the door"; repetition 01, 02;
actor 01-24. No official split.
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

EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
MODALITIES = {"01": "audio-video", "02": "video-only"}
VOCALS = {"01": "speech", "02": "song"}
INTENSITIES = {"01": "normal", "02": "strong"}
REPETITIONS = {"01": "1", "02": "2"}


class Ravdess(Adapter):
    name = "ravdess"
    label_map: ClassVar = {
        "neutral": "neutral",
        "happy": "happy",
        "sad": "sad",
        "angry": "angry",
        "fearful": "fear",
        "surprised": "surprise",
    }
    note = "Actor_XX/*.mp4 (audio-only .wav not read); the statement gives the transcript"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        for stem, path in sorted(MediaIndex(settings.root, (".mp4",)).by_stem.items()):
            fields = stem.split("-")
            if (
                len(fields) != 7
                or fields[0] not in MODALITIES
                or fields[1] not in VOCALS
                or fields[2] not in EMOTIONS
                or fields[3] not in INTENSITIES
                or fields[4] not in STATEMENTS
                or fields[5] not in REPETITIONS
                or not (fields[6].isdigit() and 1 <= int(fields[6]) <= 24)
            ):
                problems.add(path, None, "name is not MM-VV-EE-II-SS-RR-AA; skipped")
                continue
            modality, vocal, emotion, intensity, statement, repetition, actor = fields
            yield DatasetSample(
                id=stem,
                media=path,
                origin=str(path),
                label=EMOTIONS[emotion],
                speaker=f"Actor_{actor}",
                text=STATEMENTS[statement],
                language="en",
                extra={
                    "modality": MODALITIES[modality],
                    "vocal": VOCALS[vocal],
                    "intensity": INTENSITIES[intensity],
                    "repetition": REPETITIONS[repetition],
                },
            )
