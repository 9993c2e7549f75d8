"""Emotion-LLaMA's instruction pairs, built as its training dataset builds them
(first_face.py ``__getitem__``): ``[emotion]`` answers the label word, ``[reason]`` the coarse
``caption``, ``[reason_v2]`` the fine ``smp_reason_caption`` (fine samples only), and the
multimodal description (``[caption]``, the dataset page's third task) the coarse caption.
Questions and the prompt frame are Emotion-LLaMA's own (``prompts.py``); the sentence is the
one ``transcription_en_all.csv`` holds for the clip. Answers are written as they are:
Emotion-LLaMA's text processor lower-cases and trims them itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from merr_factory.dataset.entry import ExportEntry
from merr_factory.export.jsonfile import write_indented_list
from merr_factory.export.prompts import (
    CAPTION_PROMPTS,
    EMOTION_LLAMA_FRAME,
    EMOTION_PROMPTS,
    REASON_PROMPTS,
    pick,
)
from merr_factory.export.transcripts import sentence

INSTRUCTIONS_FILE = "emotion_llama_instructions.json"


def instruction(entry: ExportEntry, task: str, prompts: tuple[str, ...]) -> str:
    question = pick(prompts, entry.name, task)
    return EMOTION_LLAMA_FRAME.format(sentence=sentence(entry), task=task, question=question)


def _pairs(coarse: list[ExportEntry], fine: list[ExportEntry]) -> Iterator[dict[str, Any]]:
    for entry in coarse:
        yield _pair(entry, "emotion", EMOTION_PROMPTS, entry.label or "")
    for entry in coarse:
        yield _pair(entry, "reason", REASON_PROMPTS, entry.caption)
    for entry in fine:
        yield _pair(entry, "reason_v2", REASON_PROMPTS, entry.smp_reason_caption or "")
    for entry in coarse:
        yield _pair(entry, "caption", CAPTION_PROMPTS, entry.caption)


def _pair(entry: ExportEntry, task: str, prompts: tuple[str, ...], answer: str) -> dict[str, Any]:
    return {
        "id": f"{entry.name}:{task}",
        "video": entry.name,
        "task": task,
        "instruction": instruction(entry, task, prompts),
        "answer": answer,
        "emotion": entry.label,
    }


def write_instructions(coarse: list[ExportEntry], fine: list[ExportEntry], folder: Path) -> Path:
    path = folder / INSTRUCTIONS_FILE
    write_indented_list(path, _pairs(coarse, fine), indent=1)  # 400k pairs, one at a time
    return path
