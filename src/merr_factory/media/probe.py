"""Probing a media file's streams: duration, frame rate, frame count, size, rotation, audio."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av

from merr_factory.faults import first_line, is_environment_fault
from merr_factory.inputs.segment import Segment
from merr_factory.media.segments import crop_pixels, segment_error
from merr_factory.stage_data import AudioInfo, MediaProbe, SampleKind

MEDIA_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, OSError, ValueError)


def describe_error(error: BaseException) -> str:
    """A one-line reason for a media error, without the file path (callers add it)."""
    if isinstance(error, av.FFmpegError) and getattr(error, "strerror", None):
        return str(error.strerror)
    return first_line(error)


def probe_media(path: Path, kind: SampleKind, segment: Segment | None = None) -> MediaProbe:
    """Probe ``path``; never raises for a bad file, returns a probe with ``error`` instead.

    For a ``segment`` the probe describes the sample, not the file: the range's duration and
    (estimated) frames, the crop's size; a range the file cannot hold is an ``error``.

    A failure of the environment (permission denied, a busy file, a network filesystem that
    went away) is raised instead: it says nothing about the file, and must be retried."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise_if_environment(error)
        return MediaProbe(readable=False, error=f"cannot read file ({error.strerror})")
    if size == 0:
        return MediaProbe(readable=False, error="empty file (0 bytes)")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            probe = _probe_container(container, kind)
    except MEDIA_ERRORS as error:
        raise_if_environment(error)
        return MediaProbe(
            readable=False, error=f"not a readable media file ({describe_error(error)})"
        )
    if segment is None or not probe.readable or kind == "image":
        return probe
    return _segment_probe(probe, segment)


def _segment_probe(probe: MediaProbe, segment: Segment) -> MediaProbe:
    """The file's probe narrowed to ``segment``: its duration, frames and cropped size."""
    error = segment_error(segment, probe.duration)
    if error is not None:
        return MediaProbe(readable=False, error=error, format=probe.format)
    end = probe.duration if segment.end is None else segment.end
    if end is not None and probe.duration is not None:
        end = min(end, probe.duration)
    duration = None if end is None else round(end - segment.start, 4)
    frames = round(duration * probe.fps) if duration is not None and probe.fps else None
    width, height = probe.upright_size
    if width and height and segment.crop:
        width, height = crop_pixels(width, height, segment.crop)[2:]
        if round(probe.rotation / 90) % 2:  # stored turned: ``upright_size`` swaps them back
            width, height = height, width
    audio = probe.audio and probe.audio.model_copy(update={"duration": duration})
    return probe.model_copy(
        update={
            "duration": duration,
            "frames": frames,
            "frames_source": "estimate" if frames is not None else None,
            "width": width,
            "height": height,
            "audio": audio,
        }
    )


def raise_if_environment(error: BaseException) -> None:
    """Re-raise a reading error that is the environment's (see ``faults.py``), so that it
    becomes a failure retried next run rather than a fact about the file.

    FFmpeg's decoders also report errno codes (EAGAIN, EIO) for damaged data; only an error
    that names the file (opening or reading it failed) is taken as the environment's."""
    if not is_environment_fault(error):
        return
    if isinstance(error, av.FFmpegError) and not getattr(error, "filename", None):
        return
    raise error


def _probe_container(container: Any, kind: SampleKind) -> MediaProbe:
    if not container.streams.video:
        return MediaProbe(
            readable=False,
            error="no video stream",
            format=container.format.name,
            audio=_audio_info(container),
        )
    stream = container.streams.video[0]
    first = _first_frame(container, stream)
    if isinstance(first, str):
        return MediaProbe(readable=False, error=first, format=container.format.name)
    duration = None if kind == "image" else _duration(container, stream)
    fps = None if kind == "image" else _rate(stream)
    frames, frames_source = _frame_count(stream, duration, fps, kind)
    return MediaProbe(
        readable=True,
        format=container.format.name,
        duration=duration,
        fps=fps,
        frames=frames,
        frames_source=frames_source,
        width=stream.codec_context.width or first.width,
        height=stream.codec_context.height or first.height,
        rotation=round(getattr(first, "rotation", 0) or 0) % 360,
        video_codec=_codec_name(stream),
        audio=_audio_info(container),
    )


def _first_frame(container: Any, stream: Any) -> Any:
    """The first decoded frame, or a sentence saying why there is none."""
    try:
        for frame in container.decode(stream):
            return frame
    except MEDIA_ERRORS as error:
        raise_if_environment(error)
        return f"cannot decode the first video frame ({describe_error(error)})"
    return "the video stream holds no frames"


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return round(float(stream.duration * stream.time_base), 4)
    if container.duration is not None:
        return round(container.duration / av.time_base, 4)
    return None


def _rate(stream: Any) -> float | None:
    rate: Fraction | None = stream.average_rate or stream.guessed_rate or stream.base_rate
    return round(float(rate), 4) if rate else None


def _frame_count(
    stream: Any, duration: float | None, fps: float | None, kind: SampleKind
) -> tuple[int | None, Literal["header", "estimate", "image"] | None]:
    if kind == "image":
        return 1, "image"
    if stream.frames:
        return int(stream.frames), "header"
    if duration and fps:
        return round(duration * fps), "estimate"
    return None, None


def _audio_info(container: Any) -> AudioInfo | None:
    if not container.streams.audio:
        return None
    stream = container.streams.audio[0]
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = round(float(stream.duration * stream.time_base), 4)
    return AudioInfo(
        codec=_codec_name(stream),
        sample_rate=stream.codec_context.sample_rate or None,
        channels=stream.codec_context.channels or None,
        duration=duration,
    )


def _codec_name(stream: Any) -> str:
    """The codec's own name ("mp3"), not its decoder's ("mp3float")."""
    codec = stream.codec_context.codec
    return getattr(codec, "canonical_name", None) or codec.name
