"""One sample's export entry: every stage's key fields gathered into one flat record.

The export stage stores this as its per-sample record data; the whole-set writers (MERR,
ShareGPT, Parquet, card, report) read nothing else, so a re-export never re-reads upstream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from merr_factory.artifacts import AUDIO_WAV, PEAK_FRAME
from merr_factory.run.records import Record
from merr_factory.run.store import Store
from merr_factory.stage_data import (
    AsrData,
    AudioData,
    FacesData,
    FeaturesData,
    HumanReview,
    IngestData,
    LabelData,
    PeakData,
    Reason,
    SegmentData,
    StageOutput,
    SynthesizeData,
    VisualData,
    read_output,
)
from merr_factory.text import clean_text


class MediaFile(BaseModel):
    """A file another stage wrote: its path inside the output folder and its content hash."""

    path: str
    sha256: str


class ExportEntry(StageOutput):
    """Everything the export writes about one sample (one Parquet row): the export stage's
    per-sample output."""

    stage: ClassVar[str] = "export"

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
    reasons: list[Reason] = Field(default_factory=list)
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
    # Why the transcript is not trusted (the asr stage's gates): then MERR's text is "".
    transcript_unreliable: list[Reason] = Field(default_factory=list)
    caption: str = ""
    smp_reason_caption: str | None = None
    open_label: str | None = None
    # The label stage's votes: source (csv, au_rule, llm, ...) -> its label or None.
    votes: dict[str, str | None] = Field(default_factory=dict)
    models: dict[str, str | None] = Field(default_factory=dict)
    peak_frame: MediaFile | None = None
    audio_file: MediaFile | None = None
    # Emotion-LLaMA's pre-extracted features by folder name (HL-UTT, mae_340_UTT, ...), the
    # model each came from, and those made by random-weight placeholder models.
    features: dict[str, MediaFile] = Field(default_factory=dict)
    feature_models: dict[str, str] = Field(default_factory=dict)
    placeholder_features: list[str] = Field(default_factory=list)
    # What a dataset input gives (inputs/datasets/): the split, the label in the dataset's
    # words, arousal and the native scale, the speaker, the given words, open-set labels...
    split: str | None = None
    native_label: str | None = None
    arousal: float | None = None
    scale: str | None = None
    speaker: str | None = None
    given_text: str | None = None
    given_language: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)
    segment: SegmentData | None = None  # the sample is this range (and crop) of its file
    # People's review (``merr-build review``): a verdict was given; the decisions themselves.
    human_checked: bool = False
    human: HumanReview | None = None

    @property
    def hf_split(self) -> str:
        """The split as a Hugging Face split name (``train`` when the input gives none)."""
        name = re.sub(r"\W+", "_", self.split or "").strip("_")
        return name or "train"

    @property
    def subtitle(self) -> str:
        """MERR's ``text``: the English subtitle, else the transcript as spoken, else "" (no
        speech, or an unreliable transcript)."""
        if self.transcript_unreliable:
            return ""
        return clean_text(self.text_en if self.text_en is not None else self.transcript)

    @property
    def audio_prior(self) -> str:
        """MERR's ``audio_prior_list``: the tone fragment, "" when there is no speech."""
        return clean_text(self.tone_phrase or self.tone or "")


_ALL_FIELDS = frozenset(ExportEntry.model_fields)


def read_entry(data: Mapping[str, Any], strings: dict[str, str] | None = None) -> ExportEntry:
    """An export record's data as its entry, small enough to hold 100k at once: the
    entries (and their reasons and files) share one set of given field names each (pydantic
    keeps one per model otherwise: 45 names, a third of an entry's memory; a record holds
    every field, so the sets are the same), and the short words many entries repeat (label,
    tier, language, model names...) are one string each when ``strings`` is given."""
    entry = ExportEntry.model_validate(data)
    _share_fields_set(entry, _ALL_FIELDS)
    for reason in entry.reasons:
        _share_fields_set(reason, _REASON_FIELDS)
    for file in (entry.peak_frame, entry.audio_file, *entry.features.values()):
        if file is not None:
            _share_fields_set(file, _FILE_FIELDS)
    if strings is not None:
        _share_strings(entry.__dict__, strings)
    return entry


