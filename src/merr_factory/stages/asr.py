"""asr: what is said: transcript, language, timed segments, and English text for MERR.

The audio stage's voice activity detection gates the model: a clip without audio or without
speech regions gets an empty transcript and the model never runs (Whisper invents text on
silence). Segments the model places outside every speech region, or marks as probably not
speech, are dropped for the same reason.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from merr_factory.artifacts import AUDIO_WAV
from merr_factory.backends.asr import (
    GIVEN,
    AsrBackend,
    AsrBackendName,
    AsrOptions,
    AsrSegment,
    load_asr_backend,
    resolve_model,
)
from merr_factory.curation.gates import transcript_problems
from merr_factory.faults import first_line
from merr_factory.media.audio import read_wav_float
from merr_factory.optional import MissingDependencyError
from merr_factory.stage_data import AsrData, AsrSegmentData, AudioData, IngestData
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings


class AsrLoadError(RuntimeError):
    """The asr model cannot be loaded, or cannot transcribe the configured language."""


NO_SPEECH_LOGPROB = -1.0  # Whisper's rule: no_speech_prob high AND avg_logprob below this


class AsrSettings(StageSettings):
    """Which model transcribes, in which language, and whether to translate into English."""

    backend: AsrBackendName = "whisper"
    model: str = Field(
        default="small", description="a model name the backend downloads, or a local path"
    )
    language: str = Field(default="auto", description="auto (detect), or an ISO code: zh, en...")
    translate: bool = Field(
        default=False, description="also store an English translation of non-English speech"
    )
    options: AsrOptions = Field(default_factory=AsrOptions)
    no_speech_threshold: float = Field(default=0.6, ge=0, le=1)
    min_overlap_s: float = Field(
        default=0.1, ge=0, description="a segment must overlap VAD speech by this much"
    )
    min_confidence: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="a transcript below this confidence (mean token probability) is "
        "unreliable: kept out of the LLM's prompt and MERR's text (0: trust all); Whisper "
        "itself calls a decode failed below exp(-1) = 0.37",
    )
    spoken_language: str | None = Field(
        default=None,
        description="the language spoken in the clips when known (zh for MER2023): a "
        "transcript in another language (an English-only model on Mandarin) is unreliable",
    )

    def fingerprint_view(self) -> dict[str, Any]:
        """Where models are cached does not change what they say."""
        view = super().fingerprint_view()
        view["options"].pop("download_root")
        return view

    @field_validator("language")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower() or "auto"


class AsrStage(Stage[AsrSettings]):
    name = "asr"
    summary = "Speech transcript, language, segments, and English text."
    settings_model = AsrSettings
    output_model = AsrData
    requires = ("audio",)

    def __init__(self, settings: AsrSettings, facts: RunFacts) -> None:
        super().__init__(settings, facts)
        self._backend: AsrBackend | None = None

    def identity(self) -> dict[str, Any]:
        if self.settings.backend == GIVEN:
            return super().identity()
        return {**super().identity(), "model_files": _model_files(self.settings.model)}

    def setup(self) -> None:
        """Load the model once per worker. A model that cannot load (or cannot hear the
        configured language) raises one line saying why; the host logs it once and fails
        each sample with it (the run goes on, ``status`` shows it)."""
        if self._backend is not None or self.settings.backend == GIVEN:
            return
        settings = self.settings
        try:
            backend = load_asr_backend(settings.backend, settings.model, settings.options)
        except Exception as error:
            raise AsrLoadError(
                f"cannot load asr model {settings.model!r} with backend {settings.backend!r}: "
                f"{type(error).__name__}: {first_line(error)}"
            ) from error
        if not backend.multilingual and settings.language not in ("auto", "en"):
            raise AsrLoadError(
                f"asr model {settings.model!r} is English-only: language {settings.language!r} "
                "needs a multilingual model (e.g. whisper small or medium)"
            )
        self._backend = backend

    def process(self, sample: SampleContext) -> StageResult:
        if self.settings.backend == GIVEN:
            return StageResult(data=self._given(sample.input(IngestData)))
        audio = sample.input(AudioData)
        if not audio.has_audio or not audio.speech_segments:
            return StageResult(data=self._empty())
        samples, _ = read_wav_float(sample.input_file(AudioData, AUDIO_WAV))
        backend = self._model()
        language = None if self.settings.language == "auto" else self.settings.language
        started = time.perf_counter()
        heard = backend.transcribe(samples, language=language, task="transcribe")
        kept = self._speech_only(heard.segments, audio.speech_segments)
        text = _join(kept, heard.language)
        text_en = text if heard.language == "en" else None
        if text and text_en is None and self.settings.translate and backend.multilingual:
            translated = backend.transcribe(samples, language=heard.language, task="translate")
            text_en = _join(self._speech_only(translated.segments, audio.speech_segments), "en")
        data = AsrData(
            backend=self.settings.backend,
            model=self.settings.model,
            text=text,
            language=heard.language,
            segments=[AsrSegmentData(start=s.start, end=s.end, text=s.text.strip()) for s in kept],
            text_en=text_en,
            confidence=_confidence(kept),
            language_probability=heard.language_probability,
            dropped_segments=len(heard.segments) - len(kept),
        )
        if text:
            data.unreliable = transcript_problems(
                data.confidence,
                heard.language,
                self.settings.spoken_language,
                self.settings.min_confidence,
                self.settings.model,
            )
        metrics = {"asr_s": time.perf_counter() - started, "audio_seconds": audio.duration}
        return StageResult(data=data, metrics=metrics)

    def _model(self) -> AsrBackend:
        if self._backend is None:
            raise RuntimeError("asr: setup() was not called before process()")
        return self._backend

    def _given(self, ingest: IngestData) -> AsrData:
        """``backend: given``: the dataset's words, no model (empty where it gives none)."""
        text = (ingest.transcript or "").strip()
        language = ingest.language if text else None
        english = ingest.extra.get("text_en")
        return AsrData(
            backend=GIVEN,
            model=GIVEN,
            text=text,
            language=language,
            segments=[],
            text_en=text if language == "en" else english,
            confidence=None,
        )

    def _empty(self) -> AsrData:
        return AsrData(
            backend=self.settings.backend,
            model=self.settings.model,
            text="",
            language=None,
            segments=[],
            text_en="",
            confidence=None,
        )

    def _speech_only(
        self, segments: list[AsrSegment], speech: list[tuple[float, float]]
    ) -> list[AsrSegment]:
        """Drop segments outside the speech regions, or that Whisper itself calls non-speech."""
        kept = []
        for segment in segments:
            if not segment.text.strip():
                continue
            overlap = sum(
                max(0.0, min(segment.end, end) - max(segment.start, start)) for start, end in speech
            )
            if overlap < min(self.settings.min_overlap_s, segment.end - segment.start):
                continue
            if _no_speech(segment, self.settings.no_speech_threshold):
                continue
            kept.append(segment)
        return kept


