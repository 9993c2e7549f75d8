"""The settings of the audio-language-model tone backends (the audio stage holds them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AudioLlmSettings(BaseModel):
    """An audio-language model behind an OpenAI-compatible endpoint that accepts audio."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="e.g. http://localhost:8000/v1 (vLLM serving Qwen2-Audio)")
    model: str = Field(description="the model name the endpoint serves")
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the API key"
    )
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0)


class Qwen2AudioSettings(BaseModel):
    """Qwen2-Audio run in process by transformers."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="Qwen/Qwen2-Audio-7B-Instruct", description="a hub id or a local directory"
    )
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:1 ...")
    dtype: str = Field(default="auto", description="auto, bfloat16, float16, float32")
