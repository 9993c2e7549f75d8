"""The one interface every LLM backend implements, and the errors they raise.

A backend turns chat messages into one reply. It knows nothing of caching, retries, schemas
beyond passing one on, or usage totals: ``LLMClient`` adds those around any backend.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message; ``images`` are files sent along where the model takes them."""

    role: Role
    content: str
    images: tuple[Path, ...] = ()

    def as_key(self) -> dict[str, Any]:
        """What identifies this message in a cache key (images by their content)."""
        images = [hashlib.sha256(image.read_bytes()).hexdigest() for image in self.images]
        return {"role": self.role, "content": self.content, "images": images}


@dataclass(frozen=True)
class GenerationParams:
    """What, besides the messages, decides a reply."""

    temperature: float
    max_tokens: int
    json_schema: dict[str, Any] | None = None
    seed: int | None = None


@dataclass
class Completion:
    """One reply and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class LLMError(RuntimeError):
    """A call failed in a way that retrying will not fix (bad request, missing model...).

    ``usage``: what the failed question cost until it failed (``LLMClient`` sets it), so
    the attempts it made still count in the run's totals."""

    usage: Any = None  # a stage_data.UsageInfo


class TransientLLMError(LLMError):
    """A call failed in a way that may pass on retry: rate limit (429), 5xx, timeout.

    When retries run out it is a failure of the environment (the server), not the sample."""

    fault_kind = "environment"


class LLMReplyError(LLMError):
    """The reply did not match the schema, even after one repair attempt.

    The message's first line says why; the raw reply follows on the next lines, so the
    failure record (which keeps the whole error text in its traceback) keeps it too.
    """

    def __init__(self, reason: str, raw_reply: str) -> None:
        super().__init__(f"{reason}\nraw reply: {raw_reply[:4000]}")
        self.reason = reason
        self.raw_reply = raw_reply


class LLMBackend(ABC):
    """A model family behind one call. ``load`` is heavy and runs once per worker."""

    name: str
    takes_images: bool = False

    @property
    @abstractmethod
    def model_id(self) -> str:
        """The model's identity: it keys the reply cache and the stage fingerprint."""

    @abstractmethod
    def load(self) -> None:
        """Load weights or open connections; called once before the first ``complete``."""

    @abstractmethod
    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """One reply to ``messages``. Must be safe to call from several threads."""

    def check_images(self, messages: list[Message]) -> None:
        if not self.takes_images and any(message.images for message in messages):
            raise LLMError(f"the {self.name} backend does not take images")
