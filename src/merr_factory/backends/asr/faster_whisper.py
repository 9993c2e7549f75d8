"""faster-whisper (CTranslate2): the fast CPU/GPU Whisper; a model name or a local directory."""

from __future__ import annotations

from typing import Any

import numpy as np

from merr_factory.backends.asr.base import AsrBackend, AsrOptions, AsrSegment, Task, Transcription
from merr_factory.optional import require
from merr_factory.threads import thread_budget


class FasterWhisperBackend(AsrBackend):
    name = "faster-whisper"

    def __init__(self, model: str, options: AsrOptions) -> None:
        super().__init__(model, options)
        library: Any = require("faster_whisper", "asr-faster-whisper", "the faster-whisper backend")
        # A local directory (a converted CTranslate2 model) or a name such as "small" that
        # the library downloads from the Hugging Face hub on first use.
        self._model = library.WhisperModel(
            model,
            device=options.device,
            compute_type=options.compute_type,
            download_root=options.download_root,
            cpu_threads=thread_budget(),  # CTranslate2's own pool ignores OMP_NUM_THREADS
        )

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def transcribe(self, audio: np.ndarray, language: str | None, task: Task) -> Transcription:
        segments, info = self._model.transcribe(
            audio.astype(np.float32, copy=False),
            language=language,
            task=task,
            beam_size=self.options.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            initial_prompt=self.options.initial_prompt,
            vad_filter=False,  # the audio stage's VAD already gates the speech
        )
        found = [
            AsrSegment(
                start=float(segment.start),
                end=float(segment.end),
                text=segment.text,
                avg_logprob=float(segment.avg_logprob),
                no_speech_prob=float(segment.no_speech_prob),
            )
            for segment in segments  # a generator: decoding happens here
        ]
        return Transcription(
            language=info.language,
            segments=found,
            language_probability=float(info.language_probability),
        )
