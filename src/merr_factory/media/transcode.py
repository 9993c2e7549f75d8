"""Re-encoding a clip into a container Emotion-LLaMA opens (it looks for ``<name>.mp4``, else
``<name>.avi``), frame for frame: one decode pass, one frame in memory at a time.

Every decoded frame is encoded once, in order, at the source's frame rate, so the new clip
holds exactly as many frames as were decoded (the count the MERR ``.txt`` line must carry).
Only the first video stream is kept: Emotion-LLaMA reads the picture, and the sound travels
as its own 16 kHz wav.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

DEFAULT_RATE = Fraction(25)


def transcode_to_mp4(source: Path, target: Path, crf: int = 18) -> int:
    """Write ``source``'s first video stream as H.264 in ``target`` (.mp4); returns the number
    of frames written. The target is written whole or not at all (a temporary name first)."""
    partial = target.with_name(f".{target.name}.partial.mp4")
    frames = 0
    try:
        with av.open(str(source)) as reader, av.open(str(partial), "w") as writer:
            video = reader.streams.video[0]
            rate = video.average_rate or video.guessed_rate or DEFAULT_RATE
            stream = writer.add_stream("libx264", rate=rate, options={"crf": str(crf)})
            stream.width = video.codec_context.width // 2 * 2  # H.264 wants even sizes
            stream.height = video.codec_context.height // 2 * 2
            stream.pix_fmt = "yuv420p"
            for frame in reader.decode(video=0):
                picture = frame.reformat(stream.width, stream.height, "yuv420p")
                picture.pts, picture.time_base = frames, Fraction(1) / rate
                writer.mux(stream.encode(picture))
                frames += 1
            writer.mux(stream.encode())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return frames


def count_frames(path: Path) -> int:
    """The video packets of the first video stream: its frame count, read without decoding."""
    with av.open(str(path)) as reader:
        video = reader.streams.video[0]
        return sum(1 for packet in reader.demux(video) if packet.size)
