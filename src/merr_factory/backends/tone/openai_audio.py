"""An audio-language model behind an OpenAI-compatible endpoint picks the tone.

The wav goes in as an ``input_audio`` content part (base64); the API key, when the endpoint
needs one, is read from the environment variable the settings name, and never stored.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from merr_factory.backends.tone import ToneAnswer, parse_tone, tone_prompt
from merr_factory.optional import require

if TYPE_CHECKING:
    from merr_factory.backends.tone.settings import AudioLlmSettings

NO_KEY = "EMPTY"  # what local servers (vLLM, llama.cpp) accept when they need no key


class OpenAiAudioTone:
    """One client per worker; ``choose`` is one chat call per clip."""

    def __init__(self, settings: AudioLlmSettings) -> None:
        openai: Any = require("openai", "tone-openai", "the audio-LLM tone backend")
        self.settings = settings
        self._client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=_api_key(settings.api_key_env),
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    def choose(self, wav: Path) -> ToneAnswer:
        audio = base64.b64encode(wav.read_bytes()).decode("ascii")
        reply = self._client.chat.completions.create(
            model=self.settings.model,
            temperature=0,
            max_tokens=8,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}},
                        {"type": "text", "text": tone_prompt()},
                    ],
                }
            ],
        )
        return parse_tone(reply.choices[0].message.content or "")


def _api_key(variable: str | None) -> str:
    if variable is None:
        return NO_KEY
    value = os.environ.get(variable)
    if not value:
        raise ValueError(f"the audio LLM's API key variable {variable} is not set")
    return value
