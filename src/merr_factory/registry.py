"""The registry of stages, in pipeline order: the one module that imports every stage."""

from __future__ import annotations

from merr_factory.stages.asr import AsrStage
from merr_factory.stages.audio import AudioStage
from merr_factory.stages.base import Stage
from merr_factory.stages.export import ExportStage
from merr_factory.stages.faces import FacesStage
from merr_factory.stages.features import FeaturesStage
from merr_factory.stages.filter import FilterStage
from merr_factory.stages.ingest import IngestStage
from merr_factory.stages.label import LabelStage
from merr_factory.stages.peak import PeakStage
from merr_factory.stages.synthesize import SynthesizeStage
from merr_factory.stages.visual import VisualStage

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
