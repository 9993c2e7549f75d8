"""Test stages named faces, peak, visual, audio, asr, synthesize and label.

They stand in for the model-running stages so the export is tested on real records, quickly
and with known cues. They store the real stages' output models (``stage_data.py``) and real
artifacts made from the real clips: the peak frame is a JPEG cut from the clip with PyAV,
the audio a 16 kHz mono wav resampled from its audio track (of a segment sample, both are
read from its range by the product's own readers). Their cues (AUs, tone, transcript,
reasoning) are test input taken from the clips' manifest and label, not a model's answer.
The label stand-in keeps the label stage's two rules on the ingest record: a label outside
the label set, and no label at all, are rejected with the label stage's reason.
"""

from __future__ import annotations

import json
import wave
import zlib
from pathlib import Path
from typing import Any, ClassVar

import av
import numpy as np
from PIL import Image

from merr_factory.artifacts import AUDIO_WAV, HUBERT_UTT, MAE_UTT, PEAK_FRAME, VIDEOMAE_UTT
from merr_factory.media.audio import extract_audio
from merr_factory.media.frames import read_frame
from merr_factory.run.workspace import Workspace
from merr_factory.stage_data import (
    AsrData,
    AsrSegmentData,
    AudioData,
    Candidate,
    FacesData,
    FeaturesData,
    IngestData,
    LabelData,
    LLMInfo,
    PeakData,
    Reason,
    SynthesizeData,
    VisualData,
)
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings
from merr_factory.stages.label import _outside
from tests.conftest import CLIPS

FACTS = RunFacts(label_set=("neutral", "angry", "happy", "sad", "worried", "surprise"))
RULES = {
    "happy": ["AU06", "AU12", "AU14"],
    "sad": ["AU01", "AU04", "AU15"],
    "worried": ["AU20", "AU28"],
    "angry": ["AU04", "AU07"],
    "neutral": [],
}
PHRASES = {
    "AU01": "inner brow raiser",
    "AU04": "brow lowerer",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU20": "lip stretcher",
    "AU25": "lips part",
    "AU28": "lip suck",
}
TONES = {"happy": "joyful", "sad": "sad", "worried": "doubtful", "neutral": "calm"}


def _speech() -> dict[str, dict[str, str]]:
    files = json.loads((CLIPS / "manifest.json").read_text())["files"]
    return {entry["name"]: entry["speech"] for entry in files if entry.get("speech")}


SPEECH = _speech()


def _frames(sample: SampleContext) -> int:
    probe = sample.input(IngestData).probe
    if probe.frames:
        return int(probe.frames)
    return max(1, round((probe.duration or 0) * (probe.fps or 0)))


def cut_frame(path: Path, index: int, target: Path) -> None:
    """Decode up to frame ``index`` and save it as a JPEG."""
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number >= index:
                frame.to_image().save(target, format="JPEG", quality=90)
                return
    raise ValueError(f"{path}: no frame {index}")


