"""Hugging Face transformers: any Whisper checkpoint through the speech recognition pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np

from merr_factory.backends.asr.base import AsrBackend, AsrOptions, AsrSegment, Task, Transcription
from merr_factory.backends.device import torch_device
from merr_factory.optional import require

SAMPLE_RATE = 16_000
MULTILINGUAL_VOCAB = 51865  # Whisper's English-only models have 51864 tokens


class TransformersBackend(AsrBackend):
    name = "transformers"

    def __init__(self, model: str, options: AsrOptions) -> None:
        super().__init__(model, options)
        if options.initial_prompt:
            raise ValueError(
                "initial_prompt is supported by the whisper and faster-whisper backends"
            )
        library: Any = require("transformers", "asr-transformers", "the transformers backend")
        self._torch: Any = require("torch", "asr-transformers", "the transformers backend")
        # A hub id ("openai/whisper-small", downloaded to the HF cache) or a local directory.
        self._pipe = library.pipeline(
            "automatic-speech-recognition",
            model=model,
            device=torch_device(options.device),
            model_kwargs={"cache_dir": options.download_root} if options.download_root else None,
        )

    @property
    def multilingual(self) -> bool:
        return int(self._pipe.model.config.vocab_size) >= MULTILINGUAL_VOCAB

    def transcribe(self, audio: np.ndarray, language: str | None, task: Task) -> Transcription:
        audio = audio.astype(np.float32, copy=False)
        if not self.multilingual:
            language, task = "en", "transcribe"
        elif language is None:
            language = self._detect_language(audio)
        kwargs: dict[str, Any] = {"num_beams": self.options.beam_size}
        if self.multilingual:
            kwargs.update(language=language, task=task)
        result = self._pipe(
            {"raw": audio, "sampling_rate": SAMPLE_RATE},
            return_timestamps=True,
            generate_kwargs=kwargs,
        )
        duration = len(audio) / SAMPLE_RATE
        segments = [_segment(chunk, duration) for chunk in result.get("chunks") or []]
        if not segments and result.get("text", "").strip():
            segments = [AsrSegment(start=0.0, end=duration, text=result["text"])]
        return Transcription(language=language, segments=segments)

    def _detect_language(self, audio: np.ndarray) -> str | None:
        """Whisper's own language detection on the first 30 s (a language token)."""
        features = self._pipe.feature_extractor(
            audio[: 30 * SAMPLE_RATE], sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features.to(self._pipe.model.device, self._pipe.model.dtype)
        with self._torch.inference_mode():
            token_ids = self._pipe.model.detect_language(features)
        token = self._pipe.tokenizer.convert_ids_to_tokens(int(token_ids[0]))
        return token.strip("<|>") if token else None


def _segment(chunk: dict[str, Any], duration: float) -> AsrSegment:
    start, end = chunk.get("timestamp") or (None, None)
    start = 0.0 if start is None else float(start)
    end = duration if end is None else float(end)
    return AsrSegment(start=start, end=end, text=chunk.get("text", ""))
