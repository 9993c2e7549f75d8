"""The one interface every speech recognition backend implements.

A backend loads its model once (``__init__``, called from the stage's ``setup``) and then
transcribes 16 kHz mono float32 signals. It reports what the model gives: segments with
times, the language, and per-segment log-probabilities where the model exposes them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np

Task = Literal["transcribe", "translate"]


class AsrOptions(BaseModel):
    """Decoding options shared by the backends (each uses those its library has)."""

    model_config = ConfigDict(extra="forbid")

    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:1 ...")
    compute_type: str = Field(default="default", description="faster-whisper: int8, float16...")
    beam_size: int = Field(default=5, ge=1)
    initial_prompt: str | None = Field(
        default=None,
        description="text that steers style, e.g. '以下是普通话的句子。' for Simplified Chinese "
        "(whisper and faster-whisper)",
    )
    download_root: str | None = Field(
        default=None, description="where model names are downloaded to (library default: None)"
    )


@dataclass(frozen=True)
class AsrSegment:
    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


@dataclass
class Transcription:
    language: str | None
    segments: list[AsrSegment] = field(default_factory=list)
    language_probability: float | None = None


class AsrBackend(ABC):
    """A speech recognition model, loaded once per worker."""

    name: ClassVar[str]

    def __init__(self, model: str, options: AsrOptions) -> None:
        self.model_name = model
        self.options = options

    @property
    @abstractmethod
    def multilingual(self) -> bool:
        """False for English-only models (``*.en``): they neither detect nor translate."""

    @abstractmethod
    def transcribe(self, audio: np.ndarray, language: str | None, task: Task) -> Transcription:
        """Transcribe (or translate into English) ``audio``; ``language`` None: detect it."""
