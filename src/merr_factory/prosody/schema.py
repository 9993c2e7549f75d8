"""The settings and results of the prosody package, without numpy: the stage registry and
the config load them on a core install, before any audio library is imported."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Segment = tuple[float, float]


class VadSettings(BaseModel):
    """Silero VAD's knobs; the defaults are Silero's own, with a 30 ms pad."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=0.5, gt=0, lt=1, description="speech probability")
    min_speech_ms: int = Field(default=250, ge=0, description="shorter bursts are ignored")
    min_silence_ms: int = Field(default=100, ge=0, description="shorter gaps do not split")
    speech_pad_ms: int = Field(default=30, ge=0, description="padding around each region")


class PitchSettings(BaseModel):
    """The pitch search range (Praat's floor and ceiling), wide enough for low male and high
    child voices."""

    model_config = ConfigDict(extra="forbid")

    fmin_hz: float = Field(default=65.0, gt=20)
    fmax_hz: float = Field(default=500.0, gt=20)
    min_peak_prominence_db: float = Field(
        default=2.0, gt=0, description="energy rise that counts as a syllable nucleus"
    )
