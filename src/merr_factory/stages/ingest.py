"""ingest: describe each input file (streams, duration, size, frames) and join its label."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, field_validator

from merr_factory.inputs.discovery import Extensions, SampleSource
from merr_factory.inputs.labels import LabelRow
from merr_factory.media.probe import probe_media
from merr_factory.stage_data import IngestData, LabelStatus
from merr_factory.stages.base import SampleContext, Stage, StageResult, StageSettings

log = logging.getLogger(__name__)


class IngestSettings(StageSettings):
    """Which files are samples, and what to do when two files would get the same id."""

    video_extensions: list[str] = Field(default=[".mp4", ".avi", ".mov", ".mkv", ".webm"])
    image_extensions: list[str] = Field(default=[".jpg", ".jpeg", ".png"])
    on_duplicate_id: Literal["rename", "error"] = "rename"

    @field_validator("video_extensions", "image_extensions")
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        return sorted(
            {"." + value.strip().lower().lstrip(".") for value in values if value.strip()}
        )

    def extensions(self) -> Extensions:
        return Extensions(video=tuple(self.video_extensions), image=tuple(self.image_extensions))


class IngestStage(Stage[IngestSettings]):
    name = "ingest"
    summary = "Probe every input file (duration, fps, frames, size, audio) and join its label."
    settings_model = IngestSettings
    output_model = IngestData
    reads_media = True

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "label_set": list(self.facts.label_set)}

    def source_identity(self, source: SampleSource, label: LabelRow | None) -> Any:
        row = None if label is None else {"label": label.label, "valence": label.valence}
        return {"file": source.identity(), "label": row}

    def thread_safe(self) -> bool:
        """No model: a probe opens its own file (PyAV containers are per call)."""
        return True

    def process(self, sample: SampleContext) -> StageResult:
        source = sample.source
        probe = probe_media(source.path, source.kind)
        if probe.error:
            log.warning("%s: %s", source.relpath, probe.error)
        label = sample.label.label if sample.label else None
        data = IngestData(
            source=source.relpath,
            name=source.stem,
            kind=source.kind,
            size_bytes=source.size,
            probe=probe,
            label=label,
            valence=sample.label.valence if sample.label else None,
            label_status=self._label_status(label),
        )
        return StageResult(data=data)

    def _label_status(self, label: str | None) -> LabelStatus:
        if label is None:
            return "unlabelled"
        return "labelled" if label in self.facts.label_set else "outside_label_set"
