"""``transformers`` scene backend: a local image-text-to-text model (e.g. SmolVLM, Qwen2-VL,
LLaVA), loaded once per worker, greedy decoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from merr_factory.backends.vision.base import SCENE_PROMPT, SceneDescriber, one_paragraph
from merr_factory.optional import require


class TransformersDescriber(SceneDescriber):
    name = "transformers"

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        prompt: str = SCENE_PROMPT,
        max_tokens: int = 96,
    ) -> None:
        super().__init__(model, prompt, max_tokens)
        self.device = device
        self._processor: Any = None
        self._model: Any = None

    def setup(self) -> None:
        transformers = require(
            "transformers", "vision-transformers", "The transformers scene backend"
        )
        self._processor = transformers.AutoProcessor.from_pretrained(self.model)
        self._model = transformers.AutoModelForImageTextToText.from_pretrained(self.model)
        self._model.to(self.device).eval()

    def describe(self, image: Path) -> str:
        if self._model is None:
            self.setup()
        torch = require("torch", "vision-transformers", "The transformers scene backend")
        messages = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}
        ]
        prompt = self._processor.apply_chat_template(messages, add_generation_prompt=True)
        with Image.open(image) as picture:
            inputs = self._processor(text=prompt, images=[picture.convert("RGB")],
                                     return_tensors="pt")  # fmt: skip
        inputs = inputs.to(self.device)
        with torch.inference_mode():
            output = self._model.generate(**inputs, max_new_tokens=self.max_tokens,
                                          do_sample=False)  # fmt: skip
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return one_paragraph(self._processor.decode(new_tokens, skip_special_tokens=True))
