"""LLM backends behind one interface, plus the reply cache, retries, schema checks, usage."""

from .base import (
    Completion,
    GenerationParams,
    LLMBackend,
    LLMError,
    LLMReplyError,
    Message,
    TransientLLMError,
)
from .client import LLMClient, Usage, parse_reply
from .factory import make_backend
from .settings import LLMSettings

__all__ = [
    "Completion",
    "GenerationParams",
    "LLMBackend",
    "LLMClient",
    "LLMError",
    "LLMReplyError",
    "LLMSettings",
    "Message",
    "TransientLLMError",
    "Usage",
    "make_backend",
    "parse_reply",
]
