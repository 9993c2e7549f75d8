"""Checking that a video can really be read to its end, at a chosen cost."""

from __future__ import annotations

from itertools import takewhile
from pathlib import Path

import av

from merr_factory.inputs.segment import Segment
from merr_factory.media.probe import MEDIA_ERRORS, describe_error, raise_if_environment
from merr_factory.media.segments import after, seek_to, stream_start
from merr_factory.stage_data import DecodeCheck, DecodeMode


def check_decodable(path: Path, mode: DecodeMode, segment: Segment | None = None) -> DecodeCheck:
    """Read the first video stream as far as ``mode`` asks (of ``segment`` only, when given:
    from the keyframe before its start to its end).

    - ``first_frame``: decode one frame (catches broken headers and codecs).
    - ``packets``: also demux every packet without decoding (catches truncation; cheap).
    - ``full``: decode every frame (catches corrupt data mid-stream; as costly as decoding).
    """
    if mode == "none":
        return DecodeCheck(mode=mode, ok=True)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                return DecodeCheck(mode=mode, ok=False, error="no video stream")
            stream = container.streams.video[0]
            if segment is not None:
                seek_to(container, stream, segment.start)
            if mode == "full":
                frames = container.decode(stream)
                count = sum(1 for _ in takewhile(lambda f: not _past(f, stream, segment), frames))
                return _result(mode, count, decoded_any=count > 0)
            return _demux(container, stream, mode, segment)
    except MEDIA_ERRORS as error:
        raise_if_environment(error)  # a fault of the environment is no fact about the file
        return DecodeCheck(mode=mode, ok=False, error=describe_error(error))


def _demux(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    mode: DecodeMode,
    segment: Segment | None,
) -> DecodeCheck:
    """One pass: decode packets until the first frame appears, then only count packets."""
    count = 0
    decoded_any = False
    for packet in container.demux(stream):
        if _past(packet, stream, segment):
            break
        if not decoded_any:
            decoded_any = bool(packet.decode())
            if decoded_any and mode == "first_frame":
                return DecodeCheck(mode=mode, ok=True)
        if packet.size:
            count += 1
    return _result(mode, count, decoded_any)


def _past(item: av.Packet | av.VideoFrame, stream: av.VideoStream, segment: Segment | None) -> bool:
    """A packet or frame at or after the segment's end (decode order: a packet shown before
    it may follow, a few frames of the range go uncounted at most)."""
    if segment is None or item.pts is None or item.time_base is None:
        return False
    return after(segment, float(item.pts * item.time_base) - stream_start(stream))


def _result(mode: DecodeMode, count: int, decoded_any: bool) -> DecodeCheck:
    if not decoded_any:
        return DecodeCheck(
            mode=mode, ok=False, frames_read=count, error="no frame could be decoded"
        )
    return DecodeCheck(mode=mode, ok=True, frames_read=None if mode == "first_frame" else count)
