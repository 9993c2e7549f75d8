"""Tone of voice from an audio-language model, validated against MERR's fixed list.

``openai_audio``: any OpenAI-compatible chat endpoint that accepts ``input_audio`` parts
(vLLM serving Qwen2-Audio-7B-Instruct, or a hosted audio model).
``qwen2_audio``: Qwen2-Audio run in process by transformers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from merr_factory.prosody.tone import TONES

MAX_ANSWER_CHARS = 200


@dataclass(frozen=True)
class ToneAnswer:
    """The model's raw answer (shortened) and the tone read from it, None when invalid."""

    raw: str
    tone: str | None


def tone_prompt() -> str:
    """MERR's question: one word from the fixed list, nothing else."""
    options = ", ".join(TONES)
    return (
        "Listen to the speaker's tone of voice (how it is said, not what is said). "
        f"Which one of these words describes it best: {options}? "
        "Answer with exactly one word from the list."
    )


def parse_tone(answer: str) -> ToneAnswer:
    """Accept the answer only when exactly one word of the list appears in it."""
    raw = answer.strip()[:MAX_ANSWER_CHARS]
    words = set(re.findall(r"[a-z]+", raw.lower()))
    found = [tone for tone in TONES if tone in words]
    return ToneAnswer(raw=raw, tone=found[0] if len(found) == 1 else None)
