"""A local Hugging Face causal LM (a hub id, a folder, or a GGUF read by transformers).

Loaded once per worker in ``load``. Replies are not grammar-constrained here: the schema is
stated in the prompt, the reply is started with the schema's first key (a prefill, which
small models need to answer in JSON at all), and ``LLMClient`` checks (and repairs once).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from merr_factory.llm.base import Completion, GenerationParams, LLMBackend, LLMError, Message
from merr_factory.llm.settings import LLMSettings
from merr_factory.optional import require


class TransformersBackend(LLMBackend):
    name = "transformers"

    def __init__(self, settings: LLMSettings) -> None:
        if not settings.model:
            raise LLMError("the transformers backend needs `model` (a hub id or a folder)")
        self.settings = settings
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        suffix = f"/{self.settings.gguf_file}" if self.settings.gguf_file else ""
        return f"{self.settings.model}{suffix}"

    def load(self) -> None:
        if self._model is not None:
            return
        transformers = require("transformers", "llm-transformers", "the transformers LLM backend")
        require("torch", "llm-transformers", "the transformers LLM backend")
        options: dict[str, Any] = {}
        if self.settings.gguf_file:
            options["gguf_file"] = self.settings.gguf_file
        model_name = self.settings.model
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(model_name, **options)
        model = transformers.AutoModelForCausalLM.from_pretrained(model_name, **options)
        if self.settings.device != "cpu":
            model = model.to(self.settings.device)
        self._model = model.eval()

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        self.check_images(messages)
        self.load()
        torch = require("torch", "llm-transformers", "the transformers LLM backend")
        chat = [{"role": m.role, "content": m.content} for m in messages]
        prefill = json_prefill(params.json_schema)
        if prefill:
            chat.append({"role": "assistant", "content": prefill})
        start = time.perf_counter()
        with self._lock:
            inputs = self._tokenizer.apply_chat_template(
                chat,
                add_generation_prompt=not prefill,
                continue_final_message=bool(prefill),
                return_tensors="pt",
                return_dict=True,
            ).to(self._model.device)
            options: dict[str, Any] = {"max_new_tokens": params.max_tokens}
            if params.temperature > 0:
                options.update(do_sample=True, temperature=params.temperature)
                if params.seed is not None:
                    torch.manual_seed(params.seed)
            else:
                options["do_sample"] = False
            with torch.no_grad():
                output = self._model.generate(
                    **inputs, pad_token_id=self._tokenizer.eos_token_id, **options
                )
        prompt_length = inputs["input_ids"].shape[1]
        new_tokens = output[0][prompt_length:]
        return Completion(
            text=prefill + self._tokenizer.decode(new_tokens, skip_special_tokens=True),
            prompt_tokens=int(prompt_length),
            completion_tokens=len(new_tokens),
            seconds=time.perf_counter() - start,
        )


def json_prefill(schema: dict[str, Any] | None) -> str:
    """The start of a reply to ``schema``: ``{"<first key>": `` (and ``"`` for a string)."""
    if not schema or not schema.get("properties"):
        return ""
    key, spec = next(iter(schema["properties"].items()))
    is_text = spec.get("type") == "string" or all(isinstance(v, str) for v in spec.get("enum", [0]))
    return f'{{"{key}": ' + ('"' if is_text else "")
