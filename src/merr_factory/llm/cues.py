"""What the LLM stages read from upstream stages: the stages' own output models, gathered.

A stage that did not run for a sample (a clip without a face, without audio, or a stage not
in the run) is None here, so synthesize and label degrade clearly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from merr_factory.stage_data import AsrData, AudioData, FacesData, IngestData, VisualData
from merr_factory.text import clean_text

# Label sets' other names for the expression classes (MERR's names are the classes' own).
EXPRESSION_SPELLINGS: dict[str, tuple[str, ...]] = {
    "angry": ("anger",),
    "disgust": ("disgusted",),
    "fear": ("fearful",),
    "happy": ("happiness",),
    "sad": ("sadness",),
    "surprise": ("surprised",),
}

if TYPE_CHECKING:  # the stages import this module: no import cycle at run time
    from merr_factory.stages.base import SampleContext


class Cues(BaseModel):
    """Everything upstream that the LLM stages use; ``None`` where a stage is absent."""

    ingest: IngestData | None = None
    faces: FacesData | None = None
    visual: VisualData | None = None
    audio: AudioData | None = None
    asr: AsrData | None = None

    @classmethod
    def of(cls, sample: SampleContext) -> Cues:
        return cls(
            ingest=sample.input_or_none(IngestData),
            faces=sample.input_or_none(FacesData),
            visual=sample.input_or_none(VisualData),
            audio=sample.input_or_none(AudioData),
            asr=sample.input_or_none(AsrData),
        )

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
        """The English text when known, else the transcript; "" when nobody speaks or the
        transcript is unreliable (``asr.unreliable``)."""
        if self.asr is None or self.asr.unreliable:
            return ""
        return clean_text(self.asr.text_en) or clean_text(self.asr.text)

    def csv_label(self, label_set: tuple[str, ...]) -> str | None:
        if self.ingest is None or self.ingest.label_status != "labelled":
            return None
        return self.ingest.label if self.ingest.label in label_set else None

    def au_rule_label(self, label_set: tuple[str, ...]) -> str | None:
        """The best AU-rule candidate within the label set."""
        if self.visual is None:
            return None
        for candidate in self.visual.candidates:
            if candidate.emotion in label_set:
                return candidate.emotion
        return None

    def face_expression_label(self, label_set: tuple[str, ...]) -> str | None:
        """The clip's most probable facial expression class when the label set has it (by
        name or a common spelling: ``happiness`` for ``happy``); None otherwise. A class the
        set lacks (``disgust`` for MERR's set) is never turned into another label."""
        expression = self.faces.expression if self.faces else None
        if not expression:
            return None
        best = max(expression, key=lambda name: expression[name])
        for spelling in (best, *EXPRESSION_SPELLINGS.get(best, ())):
            if spelling in label_set:
                return spelling
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
