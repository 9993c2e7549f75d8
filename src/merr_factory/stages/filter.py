"""filter: keep or drop each sample by configurable rules, always saying why."""

from __future__ import annotations

from pydantic import Field

from merr_factory.media.integrity import check_decodable
from merr_factory.stage_data import (
    DecodeCheck,
    DecodeMode,
    FilterData,
    IngestData,
    MediaProbe,
    Reason,
)
from merr_factory.stages.base import SampleContext, Stage, StageResult, StageSettings


class FilterSettings(StageSettings):
    """Rules a sample must pass to go on. ``null`` switches a limit off.

    Duration and audio rules apply to videos only; an image is a one-frame sample.
    """

    min_duration: float | None = Field(default=1.0, ge=0, description="seconds")
    max_duration: float | None = Field(default=60.0, gt=0, description="seconds")
    min_width: int | None = Field(default=128, ge=1, description="pixels, as displayed")
    min_height: int | None = Field(default=128, ge=1, description="pixels, as displayed")
    require_audio: bool = False
    require_label: bool = False
    decode_check: DecodeMode = "packets"
    max_missing_frames: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="share of the header's frame count that may be missing before 'truncated'",
    )


class FilterStage(Stage[FilterSettings]):
    name = "filter"
    summary = "Keep or drop samples by duration, resolution, audio, label and decodability."
    settings_model = FilterSettings
    output_model = FilterData
    requires = ("ingest",)
    reads_media = True

    def thread_safe(self) -> bool:
        """No model: rules on the ingest record and a decode check of its own file."""
        return True

    def process(self, sample: SampleContext) -> StageResult:
        ingest = sample.input(IngestData)
        probe = ingest.probe
        if not probe.readable:
            reasons = [Reason(code="unreadable", message=probe.error or "unreadable file")]
            return StageResult(data=FilterData(keep=False, reasons=reasons), halt=reasons)
        reasons = self._rule_reasons(ingest)
        decode = None
        if not reasons:
            source = sample.source
            decode = check_decodable(source.path, self.settings.decode_check, source.segment)
            reasons = self._decode_reasons(decode, probe)
        return StageResult(
            data=FilterData(keep=not reasons, reasons=reasons, decode=decode), halt=reasons
        )

    def _rule_reasons(self, ingest: IngestData) -> list[Reason]:
        settings = self.settings
        probe = ingest.probe
        reasons: list[Reason] = []
        if ingest.kind == "video":
            reasons += _duration_reasons(probe, settings)
            if settings.require_audio and probe.audio is None:
                reasons.append(Reason(code="no_audio", message="no audio track"))
        width, height = (size or 0 for size in probe.upright_size)
        if (settings.min_width and width < settings.min_width) or (
            settings.min_height and height < settings.min_height
        ):
            reasons.append(
                Reason(
                    code="too_small",
                    message=f"{width}x{height} is below {settings.min_width}x{settings.min_height}",
                )
            )
        if settings.require_label and ingest.label_status != "labelled":
            reasons.append(Reason(code="no_label", message=f"label is {ingest.label_status}"))
        return reasons

    def _decode_reasons(self, decode: DecodeCheck, probe: MediaProbe) -> list[Reason]:
        if not decode.ok:
            return [Reason(code="undecodable", message=f"cannot decode: {decode.error}")]
        expected = probe.frames if probe.frames_source == "header" else None
        if expected and decode.frames_read is not None:
            allowed = expected * (1 - self.settings.max_missing_frames)
            if decode.frames_read < allowed:
                message = f"truncated: {decode.frames_read} of {expected} frames readable"
                return [Reason(code="truncated", message=message)]
        return []


def _duration_reasons(probe: MediaProbe, settings: FilterSettings) -> list[Reason]:
    duration = probe.duration
    if duration is None:
        return [Reason(code="no_duration", message="duration unknown")]
    if settings.min_duration is not None and duration < settings.min_duration:
        message = f"duration {duration:.2f} s is below {settings.min_duration} s"
        return [Reason(code="too_short", message=message)]
    if settings.max_duration is not None and duration > settings.max_duration:
        message = f"duration {duration:.2f} s is above {settings.max_duration} s"
        return [Reason(code="too_long", message=message)]
    return []
