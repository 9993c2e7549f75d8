"""Speech regions with Silero VAD, run by ONNX Runtime (the model file ships inside the
faster-whisper wheel: no download, no torch, no code compiled at run time)."""

from __future__ import annotations

from typing import Any

import numpy as np

from merr_factory.optional import require
from merr_factory.prosody.schema import Segment, VadSettings

VAD_SAMPLE_RATE = 16000  # the only rate this Silero model takes


class SpeechDetector:
    """Loads the VAD once; ``regions`` is then cheap (tens of ms per clip on a CPU)."""

    def __init__(self, settings: VadSettings) -> None:
        vad: Any = require("faster_whisper.vad", "audio", "voice activity detection (Silero VAD)")
        self._options = vad.VadOptions(
            threshold=settings.threshold,
            min_speech_duration_ms=settings.min_speech_ms,
            min_silence_duration_ms=settings.min_silence_ms,
            speech_pad_ms=settings.speech_pad_ms,
        )
        self._get_speech_timestamps = vad.get_speech_timestamps
        vad.get_vad_model()  # loaded (and cached by faster-whisper) here, not on the first clip

    def regions(self, samples: np.ndarray, sample_rate: int) -> list[Segment]:
        """Speech regions ``[(start_s, end_s), ...]`` of a float32 mono signal, in order."""
        if sample_rate != VAD_SAMPLE_RATE:
            raise ValueError(f"the VAD takes {VAD_SAMPLE_RATE} Hz audio, not {sample_rate} Hz")
        if samples.size == 0:
            return []
        found = self._get_speech_timestamps(
            np.ascontiguousarray(samples, dtype=np.float32), self._options, sample_rate
        )
        return [
            (round(item["start"] / sample_rate, 3), round(item["end"] / sample_rate, 3))
            for item in found
        ]
