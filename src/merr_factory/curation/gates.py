"""Quality gates: rules that keep a weak reasoning out of the fine tier and an unreliable
transcript out of the LLM's prompt and MERR's ``text``. Each rule returns the reasons it
found (a ``Reason`` with a stable code), so every gated sample says why.

- A reasoning must have MERR's length (its fine reasonings run 12-79 words) and be a
  reasoning: not the bare label ("happy"), not a question ("Why does she feel happy?"),
  not the transcript quoted back.
- A transcript is unreliable when the model's confidence is below a threshold, or when the
  language it heard is not the one spoken (an English-only model on Mandarin speech).
"""

from __future__ import annotations

import re

from merr_factory.stage_data import Reason

# Gate codes, as counted in quality.json.
REASONING_LENGTH = "reasoning_length"
NOT_REASONING = "not_reasoning"
ASR_LOW_CONFIDENCE = "asr_low_confidence"
ASR_LANGUAGE_MISMATCH = "asr_language_mismatch"
GATE_CODES = (REASONING_LENGTH, NOT_REASONING, ASR_LOW_CONFIDENCE, ASR_LANGUAGE_MISMATCH)

_WORD = re.compile(r"[a-z0-9']+")
_QUESTION_START = re.compile(
    r"^(why|what|how|which|who|does|do|did|is|are|can|could|would)\b", re.I
)
_FILLER = frozenset(
    re.findall(
        r"\w+",
        """a an the this that person speaker man woman he she they it is are was feels feel
        feeling looks look seems seem emotion label answer of in be very""",
    )
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def reasoning_problems(
    reasoning: str,
    labels: tuple[str, ...] | list[str],
    transcript: str,
    min_words: int,
    max_words: int,
    max_quoted: float,
) -> list[Reason]:
    """Why ``reasoning`` is not a fine reasoning; [] when it is one. ``max_quoted``: the
    share of its words that may be the transcript's (in runs of 3 or more words)."""
    found = words(reasoning)
    reasons = []
    if not min_words <= len(found) <= max_words:
        message = f"the reasoning has {len(found)} words, outside {min_words}-{max_words}"
        reasons.append(Reason(code=REASONING_LENGTH, message=message))
    meant = [word for word in found if word not in _FILLER]
    if meant and all(word in labels for word in meant):
        message = f"the reasoning is only a label ({reasoning.strip()!r})"
        reasons.append(Reason(code=NOT_REASONING, message=message))
    elif reasoning.strip().endswith("?") or _QUESTION_START.match(reasoning.strip()):
        reasons.append(Reason(code=NOT_REASONING, message="the reasoning is a question"))
    elif _quoted_share(found, words(transcript)) > max_quoted:
        message = "the reasoning quotes the transcript back"
        reasons.append(Reason(code=NOT_REASONING, message=message))
    return reasons


def _quoted_share(reasoning: list[str], transcript: list[str]) -> float:
    """The share of the reasoning's words that lie in a word 3-gram of the transcript."""
    if len(reasoning) < 3 or len(transcript) < 3:
        return 0.0
    grams = {tuple(transcript[i : i + 3]) for i in range(len(transcript) - 2)}
    covered = set()
    for i in range(len(reasoning) - 2):
        if tuple(reasoning[i : i + 3]) in grams:
            covered.update((i, i + 1, i + 2))
    return len(covered) / len(reasoning)


def transcript_problems(
    confidence: float | None,
    heard: str | None,
    spoken: str | None,
    min_confidence: float,
    model: str,
) -> list[Reason]:
    """Why a transcript is unreliable; [] when nothing says so. ``heard`` is the language
    the model gave, ``spoken`` the language the clip is known to be in (None: unknown)."""
    reasons = []
    if confidence is not None and confidence < min_confidence:
        message = f"ASR confidence {confidence:.2f} is below {min_confidence:.2f}"
        reasons.append(Reason(code=ASR_LOW_CONFIDENCE, message=message))
    if spoken and heard and _base(heard) != _base(spoken):
        message = f"the model {model} heard {heard!r} but the speech is {spoken!r}"
        reasons.append(Reason(code=ASR_LANGUAGE_MISMATCH, message=message))
    return reasons


def _base(language: str) -> str:
    """``zh-CN`` and ``zh`` are one language; ``cmn`` (Mandarin) is ``zh``."""
    code = language.lower().replace("_", "-").split("-")[0]
    return {"cmn": "zh", "yue": "zh", "eng": "en", "zho": "zh", "chi": "zh"}.get(code, code)
