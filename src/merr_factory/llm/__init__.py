"""LLM backends behind one interface, plus the reply cache, retries, schema checks, usage."""

from merr_factory.llm.base import (
    Completion,
    GenerationParams,
    LLMBackend,
    LLMError,
    LLMReplyError,
    Message,
    TransientLLMError,
)
from merr_factory.llm.client import LLMClient, parse_reply
from merr_factory.llm.factory import make_backend
from merr_factory.llm.settings import LLMSettings

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
    "make_backend",
    "parse_reply",
]
