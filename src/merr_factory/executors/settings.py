"""Executor settings (the ``executor:`` section of the config)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StageResources(BaseModel):
    """What one worker of a stage needs on a Ray cluster, and how many workers to start."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(default=1, ge=0)
    num_gpus: float = Field(default=0, ge=0)
    actors: int = Field(default=1, ge=1, description="workers that keep the stage's models loaded")


class ExecutorSettings(BaseModel):
    """Where and how samples are computed.

    ``local``: CPU-bound stages run on ``workers`` processes (each loads its models once), or
    in-process threads when ``workers`` is 1; I/O-bound stages (LLM calls) run concurrently on
    threads of the main process. ``ray``: the same stages on a Ray cluster, one pool of actors
    per stage with the resources given under ``resources``.

    ``clips_per_worker``: how many samples of the computing stages one worker (a process, a
    Ray actor, the in-process thread) holds at once, each on its own thread sharing the
    worker's models and its ``threads_per_worker``. A stage whose models are safe to share
    (``Stage.thread_safe``: py-feat's faces, the features stage) then batches frames of
    several clips into one model pass (``batching.py``); the others run one sample at a
    time per worker anyway. Worth more than 1 on a GPU, where one clip's frames do not fill
    a batch, or for light stages that wait on the store.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = "local"
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    threads_per_worker: int | None = Field(
        default=None,
        ge=1,
        description="local workers > 1: threads per process (default cores / workers)",
    )
    clips_per_worker: int = Field(
        default=1,
        ge=1,
        description="samples one worker computes at once, on threads sharing its models",
    )
    address: str | None = Field(
        default=None, description="ray: 'auto', ray://host:port, or none for a local Ray"
    )
    resources: dict[str, StageResources] = Field(default_factory=dict)
