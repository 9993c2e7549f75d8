"""Instruction wording for the training formats, and a deterministic choice among them.

Emotion-LLaMA draws an instruction at random per task; an export must be reproducible, so
each (sample, task) gets one chosen by a hash of its name: same inputs, same files.
"""

from __future__ import annotations

import hashlib

from ..knowledge.emotions import MERR_LABELS

EMOTION_PROMPTS = (
    "Which emotion label does the person in the video show: " + ", ".join(MERR_LABELS) + "?",
)
REASON_PROMPTS = (
    "Describe the facial expression and the tone of voice of the person in the video.",
    "What do the face and the voice of the person in the video show?",
    "List the visual and vocal cues of the person in the video.",
)
REASON_V2_PROMPTS = (
    "Weigh all the cues in the video and explain which emotion the person feels.",
    "What does the person in the video feel, and why?",
    "Combine the face, the voice and the words to infer the person's emotion; explain it.",
)
CHAT_PROMPT = (
    "What emotion does the person in this clip feel? Use the facial expression, the tone "
    "of voice and the words, and explain your answer."
)


def pick(options: tuple[str, ...], *key: str) -> str:
    """One of ``options``, always the same for the same key."""
    digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def said(subtitle: str) -> str:
    """The subtitle clause both formats put before the question."""
    return f'The person in the video says: "{subtitle}".' if subtitle else "No speech."


def conclusion(reasoning: str, label: str) -> str:
    return f"{reasoning} So the emotion is: {label}." if reasoning else label
