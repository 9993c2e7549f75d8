"""What the export writes: its formats and the export stage's settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..stages.base import StageSettings

Format = Literal[
    "merr", "sharegpt", "instructions", "parquet", "curation", "card", "plots", "report"
]
ALL_FORMATS: tuple[Format, ...] = (
    "merr",
    "sharegpt",
    "instructions",
    "parquet",
    "curation",
    "card",
    "plots",
    "report",
)


class ExportSettings(StageSettings):
    """What the export writes. ``parquet`` needs pyarrow and ``plots`` matplotlib
    (``pip install 'merr-factory[export]'``); leave them out of ``formats`` without them."""

    formats: list[Format] = Field(default_factory=lambda: list(ALL_FORMATS))
    dataset_name: str = Field(
        default="merr", pattern=r"^[A-Za-z0-9_.-]+$", description="LLaMA-Factory dataset key"
    )
    pretty_name: str = "MERR-style emotion reasoning dataset"
    license: str = "other"
    link_videos: bool = Field(
        default=True,
        description="hard-link (else copy) the MERR clips into export/videos/<name>.<ext>; "
        "false: ShareGPT refers to the clips where they are",
    )
    link_audio: bool = Field(
        default=True,
        description="hard-link (else copy) the 16 kHz wavs into export/audio/; false: "
        "ShareGPT refers to them in the output's stage folders",
    )

    @field_validator("formats")
    @classmethod
    def _ordered(cls, formats: list[Format]) -> list[Format]:
        return [name for name in ALL_FORMATS if name in formats]
