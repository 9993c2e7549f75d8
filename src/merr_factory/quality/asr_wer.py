"""The ASR model's word error rate against the transcripts a dataset gives, per language.

A free, real check of the ASR choice: where the input gives the words (MELD, IEMOCAP,
CREMA-D, RAVDESS, MOSEI, CH-SIMS...) and a model ran, each sample's transcript is compared
with them. Words are lower-cased and stripped of punctuation; languages written without
spaces (zh, ja, ...) are compared character by character (the rate is then a CER). A sample
counts only where the model heard the given text's language (an English subtitle of Mandarin
speech is a translation, not a reference).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from merr_factory.dataset.entry import ExportEntry

UNSPACED = {"zh", "ja", "yue", "th", "lo", "my", "bo"}
_PUNCTUATION = re.compile(r"[^\w\s']+")


class AsrWer(BaseModel):
    """One language: samples compared, reference words, edits, and their ratio."""

    model_config = ConfigDict(extra="forbid")

    language: str
    unit: str  # "word", or "character" for unspaced languages
    samples: int
    reference_units: int
    errors: int
    wer: float | None


def tokens(text: str, language: str) -> list[str]:
    cleaned = _PUNCTUATION.sub(" ", text.lower())
    if language in UNSPACED:
        return [char for char in cleaned if not char.isspace()]
    return cleaned.split()


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning ``reference`` into ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, start=1):
        current = [i]
        for j, heard in enumerate(hypothesis, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != heard))
            )
        previous = current
    return previous[-1]


def word_error_rates(entries: Iterable[ExportEntry]) -> list[AsrWer]:
    """Per language of the given text, for samples whose transcript a model made."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for entry in entries:
        language = entry.given_language
        model = entry.models.get("asr") or ""
        if not entry.given_text or language is None or not model or model.startswith("given"):
            continue
        if not entry.has_audio or entry.language not in (None, language):
            continue
        reference = tokens(entry.given_text, language)
        if not reference:
            continue
        total = totals[language]
        total[0] += 1
        total[1] += len(reference)
        total[2] += edit_distance(reference, tokens(entry.transcript, language))
    return [
        AsrWer(
            language=language,
            unit="character" if language in UNSPACED else "word",
            samples=samples,
            reference_units=units,
            errors=errors,
            wer=round(errors / units, 4) if units else None,
        )
        for language, (samples, units, errors) in sorted(totals.items())
    ]
