"""The JSON replies the LLM must give, as pydantic models (their JSON schema constrains the
reply where the backend can; the label is an enum of the run's label set)."""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

MAX_REASONING_CHARS = 480  # MERR fine captions run 12-79 words


class MerrReasoning(BaseModel):
    """MERR mode: the label is given; the LLM explains which clues support it."""

    model_config = ConfigDict(extra="forbid")

    reasoning: str = Field(min_length=1, max_length=MAX_REASONING_CHARS)


class OpenPrediction(BaseModel):
    """Open mode: the label is not given; the LLM picks one of the set and explains why."""

    model_config = ConfigDict(extra="forbid")

    label: str
    reasoning: str = Field(min_length=1, max_length=MAX_REASONING_CHARS)


@functools.lru_cache(maxsize=16)
def open_prediction_model(label_set: tuple[str, ...]) -> type[OpenPrediction]:
    """``OpenPrediction`` whose ``label`` must be one of ``label_set`` (a JSON-schema enum).

    Built once per label set: making a pydantic model costs milliseconds, per sample."""
    allowed = Literal[label_set]  # type: ignore[valid-type]
    return create_model(
        "OpenPrediction",
        __base__=OpenPrediction,
        label=(allowed, Field(description="one of the allowed emotion labels")),
    )


class JudgeVerdict(BaseModel):
    """The LLM judge: does the MERR reasoning follow from the clues and support the label?"""

    model_config = ConfigDict(extra="forbid")

    accept: bool
    why: str = Field(min_length=1, max_length=MAX_REASONING_CHARS)