def _share_strings(values: dict[str, Any], strings: dict[str, str]) -> None:
    """Replace the words and lists of words many entries repeat by one copy of each."""
    for name in _REPEATED:
        value = values[name]
        if isinstance(value, str):
            values[name] = strings.setdefault(value, value)
    for name in _REPEATED_LISTS:
        values[name] = [strings.setdefault(word, word) for word in values[name]]
    values["models"] = {
        strings.setdefault(key, key): strings.setdefault(model, model) if model else model
        for key, model in values["models"].items()
    }
    if values["name"] == values["sample_id"]:
        values["name"] = values["sample_id"]
    if values["text_en"] == values["transcript"]:
        values["text_en"] = values["transcript"]


def _share_fields_set(model: BaseModel, names: frozenset[str]) -> None:
    object.__setattr__(model, "__pydantic_fields_set__", names)


_REASON_FIELDS = frozenset(Reason.model_fields)
_FILE_FIELDS = frozenset(MediaFile.model_fields)
_REPEATED = ("kind", "ingest_label", "label", "label_source", "tier", "tone", "tone_phrase",
             "language", "open_label")  # fmt: skip
_REPEATED_LISTS = ("peak_AU_list", "AU_list", "visual_prior_list", "placeholder_features")


def build_entry(
    sample_id: str,
    video_path: Path,
    upstream: Mapping[str, Record],
    store: Store,
) -> ExportEntry:
    """Gather one sample's export entry from its upstream records, read as the stages' own
    models (a record that does not match raises ``UpstreamDataError``)."""
    ingest = read_output(upstream, IngestData)
    if ingest is None:
        raise KeyError(f"{sample_id}: no ingest record")
    faces = read_output(upstream, FacesData)
    peak = read_output(upstream, PeakData)
    visual = read_output(upstream, VisualData)
    audio = read_output(upstream, AudioData)
    asr = read_output(upstream, AsrData)
    synth = read_output(upstream, SynthesizeData)
    label = read_output(upstream, LabelData)
    probe = ingest.probe
    width, height = probe.upright_size  # as shown, like the peak frame
    entry = ExportEntry(
        sample_id=sample_id,
        name=ingest.name,
        source=ingest.source,
        kind=ingest.kind,
        duration=probe.duration,
        fps=probe.fps,
        frame_count=probe.frames,
        width=width,
        height=height,
        video_path=str(video_path),
        ingest_label=ingest.label,
        **_label_fields(label, ingest),
        **_peak_fields(peak),
        face_ratio=faces.face_ratio if faces else None,
        **_visual_fields(visual),
        **_speech_fields(audio, asr),
        **_synthesis_fields(synth),
        models=_models(faces, asr, synth, audio),
        peak_frame=_media(upstream, PeakData, PEAK_FRAME, store),
        audio_file=_media(upstream, AudioData, AUDIO_WAV, store),
        **_feature_fields(read_output(upstream, FeaturesData), upstream, store),
        **_dataset_fields(ingest),
    )
    if label is not None and label.human is not None:
        apply_review(entry, label.human)
    return entry


def apply_review(entry: ExportEntry, human: HumanReview) -> None:
    """People's edited texts replace the machine's; a verdict marks the entry checked. An
    edited transcript replaces the English subtitle too when that was the transcript itself."""
    entry.human = human
    entry.human_checked = human.verdict is not None
    if human.reasoning is not None:
        entry.smp_reason_caption = clean_text(human.reasoning) or None
    if human.transcript is not None:
        edited = clean_text(human.transcript)
        if entry.text_en is not None and entry.text_en == entry.transcript:
            entry.text_en = edited
        entry.transcript = edited


