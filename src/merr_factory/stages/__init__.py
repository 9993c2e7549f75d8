"""The registry of stages, in pipeline order."""

from __future__ import annotations

from .asr import AsrStage
from .audio import AudioStage
from .base import Stage
from .export import ExportStage
from .faces import FacesStage
from .filter import FilterStage
from .ingest import IngestStage
from .label import LabelStage
from .peak import PeakStage
from .synthesize import SynthesizeStage
from .visual import VisualStage

STAGES: tuple[type[Stage], ...] = (
    IngestStage,
    FilterStage,
    FacesStage,
    PeakStage,
    AudioStage,
    AsrStage,
    VisualStage,
    SynthesizeStage,
    LabelStage,
    ExportStage,
)

STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
_BY_NAME = {stage.name: stage for stage in STAGES}


def stage_class(name: str) -> type[Stage]:
    """The stage registered as ``name``."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; stages are: {', '.join(STAGE_NAMES)}") from None
