"""Emotion-LLaMA style instruction pairs for its ``[emotion]``, ``[reason]`` and ``[reason_v2]``
tasks: ``[emotion]`` answers the label word, ``[reason]`` the coarse caption, ``[reason_v2]``
the fine reasoning (fine samples only). The instruction carries Emotion-LLaMA's video and
feature slots, the subtitle and the task tag, as its dataset code builds them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .entry import ExportEntry
from .prompts import EMOTION_PROMPTS, REASON_PROMPTS, REASON_V2_PROMPTS, pick, said

INSTRUCTIONS_FILE = "emotion_llama_instructions.json"
SLOTS = "<video><VideoHere></video> <feature><FeatureHere></feature>"


def instruction(entry: ExportEntry, task: str, prompts: tuple[str, ...]) -> str:
    return f"{SLOTS} {said(entry.subtitle)} [{task}] {pick(prompts, entry.name, task)}"


def instruction_pairs(coarse: list[ExportEntry], fine: list[ExportEntry]) -> list[dict[str, Any]]:
    """Every pair, grouped by task, each task's samples in name order."""
    pairs = []
    for entry in coarse:
        pairs.append(_pair(entry, "emotion", EMOTION_PROMPTS, entry.label or ""))
    for entry in coarse:
        pairs.append(_pair(entry, "reason", REASON_PROMPTS, entry.caption))
    for entry in fine:
        pairs.append(_pair(entry, "reason_v2", REASON_V2_PROMPTS, entry.smp_reason_caption or ""))
    return pairs


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
    pairs = instruction_pairs(coarse, fine)
    path.write_text(json.dumps(pairs, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return path