def _dataset_fields(ingest: IngestData) -> dict[str, Any]:
    return {
        "split": ingest.split,
        "native_label": ingest.native_label,
        "arousal": ingest.arousal,
        "scale": ingest.scale,
        "speaker": ingest.speaker,
        "given_text": ingest.transcript,
        "given_language": ingest.language,
        "extra": dict(ingest.extra),
        "segment": ingest.segment,
    }


def _feature_fields(
    features: FeaturesData | None, upstream: Mapping[str, Record], store: Store
) -> dict[str, Any]:
    if features is None:
        return {}
    files = {
        name: _media(upstream, FeaturesData, f"{name}.npy", store) for name in features.features
    }
    return {
        "features": {name: file for name, file in files.items() if file is not None},
        "feature_models": {
            name: features.models[name] for name in files if name in features.models
        },
        "placeholder_features": list(features.placeholders),
    }


def _label_fields(label: LabelData | None, ingest: IngestData) -> dict[str, Any]:
    if label is None:
        return {"label": None, "label_source": None, "valence": ingest.valence, "tier": "rejected"}
    return {
        "label": label.label,
        "label_source": label.label_source,
        "valence": label.valence if label.valence is not None else ingest.valence,
        "tier": label.tier,
        "reasons": label.reasons,
        "au_rule_agrees": label.au_rule_agrees,
        "llm_agrees": label.llm_agrees,
        "votes": dict(label.votes),
    }


def _peak_fields(peak: PeakData | None) -> dict[str, Any]:
    if peak is None:
        return {}
    return {
        "peak_index": peak.peak_index,
        "peak_time": peak.peak_time,
        "peak_AU_list": sorted(peak.peak_AU_list),
        "au_sum": peak.au_sum,
    }


def _visual_fields(visual: VisualData | None) -> dict[str, Any]:
    if visual is None:
        return {}
    return {
        "AU_list": visual.AU_list,
        "visual_prior_list": [clean_text(phrase) for phrase in visual.visual_prior_list],
        "visual_objective": clean_text(visual.visual_objective) or None,
    }


def _speech_fields(audio: AudioData | None, asr: AsrData | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if audio is not None:
        fields.update(has_audio=audio.has_audio, tone=audio.tone, tone_phrase=audio.tone_phrase)
    if asr is not None:
        fields.update(
            transcript=clean_text(asr.text),
            language=asr.language,
            text_en=clean_text(asr.text_en) if asr.text_en is not None else None,
            transcript_unreliable=asr.unreliable,
        )
    return fields


def _synthesis_fields(synth: SynthesizeData | None) -> dict[str, Any]:
    if synth is None:
        return {}
    return {
        "caption": clean_text(synth.caption),
        "smp_reason_caption": clean_text(synth.smp_reason_caption) or None,
        "open_label": synth.open_label,
    }


def _models(
    faces: FacesData | None,
    asr: AsrData | None,
    synth: SynthesizeData | None,
    audio: AudioData | None,
) -> dict[str, str | None]:
    """Which models made the sample's cues, for the dataset card."""

    def joined(backend: str | None, model: str | None) -> str | None:
        parts = [part for part in (backend, model) if part]
        return "/".join(parts) or None

    return {
        "faces": joined(faces.backend, faces.model) if faces else None,
        "asr": joined(asr.backend, asr.model) if asr else None,
        "llm": joined(synth.llm.backend, synth.llm.model) if synth else None,
        "prompt_version": synth.llm.prompt_version if synth else None,
        "tone_source": audio.tone_source if audio else None,
    }


def _media(
    upstream: Mapping[str, Record], producer: type[StageOutput], name: str, store: Store
) -> MediaFile | None:
    """A file that the stage whose output is ``producer`` wrote, as a path relative to the
    output folder."""
    record = upstream.get(producer.stage)
    if record is None:
        return None
    for artifact in record.artifacts:
        if artifact.path == name:
            return MediaFile(path=store.artifact_key(record, name), sha256=artifact.sha256)
    return None
