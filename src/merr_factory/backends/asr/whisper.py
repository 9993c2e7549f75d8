"""openai-whisper: the reference implementation; a model name ("small") or a ``.pt`` file."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from merr_factory.backends.asr.base import AsrBackend, AsrOptions, AsrSegment, Task, Transcription
from merr_factory.backends.device import torch_device
from merr_factory.optional import require


class WhisperBackend(AsrBackend):
    name = "whisper"

    def __init__(self, model: str, options: AsrOptions) -> None:
        super().__init__(model, options)
        self._whisper: Any = require("whisper", "asr-whisper", "the whisper backend")
        self._device = torch_device(options.device)
        # A name is downloaded to download_root (default ~/.cache/whisper) on first use.
        self._model = self._whisper.load_model(
            model, device=self._device, download_root=options.download_root
        )

    @property
    def multilingual(self) -> bool:
        return bool(self._model.is_multilingual)

    def transcribe(self, audio: np.ndarray, language: str | None, task: Task) -> Transcription:
        result = self._whisper.transcribe(
            self._model,
            audio.astype(np.float32, copy=False),
            language=language,
            task=task,
            # One greedy/beam pass: the default temperature ladder retries up to 6 times
            # on hard audio, which costs far more than it gains on short clips.
            temperature=0.0,
            beam_size=self.options.beam_size,
            condition_on_previous_text=False,
            initial_prompt=self.options.initial_prompt,
            fp16=self._device != "cpu",
            verbose=None,
        )
        segments = [
            AsrSegment(
                start=float(item["start"]),
                end=float(item["end"]),
                text=item["text"],
                avg_logprob=_finite(item.get("avg_logprob")),
                no_speech_prob=_finite(item.get("no_speech_prob")),
            )
            for item in result["segments"]
        ]
        return Transcription(language=result.get("language"), segments=segments)


def _finite(value: Any) -> float | None:
    """A score as a float, or None when the model gave none (or a NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
