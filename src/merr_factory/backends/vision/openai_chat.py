"""``openai`` scene backend: an OpenAI-compatible chat endpoint, the image sent inline.

The API key is read from the environment variable named in the settings (never from the
config file, never logged or stored). Servers that need no key (vLLM, Ollama, llama.cpp) get
a placeholder.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from merr_factory.backends.vision.base import (
    SCENE_PROMPT,
    SceneDescriber,
    SceneError,
    one_paragraph,
)
from merr_factory.optional import require


class OpenAIChatDescriber(SceneDescriber):
    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        prompt: str = SCENE_PROMPT,
        max_tokens: int = 96,
    ) -> None:
        super().__init__(model, prompt, max_tokens)
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self._client: Any = None

    def setup(self) -> None:
        openai = require("openai", "vision-openai", "The openai scene backend")
        api_key = os.environ.get(self.api_key_env) or "not-needed"
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key, timeout=self.timeout_s, max_retries=1
        )

    def describe(self, image: Path) -> str:
        if self._client is None:
            self.setup()
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        content = [
            {"type": "text", "text": self.prompt},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{encoded}"}},
        ]
        try:
            reply = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": content}],
                max_tokens=self.max_tokens,
                temperature=0,
            )
        except Exception as error:  # the client raises many types; the message says enough
            raise SceneError(f"scene description request failed: {error}") from error
        if not reply.choices:
            raise SceneError("the vision model returned no choices")
        return one_paragraph(reply.choices[0].message.content or "")
