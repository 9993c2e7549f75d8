"""A browser-playable copy of each clip, made once and cached under the run's output.

Browsers do not play every container and codec an input may have (AVI with MPEG-4 Part 2,
HEVC .mov). The copy is H.264 video and AAC sound in an MP4 whose index comes first (it
plays while it loads): remuxed, bytes untouched, when the clip already is H.264 (+ AAC) in
MP4/MOV, else re-encoded. The copy's name is a hash of the sample id: no text from a clip
ever becomes a path.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import av

from merr_factory.inputs.segment import Segment
from merr_factory.media.transcode import transcode_to_mp4

PLAYABLE_CONTAINERS = ("mov,mp4,m4a,3gp,3g2,mj2",)
WHOLE_FILE = Segment(0.0, None)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def copy_name(sample_id: str) -> str:
    return hashlib.sha256(sample_id.encode("utf-8")).hexdigest()[:24] + ".mp4"


def playable_copy(
    source: Path, cache: Path, sample_id: str, segment: Segment | None = None
) -> Path:
    """The cached copy of ``source``, or of its ``segment`` (made now if missing);
    av.FFmpegError when unreadable. A re-encode is the export's (``transcode_to_mp4``), with
    the sound as AAC: a whole file is read as the segment from its start to its end."""
    target = cache / copy_name(sample_id)
    with _locks_guard:
        lock = _locks.setdefault(target.name, threading.Lock())
    with lock:
        if not target.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial.mp4")
            try:
                if segment is None and _remuxable(source):
                    _remux(source, partial)
                else:
                    transcode_to_mp4(source, partial, crf=23, segment=segment or WHOLE_FILE)
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
    return target


def _remuxable(source: Path) -> bool:
    with av.open(str(source)) as reader:
        video = reader.streams.video[0] if reader.streams.video else None
        audio = reader.streams.audio[0] if reader.streams.audio else None
        return (
            reader.format.name in PLAYABLE_CONTAINERS
            and video is not None
            and video.codec_context.name == "h264"
            and (audio is None or audio.codec_context.name == "aac")
        )


def _remux(source: Path, target: Path) -> None:
    with (
        av.open(str(source)) as reader,
        av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as writer,
    ):
        streams = [reader.streams.video[0], *reader.streams.audio[:1]]
        copies = {s.index: writer.add_stream_from_template(s) for s in streams}
        for packet in reader.demux(streams):
            if packet.dts is None:
                continue
            packet.stream = copies[packet.stream.index]
            writer.mux(packet)
