"""audio: each clip's sound as a 16 kHz mono wav, its speech regions, prosody and tone.

A clip without an audio track, an image, or a track of pure silence is a recorded fact
(``has_audio`` / ``silent``), never a failure; later stages see no speech and go on.
The tone comes from the prosody rules (``prosody/tone.py``) or, when configured, from an
audio-language model that must answer with one word of MERR's list.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from merr_factory.artifacts import AUDIO_WAV
from merr_factory.backends.tone.settings import AudioLlmSettings, Qwen2AudioSettings
from merr_factory.media.audio import SAMPLE_RATE, AudioExtract, extract_audio
from merr_factory.optional import require
from merr_factory.prosody.schema import PitchSettings, VadSettings
from merr_factory.prosody.tone import TONES, ToneThresholds, describe_tone, tone_phrase
from merr_factory.stage_data import AudioData, IngestData
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings


class AudioSettings(StageSettings):
    """Extraction, speech detection, prosody and tone."""

    silence_db: float = Field(
        default=-60.0, description="a track whose peak stays below this (dBFS) is silent"
    )
    vad: VadSettings = Field(default_factory=VadSettings)
    pitch: PitchSettings = Field(default_factory=PitchSettings)
    tone: ToneThresholds = Field(default_factory=ToneThresholds)
    egemaps: bool = Field(
        default=True, description="store openSMILE's 88 eGeMAPSv02 functionals (~0.1 s a clip)"
    )
    tone_backend: Literal["prosody", "openai", "qwen2-audio"] = "prosody"
    audio_llm: AudioLlmSettings | None = None
    qwen2_audio: Qwen2AudioSettings = Field(default_factory=Qwen2AudioSettings)

    def fingerprint_view(self) -> dict[str, Any]:
        """Only the chosen tone backend's settings, without timeouts and retries, decide."""
        view = super().fingerprint_view()
        if self.tone_backend != "openai":
            view.pop("audio_llm")
        elif view["audio_llm"]:
            for key in ("timeout_s", "max_retries"):
                view["audio_llm"].pop(key)
        if self.tone_backend != "qwen2-audio":
            view.pop("qwen2_audio")
        return view

    @model_validator(mode="after")
    def _llm_configured(self) -> AudioSettings:
        if self.tone_backend == "openai" and self.audio_llm is None:
            raise ValueError("audio_llm (base_url, model) is required when tone_backend is openai")
        return self


class AudioStage(Stage[AudioSettings]):
    name = "audio"
    summary = "16 kHz mono audio, speech regions, prosody and a tone description."
    settings_model = AudioSettings
    output_model = AudioData
    requires = ("filter",)
    reads_media = True

    def __init__(self, settings: AudioSettings, facts: RunFacts) -> None:
        super().__init__(settings, facts)
        self._detector: Any = None
        self._tone_llm: Any = None
        self._egemaps: Any = None

    def setup(self) -> None:
        """Load the VAD, openSMILE and the tone client once per worker. If that fails (a
        missing extra), the host logs why once and fails each sample with that one line."""
        if self._detector is not None:
            return
        require("numpy", "audio", "the audio stage")
        from merr_factory.prosody.vad import SpeechDetector

        if self.settings.egemaps:
            from merr_factory.prosody.egemaps import EgemapsExtractor

            self._egemaps = EgemapsExtractor()
        self._tone_llm = self._load_tone_llm()
        self._detector = SpeechDetector(self.settings.vad)

    def _load_tone_llm(self) -> Any:
        """The audio-language model that picks the tone, or None for the prosody rules."""
        settings = self.settings
        if settings.tone_backend == "openai":
            from merr_factory.backends.tone.openai_audio import OpenAiAudioTone

            assert settings.audio_llm is not None
            return OpenAiAudioTone(settings.audio_llm)
        if settings.tone_backend == "qwen2-audio":
            from merr_factory.backends.tone.qwen2_audio import Qwen2AudioTone

            return Qwen2AudioTone(settings.qwen2_audio)
        return None

    def process(self, sample: SampleContext) -> StageResult:
        ingest = sample.input(IngestData)
        if ingest.kind == "image" or ingest.probe.audio is None:
            return StageResult(data=_no_speech(AudioExtract(has_audio=False), silent=True))
        if self._detector is None:
            raise RuntimeError("audio: setup() was not called before process()")
        wav = sample.workdir / AUDIO_WAV
        started = time.perf_counter()
        extract = extract_audio(sample.source.path, wav, segment=sample.source.segment)
        metrics = {"audio_seconds": extract.duration, "decode_s": time.perf_counter() - started}
        if extract.is_silent(self.settings.silence_db):
            return StageResult(data=_no_speech(extract, silent=True), metrics=metrics)
        return StageResult(data=self._analyse(wav, extract, metrics), metrics=metrics)

    def _analyse(self, wav: Path, extract: AudioExtract, metrics: dict[str, float]) -> AudioData:

        from merr_factory.media.audio import read_wav_float
        from merr_factory.prosody.features import measure_prosody

        samples, rate = read_wav_float(wav)
        started = time.perf_counter()
        speech = self._detector.regions(samples, rate)
        metrics["vad_s"] = time.perf_counter() - started
        if not speech:
            return _no_speech(extract, silent=False)
        started = time.perf_counter()
        prosody = measure_prosody(samples, rate, speech, self.settings.pitch)
        metrics["prosody_s"] = time.perf_counter() - started
        assert prosody is not None
        egemaps = None
        if self._egemaps is not None:
            started = time.perf_counter()
            egemaps = self._egemaps.measure(samples, rate, speech)
            metrics["egemaps_s"] = time.perf_counter() - started
        decision = describe_tone(prosody, self.settings.tone)
        data = AudioData(
            has_audio=True,
            silent=False,
            duration=extract.duration,
            prosody=prosody,
            speech_segments=speech,
            tone=decision.tone,
            tone_phrase=decision.phrase,
            tone_source="prosody",
            tone_cues=list(decision.cues),
            tone_rule=decision.rule,
            peak_db=extract.peak_db,
            rms_db=extract.rms_db,
            egemaps=egemaps,
        )
        if self._tone_llm is not None:
            self._ask_llm(wav, data, metrics)
        return data

    def _ask_llm(self, wav: Path, data: AudioData, metrics: dict[str, float]) -> None:
        """Let the audio LLM choose the tone; an answer outside the list keeps the rules' tone."""
        started = time.perf_counter()
        answer = self._tone_llm.choose(wav)
        metrics["tone_llm_s"] = time.perf_counter() - started
        data.tone_llm_answer = answer.raw
        if answer.tone is not None:
            assert answer.tone in TONES
            data.tone = answer.tone
            data.tone_source = "audio_llm"
            data.tone_phrase = tone_phrase(answer.tone, frozenset(data.tone_cues))


def _no_speech(extract: AudioExtract, silent: bool) -> AudioData:
    return AudioData(
        has_audio=extract.has_audio,
        silent=silent,
        duration=extract.duration,
        prosody=None,
        speech_segments=[],
        tone=None,
        tone_phrase=None,
        tone_source="prosody",
        peak_db=extract.peak_db if extract.has_audio else None,
        rms_db=extract.rms_db if extract.has_audio else None,
    )


__all__ = ["SAMPLE_RATE", "AudioSettings", "AudioStage"]
