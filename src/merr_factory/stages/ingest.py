"""ingest: describe each input file (streams, duration, size, frames) and join its label."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, field_validator

from merr_factory.inputs.discovery import Extensions, SampleSource
from merr_factory.inputs.labels import LabelRow
from merr_factory.media.probe import probe_media
from merr_factory.stage_data import IngestData, LabelStatus, MediaProbe, SegmentData
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
        if label is not None and row is not None and _from_dataset(label):
            row["dataset"] = _dataset_fields(label)  # only then: CSV runs stay current
        return {"file": source.identity(), "label": row}

    def thread_safe(self) -> bool:
        """No model: a probe opens its own file (PyAV containers are per call)."""
        return True

    def process(self, sample: SampleContext) -> StageResult:
        source = sample.source
        if source.missing:  # named by the dataset's label file: a fact, not a fault to retry
            probe = MediaProbe(readable=False, error="file not found (named by the dataset)")
        else:
            probe = probe_media(source.path, source.kind, source.segment)
        if probe.error:
            log.warning("%s: %s", source.relpath, probe.error)
        row = sample.label
        label = row.label if row else None
        data = IngestData(
            source=source.relpath,
            name=source.name or source.stem,
            kind=source.kind,
            size_bytes=source.size,
            probe=probe,
            label=label,
            valence=row.valence if row else None,
            label_status=self._label_status(label, row),
        )
        if row is not None and _from_dataset(row):
            data = data.model_copy(update=_dataset_fields(row))
        if source.segment is not None:
            segment = source.segment
            data.segment = SegmentData(
                start=segment.start,
                end=segment.end,
                crop=list(segment.crop) if segment.crop else None,
            )
        return StageResult(data=data)

    def _label_status(self, label: str | None, row: LabelRow | None) -> LabelStatus:
        if label is None:
            return "unlabelled"
        if row is not None and row.excluded is not None:
            return "outside_label_set"
        return "labelled" if label in self.facts.label_set else "outside_label_set"


def _from_dataset(row: LabelRow) -> bool:
    """A row a dataset adapter made (a label CSV's rows carry only label and valence): any
    of its dataset fields given, a manifest line with only arousal or extra columns too."""
    fields = _dataset_fields(row)
    return bool(fields.pop("extra")) or any(value is not None for value in fields.values())


def _dataset_fields(row: LabelRow) -> dict[str, Any]:
    return {
        "native_label": row.native,
        "excluded": row.excluded,
        "arousal": row.arousal,
        "scale": row.scale,
        "speaker": row.speaker,
        "transcript": row.text,
        "language": row.language,
        "split": row.split,
        "extra": dict(row.extra),
    }
