"""IEMOCAP (MERTools ``preprocess/iemocap.py``; SpeechBrain ``iemocap_prepare.py``).

``Session{1-5}/dialog/EmoEvaluation/*.txt`` (top-level files only) hold summary lines
``[start - end]\\t<utterance>\\t<code>\\t[V, A, D]`` (1-5 scales), then per-annotator lines;
``dialog/transcriptions/*.txt`` hold ``<utterance> [start-end]: text``. The video
(``dialog/avi/DivX/<dialogue>.avi``) shows both actors for the whole dialogue: each utterance
is a segment of it, cropped to the speaker's half (left when the utterance's speaker letter
equals the session's, ``name[-4] == name[5]``, else right). No official split: the held-out
session (``input.fold``, default 5) is ``test``, the others ``train``.
"""

from __future__ import annotations

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
    read_text,
)
from merr_factory.inputs.segment import Segment

NUM = r"\d+(?:\.\d*)?|\.\d+"
# As SpeechBrain's iemocap_prepare.py pattern: the spaces around the times' hyphen and the
# separators between V, A and D ("[, ]+") are runs, not one exact string; fields are
# tab-separated; a time or score is a number with at most one point (never a crash)
SUMMARY = re.compile(
    rf"^\[(?P<start>{NUM}) *- *(?P<end>{NUM})\]\t(?P<name>\S+)\t"
    rf"(?P<code>\w+)\t\[(?P<v>{NUM})[, ]+(?P<a>{NUM})[, ]+(?P<d>{NUM})\]\s*$"
)
TRANSCRIPT = re.compile(r"^(?P<name>Ses\d\d[FM]_\S+) \[[\d.]+-[\d.]+\]: ?(?P<text>.*)$")
LEFT = (0.0, 0.0, 0.5, 1.0)
RIGHT = (0.5, 0.0, 0.5, 1.0)


class Iemocap(Adapter):
    name = "iemocap"
    label_map: ClassVar = {
        "neu": "neutral",
        "hap": "happy",
        "exc": "happy",  # the common 4-class merge (SpeechBrain, EmoBox)
        "sad": "sad",
        "ang": "angry",
        "sur": "surprise",
        "fea": "fear",
    }
    note = "utterances cut from the dialogue .avi, speaker's half; fold = held-out session"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        test_session = settings.fold or 5
        for session in range(1, 6):
            dialog = settings.root / f"Session{session}" / "dialog"
            if not dialog.is_dir():
                continue
            split = "test" if session == test_session else "train"
            videos = MediaIndex(dialog / "avi", (".avi",))
            texts = transcripts(dialog / "transcriptions", problems)
            evaluations = sorted((dialog / "EmoEvaluation").glob("*.txt"))
            for path in evaluations:
                if not path.name.startswith("."):
                    yield from self._dialogue(path, videos, texts, split, problems)

    def _dialogue(
        self,
        path: Path,
        videos: MediaIndex,
        texts: dict[str, str],
        split: str,
        problems: Problems,
    ) -> Iterator[DatasetSample]:
        text = read_text(path, problems)
        if text is None:
            return
        dialogue = path.stem
        video = videos.find(dialogue)
        if video is None:
            problems.add(path, None, f"no video {dialogue}.avi; its utterances are missing")
            video = videos.expected(dialogue, ".avi")
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.startswith("["):
                continue  # annotator lines, headers, blank lines
            match = SUMMARY.match(line)
            if match is None:
                problems.add(path, line_no, f"malformed summary line {line[:60]!r}; skipped")
                continue
            name = match["name"]
            if not name.startswith(dialogue + "_") or len(name) < 6:
                problems.add(path, line_no, f"utterance {name} is not of {dialogue}; skipped")
                continue
            yield DatasetSample(
                id=name,
                media=video,
                origin=f"{path}:{line_no}",
                segment=Segment(
                    float(match["start"]),
                    float(match["end"]),
                    LEFT if name[-4] == name[5] else RIGHT,
                ),
                label=match["code"].lower(),
                valence=float(match["v"]),
                arousal=float(match["a"]),
                scale="1..5",
                speaker=f"{name[:5]}_{name[-4]}",
                text=texts.get(name),
                language="en",
                split=split,
                extra={"dominance": match["d"]},
            )


def transcripts(folder: Path, problems: Problems) -> dict[str, str]:
    """Utterance -> words from a session's transcription files; other lines are not
    utterances (overlaps and noises some files hold) and are passed over."""
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.txt")):
        if path.name.startswith("."):
            continue
        text = read_text(path, problems)
        for line in (text or "").splitlines():
            match = TRANSCRIPT.match(line.strip())
            if match:
                found[match["name"]] = match["text"].strip()
    return found