def _no_speech(segment: AsrSegment, threshold: float) -> bool:
    if segment.no_speech_prob is None or segment.avg_logprob is None:
        return False
    return segment.no_speech_prob > threshold and segment.avg_logprob < NO_SPEECH_LOGPROB


def _join(segments: list[AsrSegment], language: str | None) -> str:
    """Whisper puts a space before each word in spaced languages; none in zh, ja..."""
    if language in {"zh", "ja", "yue", "th", "lo", "my", "bo"}:
        return "".join(segment.text.strip() for segment in segments)
    return " ".join(segment.text.strip() for segment in segments).strip()


def _confidence(segments: list[AsrSegment]) -> float | None:
    """Duration-weighted mean token probability, exp(avg_logprob), where the backend gives it."""
    scored = [s for s in segments if s.avg_logprob is not None]
    weights = [max(s.end - s.start, 0.01) for s in scored]
    if not scored:
        return None
    total = sum(w * math.exp(s.avg_logprob or 0.0) for w, s in zip(weights, scored, strict=True))
    return round(min(1.0, total / sum(weights)), 4)


def _model_files(model: str) -> list[Any] | None:
    """A local model's files (name, size), so replacing the model makes outputs stale."""
    try:
        path = Path(resolve_model(model)).expanduser()
    except MissingDependencyError:
        return None
    if not path.exists():
        return None  # a model name: the name is the identity
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[p.relative_to(path.parent).as_posix(), p.stat().st_size] for p in files]
