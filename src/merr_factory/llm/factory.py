"""Settings -> backend object (each backend's package is imported only when chosen)."""

from __future__ import annotations

from merr_factory.llm.base import LLMBackend
from merr_factory.llm.settings import LLMSettings


def make_backend(settings: LLMSettings) -> LLMBackend:
    if settings.backend == "openai":
        from merr_factory.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.backend == "transformers":
        from merr_factory.llm.transformers_backend import TransformersBackend

        return TransformersBackend(settings)
    from merr_factory.llm.llamacpp_backend import LlamaCppBackend

    return LlamaCppBackend(settings)
