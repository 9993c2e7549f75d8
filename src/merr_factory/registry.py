"""The registry of stages, in pipeline order: the one module that imports every stage."""

from __future__ import annotations

from .stages.asr import AsrStage
from .stages.audio import AudioStage
from .stages.base import Stage
from .stages.export import ExportStage
from .stages.faces import FacesStage
from .stages.features import FeaturesStage
from .stages.filter import FilterStage
from .stages.ingest import IngestStage
from .stages.label import LabelStage
from .stages.peak import PeakStage
from .stages.synthesize import SynthesizeStage
from .stages.visual import VisualStage

STAGES: tuple[type[Stage], ...] = (
    IngestStage,
    FilterStage,
    FacesStage,
    PeakStage,
    AudioStage,
    AsrStage,
    FeaturesStage,
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
