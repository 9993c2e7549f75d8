"""Qwen2-Audio (the successor of the Qwen-Audio that MERR used) in process, via transformers.

The model hears the clip's 16 kHz wav and is asked MERR's question; its reply is judged
against the fixed list like any other backend's. Loaded once per worker; needs a GPU for the
7B model in practice (it runs on a CPU, slowly).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from merr_factory.backends.tone import ToneAnswer, parse_tone, tone_prompt
from merr_factory.media.audio import read_wav_float
from merr_factory.optional import require

if TYPE_CHECKING:
    from merr_factory.backends.tone.settings import Qwen2AudioSettings

EXTRA = "tone-qwen2-audio"
MAX_NEW_TOKENS = 8  # one word, with room for punctuation


class Qwen2AudioTone:
    def __init__(self, settings: Qwen2AudioSettings) -> None:
        transformers: Any = require("transformers", EXTRA, "the Qwen2-Audio tone backend")
        self._torch: Any = require("torch", EXTRA, "the Qwen2-Audio tone backend")
        from merr_factory.backends.device import torch_device

        # A hub id (downloaded to the Hugging Face cache on first use) or a local directory.
        self._processor = transformers.AutoProcessor.from_pretrained(settings.model)
        self._model = transformers.Qwen2AudioForConditionalGeneration.from_pretrained(
            settings.model, dtype=settings.dtype
        ).to(torch_device(settings.device))
        self._model.eval()
        conversation = [
            {
                "role": "user",
                "content": [
                    {"type": "audio", "audio_url": "clip.wav"},
                    {"type": "text", "text": tone_prompt()},
                ],
            }
        ]
        self._text = self._processor.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=False
        )

    def choose(self, wav: Path) -> ToneAnswer:
        audio, rate = read_wav_float(wav)
        inputs = self._processor(
            text=self._text, audio=[audio], sampling_rate=rate, return_tensors="pt"
        ).to(self._model.device)
        with self._torch.inference_mode():
            output = self._model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        reply = output[:, inputs["input_ids"].shape[1] :]
        return parse_tone(self._processor.batch_decode(reply, skip_special_tokens=True)[0])
