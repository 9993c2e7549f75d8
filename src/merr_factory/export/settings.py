"""What the export writes: its formats and the export stage's settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from merr_factory.stages.base import StageSettings

Format = Literal[
    "merr", "sharegpt", "instructions", "parquet", "curation", "quality", "card", "plots", "report"
]
ShareGptMedia = Literal["video+audio", "video"]
# LLaMA-Factory templates (data/template.py) whose plugin takes both a video and an audio
# token; every other template refuses an ``audios`` column ("does not support audio input").
OMNI_TEMPLATES = ("qwen2_omni", "qwen3_omni", "qwen3_omni_nothink", "minicpm_o", "gemma4n")
VIDEO_TEMPLATES = ("qwen2_vl", "qwen3_vl", "llava_next_video", "video_llava", "internvl")
ALL_FORMATS: tuple[Format, ...] = (
    "merr",
    "sharegpt",
    "instructions",
    "parquet",
    "curation",
    "quality",
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
    sharegpt_media: ShareGptMedia = Field(
        default="video+audio",
        description="video+audio: <video><audio> with videos and audios, for LLaMA-Factory's "
        "omni templates (qwen2_omni, qwen3_omni, minicpm_o, gemma4n); video: <video> and "
        "videos only, for its video templates (qwen2_vl, qwen3_vl, llava_next_video, ...)",
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
