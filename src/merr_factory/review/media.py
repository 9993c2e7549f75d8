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

PLAYABLE_CONTAINERS = ("mov,mp4,m4a,3gp,3g2,mj2",)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def copy_name(sample_id: str) -> str:
    return hashlib.sha256(sample_id.encode("utf-8")).hexdigest()[:24] + ".mp4"


def playable_copy(source: Path, cache: Path, sample_id: str) -> Path:
    """The cached copy of ``source`` (made now if missing); av.FFmpegError when unreadable."""
    target = cache / copy_name(sample_id)
    with _locks_guard:
        lock = _locks.setdefault(target.name, threading.Lock())
    with lock:
        if not target.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial.mp4")
            try:
                if _remuxable(source):
                    _remux(source, partial)
                else:
                    _encode(source, partial)
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


def _encode(source: Path, target: Path) -> None:
    with (
        av.open(str(source)) as reader,
        av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as writer,
    ):
        video = reader.streams.video[0]
        audio = reader.streams.audio[0] if reader.streams.audio else None
        rate = video.average_rate or video.guessed_rate or 25
        out_video = writer.add_stream("libx264", rate=rate, options={"crf": "23"})
        out_video.width = video.codec_context.width // 2 * 2
        out_video.height = video.codec_context.height // 2 * 2
        out_video.pix_fmt = "yuv420p"
        out_audio = writer.add_stream("aac", rate=48000) if audio is not None else None
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        streams = [video, audio] if audio is not None else [video]
        for frame in reader.decode(*streams):
            if isinstance(frame, av.VideoFrame):
                picture = frame.reformat(out_video.width, out_video.height, "yuv420p")
                picture.pts = None
                writer.mux(out_video.encode(picture))
            elif out_audio is not None:
                for chunk in resampler.resample(frame):
                    chunk.pts = None
                    writer.mux(out_audio.encode(chunk))
        writer.mux(out_video.encode(None))
        if out_audio is not None:
            writer.mux(out_audio.encode(None))
