"""Speech regions with silero-vad (its weights ship inside its wheel: no download)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..optional import require
from .schema import Segment, VadSettings


class SpeechDetector:
    """Loads silero-vad once; ``regions`` is then cheap (tens of ms per clip on a CPU)."""

    def __init__(self, settings: VadSettings) -> None:
        self.settings = settings
        silero = require("silero_vad", "audio", "voice activity detection (silero-vad)")
        self._torch: Any = require("torch", "audio", "voice activity detection (silero-vad)")
        self._get_speech_timestamps = silero.get_speech_timestamps
        with warnings.catch_warnings():  # deprecations inside silero and torch.jit, not ours
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            self._model = silero.load_silero_vad()

    def regions(self, samples: np.ndarray, sample_rate: int) -> list[Segment]:
        """Speech regions ``[(start_s, end_s), ...]`` of a float32 mono signal, in order."""
        if samples.size == 0:
            return []
        settings = self.settings
        with self._torch.inference_mode():
            found = self._get_speech_timestamps(
                self._torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)),
                self._model,
                sampling_rate=sample_rate,
                threshold=settings.threshold,
                min_speech_duration_ms=settings.min_speech_ms,
                min_silence_duration_ms=settings.min_silence_ms,
                speech_pad_ms=settings.speech_pad_ms,
            )
        self._model.reset_states()
        return [
            (round(item["start"] / sample_rate, 3), round(item["end"] / sample_rate, 3))
            for item in found
        ]
