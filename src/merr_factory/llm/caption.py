"""The coarse caption: MERR's template of visual objective, expression, tone and speech.

Each part is a small template; a part whose cue is missing is left out whole, so a clip
without speech never gets "Saying: ." and a clip without a face never gets "shows ."
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from merr_factory.llm.cues import Cues

_STOPS = ".!?\"'\u3002\uff01\uff1f\u201d"  # also the Chinese full stop, ! and ?, closing quote
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class CaptionTemplate(BaseModel):
    """Parts in order; placeholders: {visual_objective} {expression} {tone} {subtitle}."""

    model_config = ConfigDict(extra="forbid")

    parts: list[str] = [
        "{visual_objective}",
        "The person's facial expression shows {expression}.",
        "The person {tone}.",
        "Saying: {subtitle}",
    ]


def cue_values(cues: Cues) -> dict[str, str]:
    return {
        "visual_objective": cues.visual_objective or "",
        "expression": join_phrases(cues.expression_phrases),
        "tone": cues.tone_phrase or "",
        "subtitle": cues.subtitle,
    }


def render_caption(template: CaptionTemplate, cues: Cues) -> str:
    values = cue_values(cues)
    sentences = []
    for part in template.parts:
        names = _PLACEHOLDER.findall(part)
        if any(not values.get(name) for name in names):
            continue  # a missing cue drops its whole part
        sentence = _PLACEHOLDER.sub(lambda match: values[match.group(1)], part).strip()
        if sentence:
            sentences.append(_end_sentence(sentence))
    return " ".join(sentences)


def join_phrases(phrases: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def _end_sentence(sentence: str) -> str:
    """A sentence ends with one stop; "Saying: ..." keeps the speaker's own punctuation."""
    sentence = re.sub(r"\.{2,}$", ".", sentence)
    if sentence.startswith("Saying:") or sentence[-1] in _STOPS:
        return sentence
    return sentence + "."