def extract_wav(path: Path, target: Path) -> None:
    """The clip's first audio track as 16 kHz mono 16-bit PCM."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
    with av.open(str(path)) as container, wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        for frame in container.decode(audio=0):
            for chunk in resampler.resample(frame):
                out.writeframes(chunk.to_ndarray().tobytes())
        for chunk in resampler.resample(None):
            out.writeframes(chunk.to_ndarray().tobytes())


class _StandIn(Stage[StageSettings]):
    settings_model = StageSettings
    summary = "test stand-in"


class FacesStandIn(_StandIn):
    name = "faces"
    output_model = FacesData
    requires = ("filter",)
    no_face: ClassVar[set[str]] = {"samplenew_00000004"}  # the clip with no face

    def process(self, sample: SampleContext) -> StageResult:
        frames = _frames(sample)
        seen = 0 if sample.source.id in self.no_face else frames
        return StageResult(
            data=FacesData(
                backend="stand-in",
                model="test",
                sample_fps=None,
                frames_total=frames,
                frames_analysed=frames,
                frames_with_face=seen,
                face_ratio=seen / frames,
                au_names=sorted(PHRASES),
                main_face="largest",
            )
        )


class PeakStandIn(_StandIn):
    name = "peak"
    output_model = PeakData
    requires = ("faces",)

    def process(self, sample: SampleContext) -> StageResult:
        if not sample.input(FacesData).frames_with_face:
            return StageResult(
                data=PeakData(
                    peak_index=None,
                    peak_time=None,
                    peak_intensities={},
                    peak_AU_list=[],
                    au_sum=0.0,
                )
            )
        index = _frames(sample) // 2
        ingest = sample.input(IngestData)
        segment = sample.source.segment
        if segment is None:
            cut_frame(sample.source.path, index, sample.workdir / PEAK_FRAME)
        else:
            rgb = read_frame(sample.source.path, index, index / (ingest.probe.fps or 1.0), segment)
            Image.fromarray(rgb).save(sample.workdir / PEAK_FRAME, format="JPEG", quality=90)
        aus = sorted({*RULES.get(ingest.label or "neutral", []), "AU25"})
        intensities = {au: 2.0 for au in aus}
        return StageResult(
            data=PeakData(
                peak_index=index,
                peak_time=round(index / (ingest.probe.fps or 1.0), 3),
                peak_intensities=intensities,
                peak_AU_list=aus,
                au_sum=sum(intensities.values()),
            )
        )


class VisualStandIn(_StandIn):
    name = "visual"
    output_model = VisualData
    requires = ("peak",)

    def process(self, sample: SampleContext) -> StageResult:
        peak = sample.input(PeakData)
        label = sample.input(IngestData).label
        rule = [au for au in RULES.get(label or "", []) if au in peak.peak_AU_list]
        return StageResult(
            data=VisualData(
                peak_AU_list=peak.peak_AU_list,
                peak_index=peak.peak_index,
                au_phrases={au: PHRASES[au] for au in peak.peak_AU_list},
                rule_support={label: rule} if label else {},
                candidates=[Candidate(emotion=label, score=1.0)] if label else [],
                reference_label=label,
                AU_list=rule,
                visual_prior_list=[PHRASES[au] for au in rule],
                visual_objective="A person faces the camera\nin a room.",
            )
        )


class AudioStandIn(_StandIn):
    name = "audio"
    output_model = AudioData
    requires = ("filter",)

    def process(self, sample: SampleContext) -> StageResult:
        ingest = sample.input(IngestData)
        if ingest.probe.audio is None:
            return StageResult(
                data=AudioData(
                    has_audio=False,
                    silent=True,
                    duration=0.0,
                    prosody=None,
                    speech_segments=[],
                    tone=None,
                    tone_phrase=None,
                    tone_source="prosody",
                )
            )
        if sample.source.segment is None:
            extract_wav(sample.source.path, sample.workdir / AUDIO_WAV)
        else:
            extract_audio(
                sample.source.path, sample.workdir / AUDIO_WAV, segment=sample.source.segment
            )
        tone = TONES.get(ingest.label or "", "calm")
        return StageResult(
            data=AudioData(
                has_audio=True,
                silent=False,
                duration=ingest.probe.audio.duration or 0.0,
                prosody=None,
                speech_segments=[(0.2, 1.5)],
                tone=tone,
                tone_phrase=f"speaks in a {tone} voice",
                tone_source="prosody",
            )
        )


class AsrStandIn(_StandIn):
    name = "asr"
    output_model = AsrData
    requires = ("audio",)

    def process(self, sample: SampleContext) -> StageResult:
        speech = SPEECH.get(sample.source.id, {}) if sample.input(AudioData).has_audio else {}
        text, language = speech.get("text", ""), speech.get("language")
        return StageResult(
            data=AsrData(
                backend="stand-in",
                model="test-asr",
                text=text,
                language=language,
                segments=[AsrSegmentData(start=0.2, end=1.5, text=text)] if text else [],
                text_en=text if language == "en" else None,
                confidence=0.9 if text else None,
            )
        )


class SynthesizeStandIn(_StandIn):
    name = "synthesize"
    output_model = SynthesizeData
    requires = ("visual", "asr")

    def process(self, sample: SampleContext) -> StageResult:
        visual = sample.input(VisualData)
        audio = sample.input(AudioData)
        label = sample.input(IngestData).label
        phrases = ", ".join(visual.visual_prior_list) or "a still face"
        caption = f"The person shows {phrases}.\nThe voice: {audio.tone_phrase or 'none'}."
        reasoning = (
            f"The {phrases} and the words suggest the person feels {label}.\\nThis fits the tone."
        )
        return StageResult(
            data=SynthesizeData(
                caption=caption,
                smp_reason_caption=reasoning,
                open_label=label,
                open_reasoning=None,
                llm=LLMInfo(backend="stand-in", model="test-llm", prompt_version="v1"),
            )
        )


class FeaturesStandIn(_StandIn):
    """Emotion-LLaMA's three 1024-d vectors for each clip with a face, drawn from a generator
    seeded by the sample id (test input, not a model's output; the real stage is tested in
    tests/features/). A clip without audio gets a zero HuBERT vector, as ``zero_when_missing``
    would give it, so every clip with a face can be loaded."""

    name = "features"
    output_model = FeaturesData
    requires = ("faces", "audio")

    def process(self, sample: SampleContext) -> StageResult:
        if not sample.input(FacesData).frames_with_face:
            return StageResult(data=FeaturesData(backend="transformers"))
        generator = np.random.default_rng(zlib.crc32(sample.source.id.encode()))
        names = {HUBERT_UTT: "HL-UTT", MAE_UTT: "mae_340_UTT", VIDEOMAE_UTT: "maeV_399_UTT"}
        for file in names:
            vector = generator.standard_normal(1024).astype(np.float32)
            if file == HUBERT_UTT and not sample.input(AudioData).has_audio:
                vector[:] = 0.0
            np.save(sample.workdir / file, vector)
        return StageResult(
            data=FeaturesData(
                backend="transformers",
                features=list(names.values()),
                models={name: "stand-in" for name in names.values()},
                dims={name: 1024 for name in names.values()},
            )
        )


class LabelStandIn(_StandIn):
    """The tier and, optionally, the label per sample come from class attributes."""

    name = "label"
    output_model = LabelData
    requires = ("synthesize",)
    tiers: ClassVar[dict[str, str]] = {}
    labels: ClassVar[dict[str, str]] = {}

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "tiers": self.tiers, "labels": self.labels}

    def process(self, sample: SampleContext) -> StageResult:
        ingest = sample.input(IngestData)
        sample_id = sample.source.id
        tier = self.tiers.get(sample_id, "coarse")
        reasons: list[Reason] = []
        if tier == "rejected":
            reasons = [Reason(code="au_rule_disagrees", message="AUs disagree with the label")]
        elif tier == "coarse":
            reasons = [Reason(code="not_reviewed", message="reasoning not checked")]
        label = self.labels.get(sample_id, ingest.label)
        if ingest.label_status == "outside_label_set":  # the label stage's rule and reason
            tier, label, reasons = "rejected", None, [_outside(ingest.label, ingest.excluded)]
        elif label is None:
            tier = "rejected"
            reasons = [Reason(code="no_label", message="no pseudo-label (test stand-in)")]
        return StageResult(
            data=LabelData(
                label=label,
                label_source="csv",
                valence=ingest.valence,
                tier=tier,
                reasons=reasons,
                au_rule_agrees=tier != "rejected",
                llm_agrees=True,
                # Test input for the quality report: the AU rule backs the label unless the
                # tier is rejected; a "face_expression" voter that always says happy.
                votes={
                    "csv": ingest.label,
                    "au_rule": label if tier != "rejected" else "neutral",
                    "llm": label,
                    "face_expression": "happy",
                },
            )
        )


STAND_INS: tuple[type[Stage], ...] = (
    FacesStandIn,
    PeakStandIn,
    AudioStandIn,
    AsrStandIn,
    FeaturesStandIn,
    VisualStandIn,
    SynthesizeStandIn,
    LabelStandIn,
)
ALL_STAGES = [
    "ingest",
    "filter",
    "faces",
    "peak",
    "audio",
    "asr",
    "features",
    "visual",
    "synthesize",
    "label",
    "export",
]
DEFAULT_TIERS = {
    "sample_00000001": "fine",
    "sample_00000002": "fine",
    "sample_00000003": "coarse",
    "samplenew_00000004": "coarse",
    "samplenew_00000005": "coarse",
    "sample_00000006": "rejected",
}


def with_stand_ins(
    workspace: Workspace, tiers: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> Workspace:
    """Register the stand-ins in ``workspace`` in place of the planned stages."""
    label_stage = type(
        "LabelStandInRun",
        (LabelStandIn,),
        {
            "tiers": dict(DEFAULT_TIERS if tiers is None else tiers),
            "labels": dict(labels or {}),
        },
    )
    for cls in STAND_INS:
        chosen = label_stage if cls is LabelStandIn else cls
        workspace.stages[cls.name] = chosen(StageSettings(), FACTS)
    return workspace
