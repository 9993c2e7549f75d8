"""One sample's export entry: every stage's key fields gathered into one flat record.

The export stage stores this as its per-sample record data; the whole-set writers (MERR,
ShareGPT, Parquet, card, report) read nothing else, so a re-export never re-reads upstream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..records import Record
from ..store import Store
from .upstream import (
    AsrView,
    AudioView,
    FacesView,
    IngestView,
    LabelView,
    PeakView,
    ReasonView,
    SynthesizeView,
    VisualView,
)

PEAK_FRAME = "peak_frame.jpg"
AUDIO_FILE = "audio.wav"

_LITERAL_BREAKS = re.compile(r"(\\r\\n|\\n|\\r|\\t)")
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """One line of text: real and literal (backslash-n) line breaks become spaces."""
    if not text:
        return ""
    return _WHITESPACE.sub(" ", _LITERAL_BREAKS.sub(" ", text)).strip()


class MediaFile(BaseModel):
    """A file another stage wrote: its path inside the output folder and its content hash."""

    path: str
    sha256: str


class ExportEntry(BaseModel):
    """Everything the export writes about one sample (one Parquet row)."""

    sample_id: str
    name: str
    source: str
    kind: str
    duration: float | None
    fps: float | None
    frame_count: int | None
    width: int | None
    height: int | None
    video_path: str
    ingest_label: str | None
    label: str | None
    label_source: str | None
    valence: float | None
    tier: str
    reasons: list[ReasonView] = Field(default_factory=list)
    au_rule_agrees: bool | None = None
    llm_agrees: bool | None = None
    peak_index: int | None = None
    peak_time: float | None = None
    peak_AU_list: list[str] = Field(default_factory=list)
    au_sum: float | None = None
    face_ratio: float | None = None
    AU_list: list[str] = Field(default_factory=list)
    visual_prior_list: list[str] = Field(default_factory=list)
    visual_objective: str | None = None
    has_audio: bool = False
    tone: str | None = None
    tone_phrase: str | None = None
    transcript: str = ""
    language: str | None = None
    text_en: str | None = None
    caption: str = ""
    smp_reason_caption: str | None = None
    open_label: str | None = None
    models: dict[str, str | None] = Field(default_factory=dict)
    peak_frame: MediaFile | None = None
    audio_file: MediaFile | None = None

    @property
    def subtitle(self) -> str:
        """MERR's ``text``: the English subtitle, else the transcript as spoken, else ""."""
        return clean_text(self.text_en if self.text_en is not None else self.transcript)

    @property
    def audio_prior(self) -> str:
        """MERR's ``audio_prior_list``: the tone fragment, "" when there is no speech."""
        return clean_text(self.tone_phrase or self.tone or "")


def build_entry(
    sample_id: str,
    video_path: Path,
    upstream: Mapping[str, Record],
    store: Store,
) -> ExportEntry:
    """Gather one sample's export entry from its upstream records (read as dicts)."""
    ingest = _view(upstream, "ingest", IngestView)
    faces = _view(upstream, "faces", FacesView)
    peak = _view(upstream, "peak", PeakView) or PeakView()
    visual = _view(upstream, "visual", VisualView) or VisualView()
    audio = _view(upstream, "audio", AudioView)
    asr = _view(upstream, "asr", AsrView) or AsrView()
    synth = _view(upstream, "synthesize", SynthesizeView) or SynthesizeView()
    label = _view(upstream, "label", LabelView) or LabelView(tier="rejected")
    probe = ingest.probe
    return ExportEntry(
        sample_id=sample_id,
        name=ingest.name,
        source=ingest.source,
        kind=ingest.kind,
        duration=probe.duration,
        fps=probe.fps,
        frame_count=probe.frames,
        width=probe.width,
        height=probe.height,
        video_path=str(video_path),
        ingest_label=ingest.label,
        label=label.label,
        label_source=label.label_source,
        valence=label.valence if label.valence is not None else ingest.valence,
        tier=label.tier,
        reasons=label.reasons,
        au_rule_agrees=label.au_rule_agrees,
        llm_agrees=label.llm_agrees,
        peak_index=peak.peak_index,
        peak_time=peak.peak_time,
        peak_AU_list=sorted(peak.peak_AU_list),
        au_sum=peak.au_sum,
        face_ratio=faces.face_ratio if faces else None,
        AU_list=visual.AU_list,
        visual_prior_list=[clean_text(phrase) for phrase in visual.visual_prior_list],
        visual_objective=clean_text(visual.visual_objective) or None,
        has_audio=bool(audio and audio.has_audio),
        tone=audio.tone if audio else None,
        tone_phrase=audio.tone_phrase if audio else None,
        transcript=clean_text(asr.text),
        language=asr.language,
        text_en=clean_text(asr.text_en) if asr.text_en is not None else None,
        caption=clean_text(synth.caption),
        smp_reason_caption=clean_text(synth.smp_reason_caption) or None,
        open_label=synth.open_label,
        models=_models(faces, asr, synth, audio),
        peak_frame=_media(upstream, "peak", PEAK_FRAME, store),
        audio_file=_media(upstream, "audio", AUDIO_FILE, store),
    )


class UpstreamDataError(ValueError):
    """An upstream record does not hold what docs/stage-data.md promises."""


def _view(upstream: Mapping[str, Record], stage: str, model: type[Any]) -> Any:
    record = upstream.get(stage)
    if record is None:
        return None
    try:
        return model.model_validate(record.data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        raise UpstreamDataError(
            f"{stage} record does not match the stage contract: {where}: {first['msg']}"
        ) from None


def _models(
    faces: FacesView | None, asr: AsrView, synth: SynthesizeView, audio: AudioView | None
) -> dict[str, str | None]:
    """Which models made the sample's cues, for the dataset card."""

    def joined(backend: str | None, model: str | None) -> str | None:
        parts = [part for part in (backend, model) if part]
        return "/".join(parts) or None

    return {
        "faces": joined(faces.backend, faces.model) if faces else None,
        "asr": joined(asr.backend, asr.model),
        "llm": joined(synth.llm.backend, synth.llm.model),
        "prompt_version": synth.llm.prompt_version,
        "tone_source": audio.tone_source if audio else None,
    }


def _media(upstream: Mapping[str, Record], stage: str, name: str, store: Store) -> MediaFile | None:
    """An upstream artifact by name, as a path relative to the output folder."""
    record = upstream.get(stage)
    if record is None:
        return None
    for artifact in record.artifacts:
        if artifact.path == name:
            return MediaFile(path=store.artifact_key(record, name), sha256=artifact.sha256)
    return None
