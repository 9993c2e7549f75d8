"""The one rule for text that goes into prompts and datasets (transcripts, phrases, LLM replies)."""

from __future__ import annotations

import re

# Literal escape sequences as some LLM replies and tools write them (MER-Factory left
# backslash-n in its dataset), then any run of real whitespace.
_LITERAL_BREAKS = re.compile(r"(\\r\\n|\\n|\\r|\\t)")
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """One line: literal and real line breaks, tabs and control characters become single
    spaces; "" for None or empty."""
    if not text:
        return ""
    text = _LITERAL_BREAKS.sub(" ", text)
    if not text.isprintable():  # one check of the whole text first: most texts are
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return _WHITESPACE.sub(" ", text).strip()
