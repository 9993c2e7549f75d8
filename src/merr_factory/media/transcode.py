"""Re-encoding a clip into a container Emotion-LLaMA opens (it looks for ``<name>.mp4``, else
``<name>.avi``), frame for frame: one decode pass, one frame in memory at a time.

Every decoded frame is encoded once, in order, at the source's frame rate, so the new clip
holds exactly as many frames as were decoded (the count the MERR ``.txt`` line must carry).
Only the first video stream is kept: Emotion-LLaMA reads the picture, and the sound travels
as its own 16 kHz wav. A clip with a display rotation (a phone's portrait clip) is written
upright, without a display matrix, as the frame reader hands it out.

A segment (a time range of the file, perhaps a crop of its frame) is written cut: its frames
only, numbered and cropped as every reader of the range sees them (``media/frames.py``), and
its sound as AAC (16 kHz mono, the samples of the audio stage's wav), so the clip is the
sample on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer, OutputContainer

from merr_factory.inputs.segment import Segment
from merr_factory.media.audio import SAMPLE_RATE, segment_pcm
from merr_factory.media.frames import SegmentFrames, cropped_rgb, upright_rgb, upright_turns

DEFAULT_RATE = Fraction(25)


def transcode_to_mp4(
    source: Path, target: Path, crf: int = 18, segment: Segment | None = None
) -> int:
    """Write ``source``'s first video stream as H.264 in ``target`` (.mp4), of ``segment``
    only (with its sound) when given; returns the number of frames written. The target is
    written whole or not at all (a temporary name first)."""
    partial = target.with_name(f".{target.name}.partial.mp4")
    frames = 0
    try:
        with av.open(str(source)) as reader, av.open(str(partial), "w") as writer:
            video = reader.streams.video[0]
            rate = video.average_rate or video.guessed_rate or DEFAULT_RATE
            stream = None
            for picture in _pictures(reader, video, segment):
                if stream is None:  # the first frame tells the (upright, cropped) size
                    stream = writer.add_stream("libx264", rate=rate, options={"crf": str(crf)})
                    stream.width = picture.width // 2 * 2  # even
                    stream.height = picture.height // 2 * 2
                    stream.pix_fmt = "yuv420p"
                picture = picture.reformat(stream.width, stream.height, "yuv420p")
                picture.pts, picture.time_base = frames, Fraction(1) / rate
                writer.mux(stream.encode(picture))
                frames += 1
            if stream is not None:
                writer.mux(stream.encode())
        if segment is not None and frames:
            _add_sound(source, partial, segment)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return frames


def _pictures(
    reader: InputContainer, video: av.VideoStream, segment: Segment | None
) -> Iterator[av.VideoFrame]:
    """The frames to encode, upright (and of a segment, cut and cropped)."""
    if segment is None:
        for frame in reader.decode(video):
            turns = upright_turns(frame)
            if turns:
                frame = av.VideoFrame.from_ndarray(upright_rgb(frame, turns), format="rgb24")
            yield frame
        return
    for _, _, frame in SegmentFrames(reader, video, segment):
        if segment.crop is not None or upright_turns(frame):
            rgb = cropped_rgb(frame, segment.crop)[0]
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        yield frame


def _add_sound(source: Path, clip: Path, segment: Segment) -> None:
    """Rewrite ``clip`` with ``segment``'s sound beside its picture (nothing without one)."""
    with av.open(str(source)) as reader:
        if not reader.streams.audio:
            return
        pcm = b"".join(segment_pcm(reader, reader.streams.audio[0], segment, SAMPLE_RATE))
    if not pcm:
        return
    both = clip.with_name(f"{clip.name}.av.mp4")
    try:
        with av.open(str(clip)) as picture, av.open(str(both), "w") as writer:
            video = picture.streams.video[0]
            copied = writer.add_stream_from_template(video)
            sound = writer.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
            for packet in picture.demux(video):
                if packet.dts is not None:
                    packet.stream = copied
                    writer.mux(packet)
            _encode_aac(writer, sound, np.frombuffer(pcm, dtype=np.int16))
        both.replace(clip)
    finally:
        both.unlink(missing_ok=True)


def _encode_aac(writer: OutputContainer, sound: av.AudioStream, samples: np.ndarray) -> None:
    step = 1024
    for start in range(0, len(samples), step):
        chunk = samples[start : start + step].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        writer.mux(sound.encode(frame))
    writer.mux(sound.encode(None))


def count_frames(path: Path) -> int:
    """The video packets of the first video stream: its frame count, read without decoding."""
    with av.open(str(path)) as reader:
        video = reader.streams.video[0]
        return sum(1 for packet in reader.demux(video) if packet.size)
