"""Chat messages for the two reasoning modes, with the clip's text kept as data.

Transcripts, scene descriptions and other text from a clip are untrusted: they go, JSON
encoded, inside one block between fixed markers that the system prompt declares to be data.
``<`` and ``>`` are escaped inside the block, so no transcript can close it early. The label
set and the reply schema come from the run's settings, never from the block.
"""

from __future__ import annotations

import json
from typing import Any

from merr_factory.llm.base import Message
from merr_factory.llm.caption import join_phrases
from merr_factory.llm.cues import Cues
from merr_factory.llm.prompts import PromptSet

OPEN_MARK, CLOSE_MARK = "<<<CLUES", "CLUES>>>"


def clue_block(cues: Cues, extra: dict[str, str] | None = None) -> str:
    """The clues as escaped JSON between the markers; absent cues are said to be absent."""
    clues: dict[str, Any] = {
        "visual_description": cues.visual_objective or "(none)",
        "facial_expression": join_phrases(cues.expression_phrases) or "(no face analysed)",
        "voice_tone": cues.tone_phrase or "(no audio or no speech)",
        "subtitle": cues.subtitle or "(no speech)",
        **(extra or {}),
    }
    encoded = json.dumps(clues, ensure_ascii=False, indent=1)
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e")
    return f"{OPEN_MARK}\n{encoded}\n{CLOSE_MARK}"


def merr_messages(prompts: PromptSet, cues: Cues, label: str) -> list[Message]:
    """MERR's mode: the LLM is told the label and explains which clues support it."""
    user = prompts.render("merr_reasoning", clues=clue_block(cues), label=label)
    return [Message("system", prompts.render("system")), Message("user", user)]


def open_messages(prompts: PromptSet, cues: Cues, label_set: tuple[str, ...]) -> list[Message]:
    """The open mode: the LLM is not told the label and picks one of ``label_set``."""
    user = prompts.render("open_prediction", clues=clue_block(cues), labels=", ".join(label_set))
    return [Message("system", prompts.render("system")), Message("user", user)]


def judge_messages(prompts: PromptSet, cues: Cues, label: str, reasoning: str) -> list[Message]:
    """The LLM judge: the reasoning to judge is model output, so it travels as data too."""
    block = clue_block(cues, {"reasoning_to_judge": reasoning})
    user = prompts.render("judge", clues=block, label=label)
    return [Message("system", prompts.render("system")), Message("user", user)]
