"""The upstream stages' data, as the export reads it (docs/stage-data.md).

The faces, peak, visual, audio, asr, synthesize and label stages are built elsewhere; these
small models hold only the contract fields the export uses, so the lead can swap them for the
real models at merge (ONE module to change). Extra fields are ignored: stages may add fields.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Upstream(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ProbeView(_Upstream):
    duration: float | None = None
    fps: float | None = None
    frames: int | None = None
    width: int | None = None
    height: int | None = None


class IngestView(_Upstream):
    """ingest is built (stages/ingest.py: IngestData); this view keeps the export's imports
    free of the stage registry."""

    source: str
    name: str
    kind: str
    probe: ProbeView
    label: str | None = None
    valence: float | None = None


class ReasonView(_Upstream):
    code: str
    message: str = ""


class FacesView(_Upstream):
    backend: str
    model: str | None = None
    frames_total: int = 0
    frames_analysed: int = 0
    frames_with_face: int = 0
    face_ratio: float = 0.0


class PeakView(_Upstream):
    peak_index: int | None = None
    peak_time: float | None = None
    peak_intensities: dict[str, float] = Field(default_factory=dict)
    peak_AU_list: list[str] = Field(default_factory=list)
    au_sum: float | None = None


class VisualView(_Upstream):
    peak_AU_list: list[str] = Field(default_factory=list)
    peak_index: int | None = None
    reference_label: str | None = None
    AU_list: list[str] = Field(default_factory=list)
    visual_prior_list: list[str] = Field(default_factory=list)
    visual_objective: str | None = None


class AudioView(_Upstream):
    has_audio: bool
    silent: bool = False
    duration: float | None = None
    tone: str | None = None
    tone_phrase: str | None = None
    tone_source: str | None = None


class AsrView(_Upstream):
    backend: str | None = None
    model: str | None = None
    text: str = ""
    language: str | None = None
    text_en: str | None = None
    confidence: float | None = None


class LlmView(_Upstream):
    backend: str | None = None
    model: str | None = None
    prompt_version: str | None = None


class SynthesizeView(_Upstream):
    caption: str = ""
    smp_reason_caption: str | None = None
    open_label: str | None = None
    open_reasoning: str | None = None
    llm: LlmView = Field(default_factory=LlmView)


class LabelView(_Upstream):
    label: str | None = None
    label_source: str | None = None
    valence: float | None = None
    tier: str
    reasons: list[ReasonView] = Field(default_factory=list)
    au_rule_agrees: bool | None = None
    llm_agrees: bool | None = None
