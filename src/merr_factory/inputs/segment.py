"""A sample that is a time range of a file (and optionally a region of its frame)."""

from __future__ import annotations

from dataclasses import dataclass

from merr_factory.stage_data import SegmentData


@dataclass(frozen=True, slots=True)
class Segment:
    """A time range of a file in seconds (``end`` None: to its end), optionally cropped to a
    region given as fractions of the frame (x, y, width, height, each 0-1)."""

    start: float
    end: float | None
    crop: tuple[float, float, float, float] | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "crop": list(self.crop) if self.crop else None,
        }


def segment_of(data: SegmentData | None) -> Segment | None:
    """The segment a stored record describes (None: the whole file)."""
    if data is None:
        return None
    crop = data.crop
    return Segment(data.start, data.end, (crop[0], crop[1], crop[2], crop[3]) if crop else None)
