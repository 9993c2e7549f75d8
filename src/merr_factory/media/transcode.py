"""Re-encoding a clip into a container Emotion-LLaMA opens (it looks for ``<name>.mp4``, else
``<name>.avi``), frame for frame: one decode pass, one frame in memory at a time.

Every decoded frame is encoded once, in order, at the source's frame rate, so the new clip
holds exactly as many frames as were decoded (the count the MERR ``.txt`` line must carry).
Only the first video stream is kept: Emotion-LLaMA reads the picture, and the sound travels
as its own 16 kHz wav. A clip with a display rotation (a phone's portrait clip) is written
upright, without a display matrix, as the frame reader hands it out.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from merr_factory.media.frames import upright_rgb, upright_size, upright_turns

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
            stream = None
            for frame in reader.decode(video=0):
                turns = upright_turns(frame)
                if stream is None:  # the first frame tells the display rotation
                    size = upright_size(frame.width, frame.height, turns)
                    stream = writer.add_stream("libx264", rate=rate, options={"crf": str(crf)})
                    stream.width, stream.height = (side // 2 * 2 for side in size)  # even
                    stream.pix_fmt = "yuv420p"
                if turns:
                    frame = av.VideoFrame.from_ndarray(upright_rgb(frame, turns), format="rgb24")
                picture = frame.reformat(stream.width, stream.height, "yuv420p")
                picture.pts, picture.time_base = frames, Fraction(1) / rate
                writer.mux(stream.encode(picture))
                frames += 1
            if stream is not None:
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
