"""What the LLM stages read from upstream stages, in one place.

The visual, audio and asr stages are built elsewhere; these views follow
``docs/stage-data.md`` field for field, ignore fields they do not use, and accept a missing
stage (a clip without a face, without audio, or a stage not run), so synthesize and label
degrade clearly. When the real upstream models are merged they can replace these views.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the stages import this module: no import cycle at run time
    from ..stages.base import SampleContext


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class IngestView(_View):
    name: str = ""
    label: str | None = None
    valence: float | None = None
    label_status: str = "unlabelled"


class Candidate(_View):
    emotion: str
    score: float = 0.0


class VisualView(_View):
    peak_AU_list: list[str] = Field(default_factory=list)
    peak_index: int | None = None
    au_phrases: dict[str, str] = Field(default_factory=dict)
    rule_support: dict[str, list[str]] = Field(default_factory=dict)
    candidates: list[Candidate] = Field(default_factory=list)
    reference_label: str | None = None
    AU_list: list[str] = Field(default_factory=list)
    visual_prior_list: list[str] = Field(default_factory=list)
    visual_objective: str | None = None


class AudioView(_View):
    has_audio: bool = False
    silent: bool = True
    tone: str | None = None
    tone_phrase: str | None = None


class AsrView(_View):
    text: str = ""
    language: str | None = None
    text_en: str | None = None


class SynthesizeView(_View):
    caption: str = ""
    smp_reason_caption: str | None = None
    open_label: str | None = None
    open_reasoning: str | None = None
    reasoning_label: str | None = None
    judge_accepts: bool | None = None


class Cues(BaseModel):
    """Everything upstream that the LLM stages use; ``None`` where a stage is absent."""

    ingest: IngestView
    visual: VisualView | None = None
    audio: AudioView | None = None
    asr: AsrView | None = None

    @classmethod
    def from_upstream(cls, upstream: Mapping[str, Mapping[str, Any]]) -> Cues:
        def view(stage: str, model: type[_View]) -> Any:
            data = upstream.get(stage)
            return model.model_validate(data) if data is not None else None

        return cls(
            ingest=view("ingest", IngestView) or IngestView(),
            visual=view("visual", VisualView),
            audio=view("audio", AudioView),
            asr=view("asr", AsrView),
        )

    @classmethod
    def of(cls, sample: SampleContext) -> Cues:
        upstream = {name: record.data for name, record in sample.upstream.items()}
        return cls.from_upstream(upstream)

    @property
    def visual_objective(self) -> str | None:
        return clean_text(self.visual.visual_objective) if self.visual else None

    @property
    def expression_phrases(self) -> list[str]:
        """MERR's phrases for the rule AUs; else the phrases of every AU at the peak."""
        if self.visual is None:
            return []
        if self.visual.visual_prior_list:
            return [clean_text(p) for p in self.visual.visual_prior_list if clean_text(p)]
        return [
            clean_text(self.visual.au_phrases[au])
            for au in self.visual.peak_AU_list
            if clean_text(self.visual.au_phrases.get(au))
        ]

    @property
    def tone(self) -> str | None:
        if self.audio is None or not self.audio.has_audio:
            return None
        return clean_text(self.audio.tone) or None

    @property
    def tone_phrase(self) -> str | None:
        """How the voice sounds, as a verb phrase ("speaks in a calm, low voice")."""
        if self.audio is None or not self.audio.has_audio:
            return None
        if clean_text(self.audio.tone_phrase):
            return clean_text(self.audio.tone_phrase)
        return f"speaks in a {self.tone} tone" if self.tone else None

    @property
    def subtitle(self) -> str:
        """The English text when known, else the transcript; "" when nobody speaks."""
        if self.asr is None:
            return ""
        return clean_text(self.asr.text_en) or clean_text(self.asr.text)

    def csv_label(self, label_set: tuple[str, ...]) -> str | None:
        label = self.ingest.label
        return label if self.ingest.label_status == "labelled" and label in label_set else None

    def au_rule_label(self, label_set: tuple[str, ...]) -> str | None:
        """The best AU-rule candidate within the label set."""
        if self.visual is None:
            return None
        for candidate in self.visual.candidates:
            if candidate.emotion in label_set:
                return candidate.emotion
        return None

    def missing(self) -> list[str]:
        """Cues that are absent, by name, to record in the data."""
        names = []
        if not self.visual_objective:
            names.append("visual_objective")
        if not self.expression_phrases:
            names.append("expression")
        if not self.tone_phrase:
            names.append("tone")
        if not self.subtitle:
            names.append("speech")
        return names


_SPACE = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """One line, single spaces, no control characters (MER-Factory left literal newlines)."""
    if not text:
        return ""
    text = text.replace("\\n", " ")  # a literal backslash-n, as some LLM replies hold
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return _SPACE.sub(" ", printable).strip()
