"""Emotion label vocabularies used by MERR and MER2023."""

from __future__ import annotations

# Emotion-LLaMA's index order: a label outside these nine breaks its loader.
MERR_LABELS: tuple[str, ...] = (
    "neutral",
    "angry",
    "happy",
    "sad",
    "worried",
    "surprise",
    "fear",
    "contempt",
    "doubt",
)

# The six discrete labels of the MER2023 challenge.
MER2023_LABELS: tuple[str, ...] = MERR_LABELS[:6]
