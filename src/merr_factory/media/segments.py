"""A sample that is a time range of its file, optionally a region of its frame: what every
reader of the media shares to read only that range.

- Seeking: ``seek_to`` puts the container at the keyframe at or before the range's start
  (``container.seek`` backward, on the stream read); the reader decodes from there and
  drops what comes before the start, so a range late in a long file costs one group of
  pictures more than the range itself, never a decode from the file's start.
- The range is half-open, ``[start, end)`` in seconds from the stream's start, with a
  millisecond of tolerance for rounded timestamps; ``end`` None runs to the file's end.
- Frames of a range are numbered from 0 at its first frame, and their times count from its
  start: the numbers and times of the cut clip the export writes.
- The crop (fractions x, y, width, height of the upright frame) becomes whole pixels once
  (``crop_pixels``); boxes found in a cropped frame are in the crop's pixels.
- A range the file cannot hold (``segment_error``): one that starts at or after the file's
  end, or ends more than ``END_SLACK`` seconds after it; a smaller overrun is cut at the end.
"""

from __future__ import annotations

import av
from av.container import InputContainer

from merr_factory.inputs.segment import Segment

TOLERANCE = 1e-3  # seconds: a frame stamped this much before the start belongs to the range
END_SLACK = 0.5  # seconds a range may end after the file's end (cut there), container rounding


def stream_start(stream: av.stream.Stream) -> float:
    """The stream's first timestamp in seconds (0.0 when it has none)."""
    if stream.start_time is None or not stream.time_base:
        return 0.0
    return float(stream.start_time * stream.time_base)


def seek_to(container: InputContainer, stream: av.stream.Stream, seconds: float) -> None:
    """Put the container at the keyframe at or before ``seconds`` (from the stream's start).
    A start at 0, or a stream without a time base, is read from its beginning."""
    if seconds <= 0 or not stream.time_base:
        return
    target = int((seconds + stream_start(stream)) / float(stream.time_base))
    container.seek(max(target, 0), stream=stream, backward=True, any_frame=False)


def before(segment: Segment, time: float) -> bool:
    """``time`` (seconds from the stream's start) comes before the range."""
    return time < segment.start - TOLERANCE


def after(segment: Segment, time: float) -> bool:
    """``time`` is at or past the range's end (never, for a range to the file's end)."""
    return segment.end is not None and time >= segment.end - TOLERANCE


def crop_pixels(
    width: int, height: int, crop: tuple[float, float, float, float] | None
) -> tuple[int, int, int, int]:
    """The crop of a ``width`` x ``height`` upright frame as whole pixels (left, top, width,
    height), at least one pixel each way and inside the frame; the whole frame without one."""
    if crop is None:
        return 0, 0, width, height
    x, y, w, h = crop
    left = min(max(round(x * width), 0), width - 1)
    top = min(max(round(y * height), 0), height - 1)
    right = min(max(round((x + w) * width), left + 1), width)
    bottom = min(max(round((y + h) * height), top + 1), height)
    return left, top, right - left, bottom - top


def segment_error(segment: Segment, file_duration: float | None) -> str | None:
    """Why the file cannot hold ``segment`` (None: it can, or its duration is unknown)."""
    if file_duration is None:
        return None
    span = f"segment {describe(segment)}"
    if segment.start >= file_duration:
        return f"{span} starts at or after the file's end ({file_duration:.2f} s)"
    if segment.end is not None and segment.end > file_duration + END_SLACK:
        return f"{span} ends after the file's end ({file_duration:.2f} s)"
    return None


def describe(segment: Segment) -> str:
    end = "end" if segment.end is None else f"{segment.end:.2f}"
    return f"{segment.start:.2f}-{end} s"
