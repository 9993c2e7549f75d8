"""Streaming frames out of a clip at a sample rate, one decode pass, flat memory.

Frames are numbered in the clip's own decode order from 0 (``index``); ``time`` is the
frame's presentation time in seconds from the start of the stream. An image is a clip of one
frame (index 0, time 0.0). Only the frame being handed out is held in memory, so a two-hour
clip costs what a two-second one does.

Sampling: with ``sample_fps`` set, a frame is kept when its time reaches the next sampling
instant (0, 1/fps, 2/fps, ...). Only kept frames are converted to RGB and resized (one
libswscale call straight to the detector's size, its context reused from frame to frame),
and only what they need is decoded: a demux pass numbers the frames from their packets
first, then non-reference frames between kept ones are not decoded, groups of pictures
holding no kept frame are left out and decoding stops after the last kept frame
(``decode_plan``); the frames, their numbers and times are those of a plain decode. A
stream whose packets cannot number its frames (no timestamps) is decoded frame by frame.

Decoder threads: FFmpeg's frame threads, at most the worker's thread budget
(``threads.thread_budget``); left to itself FFmpeg starts one per core in every worker.

Upright: a clip whose stream carries a display matrix (a phone's portrait clip is stored
landscape and says "turn me 90 degrees") is handed out as it is shown, turned by that
matrix's rotation (the nearest quarter turn), so every reader (faces, peak frames, features)
sees the face upright and boxes are in the upright frame's pixels; ``width`` and ``height``
are the upright ones. Images are turned by their EXIF orientation likewise. The rotation is
read from each decoded frame (PyAV's ``VideoFrame.rotation``, counter-clockwise degrees, as
FFmpeg's ``av_display_rotation_get`` gives it; PyAV before 14.1 has none and frames stay as
stored). Mirroring in the matrix is not applied.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageOps

from merr_factory.media.decode_plan import ClipPackets, read_packets
from merr_factory.threads import thread_budget

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True)
class Frame:
    """One frame handed to a detector: RGB pixels, possibly downscaled by ``scale``."""

    index: int
    time: float
    rgb: np.ndarray  # H x W x 3, uint8, upright
    scale: float = 1.0  # rgb size / the clip's upright size: boxes divide by it to get clip pixels

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


class FrameSampler:
    """Decides which frame times to keep at ``fps`` samples per second (None: every frame).

    A frame is kept when its time reaches the next sampling instant (0, 1/fps, 2/fps, ...);
    a millisecond of tolerance (less at high rates) keeps frames whose timestamps are rounded
    just below it.
    """

    def __init__(self, fps: float | None) -> None:
        self.step = None if not fps else 1.0 / fps
        self.next_time = 0.0

    def keep(self, time: float) -> bool:
        if self.step is None:
            return True
        tolerance = min(1e-3, self.step / 100)
        if time < self.next_time - tolerance:
            return False
        while self.next_time <= time + tolerance:
            self.next_time += self.step
        return True


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


class FrameStream:
    """The frames of one clip, iterated once; counts the clip's frames (``frames_total``), those
    the decoder gave back (``frames_decoded``), and the clip's upright size."""

    def __init__(
        self, path: Path, sample_fps: float | None = None, max_side: int | None = None
    ) -> None:
        self.path = path
        self.sample_fps = sample_fps
        self.max_side = max_side
        self.frames_total = 0
        self.frames_decoded = 0
        self.width: int | None = None
        self.height: int | None = None

    def __iter__(self) -> Iterator[Frame]:
        if is_image(self.path):
            frame = _image_frame(self.path, self.max_side)
            self.frames_total = self.frames_decoded = 1
            self.width = round(frame.width / frame.scale)
            self.height = round(frame.height / frame.scale)
            yield frame
            return
        packets = clip_packets(self.path) if self.sample_fps else None
        reformatter = VideoReformatter()
        with open_video(self.path) as (container, stream):
            start = _start_seconds(stream)
            for index, frame in self._decoded(container, stream, packets, start):
                turns = upright_turns(frame)
                self.width, self.height = upright_size(frame.width, frame.height, turns)
                width, height, scale = _target_size(self.width, self.height, self.max_side)
                rgb = upright_rgb(frame, turns, width, height, reformatter)
                time = _frame_seconds(frame, stream, start, index)
                yield Frame(index=index, time=round(time, 4), rgb=rgb, scale=scale)

    def _decoded(
        self,
        container: InputContainer,
        stream: av.VideoStream,
        packets: ClipPackets | None,
        start: float,
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """The kept frames as (number, frame): planned from ``packets``, else every frame
        decoded and the sampler asked of each."""
        if packets is not None:
            sampler = FrameSampler(self.sample_fps)
            times = [_pts_seconds(pts, stream.time_base, start) for pts in packets.presentation]
            plan = packets.plan([index for index, time in enumerate(times) if sampler.keep(time)])
            self.frames_total = plan.frames_total
            for index, frame in plan.decode(container, stream):
                self.frames_decoded = plan.frames_decoded
                yield index, frame
            self.frames_decoded = plan.frames_decoded
            return
        sampler = FrameSampler(self.sample_fps)
        for index, frame in enumerate(container.decode(stream)):
            self.frames_total = self.frames_decoded = index + 1
            if sampler.keep(_frame_seconds(frame, stream, start, index)):
                yield index, frame


def iter_frames(
    path: Path, sample_fps: float | None = None, max_side: int | None = None
) -> Iterator[Frame]:
    """The clip's frames at ``sample_fps`` (None: all), upright, shrunk so that the longer
    side is at most ``max_side`` pixels (None: full size)."""
    return iter(FrameStream(path, sample_fps, max_side))


def iter_frames_at(path: Path, indices: Collection[int]) -> Iterator[Frame]:
    """The full-size upright frames numbered ``indices`` (as ``iter_frames`` numbers them),
    in clip order, decoding only what they need (``decode_plan``) and stopping after the
    last one. Only the frame being handed out is held in memory."""
    wanted = set(indices)
    if not wanted:
        return
    if is_image(path):
        if 0 in wanted:
            yield _image_frame(path, None)
        return
    packets = clip_packets(path)
    reformatter = VideoReformatter()
    with open_video(path) as (container, stream):
        start = _start_seconds(stream)
        if packets is not None:
            found: Iterator[tuple[int, av.VideoFrame]] = packets.plan(wanted).decode(
                container, stream
            )
        else:
            found = _numbered(container.decode(stream), wanted)
        for index, frame in found:
            time = _frame_seconds(frame, stream, start, index)
            rgb = upright_rgb(frame, upright_turns(frame), reformatter=reformatter)
            yield Frame(index=index, time=round(time, 4), rgb=rgb)


def _numbered(
    frames: Iterator[av.VideoFrame], wanted: set[int]
) -> Iterator[tuple[int, av.VideoFrame]]:
    """The frames numbered ``wanted`` of a plain decode, stopping after the last one."""
    last = max(wanted)
    for index, frame in enumerate(frames):
        if index in wanted:
            yield index, frame
        if index >= last:
            return


@contextmanager
def open_video(path: Path) -> Iterator[tuple[InputContainer, av.VideoStream]]:
    """The clip's container and first video stream, its decoder on frame threads within the
    worker's thread budget."""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = decoder_threads()
        yield container, stream


def decoder_threads() -> int:
    """FFmpeg's decoder threads: the worker's thread budget, at most 16 (FFmpeg's own
    choice, 0, is one per core up to 16, in every worker)."""
    return min(thread_budget(), 16)


def clip_packets(path: Path) -> ClipPackets | None:
    """The clip's video packets, read without decoding (None: they cannot number its frames)."""
    with av.open(str(path), metadata_errors="ignore") as container:
        return read_packets(container, container.streams.video[0])


def read_frame(path: Path, index: int, time: float) -> np.ndarray:
    """The full-size upright RGB frame ``index`` (at ``time`` s, as ``iter_frames`` reported
    it).

    Seeks to the keyframe at or before ``time`` and decodes forward to the frame, so one
    group of pictures is decoded, never the whole clip. A stream without timestamps is read
    from the start and the frame found by its index.
    """
    if is_image(path):
        return _image_frame(path, None).rgb
    rgb = _seek_by_time(path, time)
    if rgb is None:
        rgb = _count_to_index(path, index)
    if rgb is None:
        raise ValueError(f"{path.name}: frame {index} at {time:.3f} s could not be decoded")
    return rgb


def _seek_by_time(path: Path, time: float) -> np.ndarray | None:
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        start = _start_seconds(stream)
        half_frame = 0.5 / float(stream.average_rate or 25)
        if stream.time_base is None:
            return None
        if time > half_frame:
            target = int((time + start - half_frame) / float(stream.time_base))
            container.seek(max(target, 0), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            if frame.pts is None:
                return None
            if _frame_seconds(frame, stream, start, 0) >= time - half_frame:
                return upright_rgb(frame, upright_turns(frame))
    return None


def _count_to_index(path: Path, index: int) -> np.ndarray | None:
    with av.open(str(path), metadata_errors="ignore") as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position == index:
                return upright_rgb(frame, upright_turns(frame))
    return None


def upright_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns (0-3) that show ``frame`` upright: its display matrix's
    rotation, to the nearest quarter turn (0 without one)."""
    degrees = getattr(frame, "rotation", 0) or 0  # VideoFrame.rotation: PyAV 14.1 and later
    return round(degrees / 90) % 4


def upright_size(width: int, height: int, turns: int) -> tuple[int, int]:
    """A stored ``width`` x ``height`` picture's size once turned ``turns`` quarter turns."""
    return (height, width) if turns % 2 else (width, height)


def upright_rgb(
    frame: av.VideoFrame,
    turns: int,
    width: int | None = None,
    height: int | None = None,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """``frame`` as upright RGB, ``width`` x ``height`` once upright (None: full size).

    Scaled and converted while still stored, in one libswscale call, then turned by
    ``np.rot90``, which counts counter-clockwise like the display matrix; the turned copy is
    contiguous for the models. A ``reformatter`` shared by a clip's frames keeps its scaler
    (a frame's own builds a new one each time: 1-2 ms more per 960x540 frame scaled).
    """
    if turns % 2:
        width, height = height, width
    formatter = reformatter or VideoReformatter()
    rgb = formatter.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _image_frame(path: Path, max_side: int | None) -> Frame:
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        width, height, scale = _target_size(image.width, image.height, max_side)
        if scale != 1.0:
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        return Frame(index=0, time=0.0, rgb=np.asarray(image), scale=scale)


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int, float]:
    longest = max(width, height)
    if not max_side or longest <= max_side:
        return width, height, 1.0
    scale = max_side / longest
    # Even sizes keep libswscale on its fast paths.
    new_width = max(2, round(width * scale / 2) * 2)
    new_height = max(2, round(height * scale / 2) * 2)
    return new_width, new_height, new_width / width


def _start_seconds(stream: av.VideoStream) -> float:
    if stream.start_time is None or not stream.time_base:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _frame_seconds(frame: av.VideoFrame, stream: av.VideoStream, start: float, index: int) -> float:
    if frame.pts is not None and frame.time_base:
        return _pts_seconds(frame.pts, frame.time_base, start)
    rate = float(stream.average_rate or 25)
    return index / rate


def _pts_seconds(pts: int, time_base: Fraction, start: float) -> float:
    """A timestamp as seconds from the stream's start (a frame's and its packet's alike)."""
    return max(0.0, float(pts * time_base) - start)
