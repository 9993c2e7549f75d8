"""Settings -> backend object (each backend's package is imported only when chosen)."""

from __future__ import annotations

from .base import LLMBackend
from .settings import LLMSettings


def make_backend(settings: LLMSettings) -> LLMBackend:
    if settings.backend == "openai":
        from .openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.backend == "transformers":
        from .transformers_backend import TransformersBackend

        return TransformersBackend(settings)
    from .llamacpp_backend import LlamaCppBackend

    return LlamaCppBackend(settings)
