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

# Valence of each label and of each of MERR's ten tone words, to compare a tone with a label
# (the tone words are prosody/tone.py's TONES). Surprise and "shocked" can go either way and
# have none: a sample with them is left out of a valence comparison, never guessed.
LABEL_VALENCE: dict[str, str | None] = {
    "neutral": "neutral",
    "angry": "negative",
    "happy": "positive",
    "sad": "negative",
    "worried": "negative",
    "surprise": None,
    "fear": "negative",
    "contempt": "negative",
    "doubt": "negative",
}
TONE_VALENCE: dict[str, str | None] = {
    "joyful": "positive",
    "positive": "positive",
    "sad": "negative",
    "fearful": "negative",
    "angry": "negative",
    "negative": "negative",
    "doubtful": "negative",
    "dismissive": "negative",
    "calm": "neutral",
    "shocked": None,
}
VALENCES: tuple[str, ...] = ("negative", "neutral", "positive")
