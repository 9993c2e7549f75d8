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

Segments (``media/segments.py``): for a sample that is a time range of its file, the reader
seeks to the keyframe before the range's start, decodes from there, drops the frames before
the start and stops at its end; frames are numbered from 0 at the range's first frame and
timed from its start (the cut clip's own numbers and times), and the crop, if any, is cut
out of each upright frame before it is scaled, so ``width``, ``height`` and boxes are the
crop's. Every frame in the range is decoded (the packet plan is for whole files).
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

from merr_factory.inputs.segment import Segment
from merr_factory.media.decode_plan import ClipPackets, read_packets
from merr_factory.media.segments import after, before, crop_pixels, seek_to, stream_start
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
        self,
        path: Path,
        sample_fps: float | None = None,
        max_side: int | None = None,
        segment: Segment | None = None,
    ) -> None:
        self.path = path
        self.sample_fps = sample_fps
        self.max_side = max_side
        self.segment = segment
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
        if self.segment is not None:
            yield from self._segment_frames(self.segment)
            return
        packets = clip_packets(self.path) if self.sample_fps else None
        reformatter = VideoReformatter()
        with open_video(self.path) as (container, stream):
            start = stream_start(stream)
            for index, frame in self._decoded(container, stream, packets, start):
                turns = upright_turns(frame)
                self.width, self.height = upright_size(frame.width, frame.height, turns)
                width, height, scale = _target_size(self.width, self.height, self.max_side)
                rgb = upright_rgb(frame, turns, width, height, reformatter)
                time = _frame_seconds(frame, stream, start, index)
                yield Frame(index=index, time=round(time, 4), rgb=rgb, scale=scale)

    def _segment_frames(self, segment: Segment) -> Iterator[Frame]:
        """The range's frames, sampled, cropped and shrunk; every frame in it is decoded."""
        sampler = FrameSampler(self.sample_fps)
        reformatter = VideoReformatter()
        with open_video(self.path) as (container, stream):
            window = SegmentFrames(container, stream, segment)
            for index, time, frame in window:
                self.frames_total, self.frames_decoded = index + 1, window.decoded
                if not sampler.keep(time):
                    continue
                rgb, scale, (self.width, self.height) = cropped_rgb(
                    frame, segment.crop, self.max_side, reformatter
                )
                yield Frame(index=index, time=round(time, 4), rgb=rgb, scale=scale)
            self.frames_decoded = window.decoded

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


class SegmentFrames:
    """The decoded frames of a range of a clip as (number, seconds from the range's start,
    frame), after a seek to the keyframe before it; ``decoded`` counts every frame the
    decoder gave back, those before the start included."""

    def __init__(self, container: InputContainer, stream: av.VideoStream, segment: Segment) -> None:
        self.container = container
        self.stream = stream
        self.segment = segment
        self.decoded = 0

    def __iter__(self) -> Iterator[tuple[int, float, av.VideoFrame]]:
        stream, segment = self.stream, self.segment
        start = stream_start(stream)
        seek_to(self.container, stream, segment.start)
        frames = self.container.decode(stream)
        first = next(frames, None)
        if first is not None and first.pts is None and segment.start > 0:
            # No timestamps to tell where the seek landed: read from the file's start.
            self.container.seek(0, stream=stream)
            frames = self.container.decode(stream)
            first = next(frames, None)
        index = 0
        for position, frame in enumerate(_chain(first, frames)):
            self.decoded += 1
            time = _frame_seconds(frame, stream, start, position)
            if before(segment, time):
                continue
            if after(segment, time):
                return
            yield index, time - segment.start, frame
            index += 1


def _chain(first: av.VideoFrame | None, rest: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    if first is None:
        return
    yield first
    yield from rest


def cropped_rgb(
    frame: av.VideoFrame,
    crop: tuple[float, float, float, float] | None,
    max_side: int | None = None,
    reformatter: VideoReformatter | None = None,
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """``frame`` upright, cut to ``crop`` (fractions of the upright frame; None: all of it)
    and shrunk so that the crop's longer side is at most ``max_side``: the RGB pixels, their
    scale to the crop's own pixels, and the crop's size in the upright frame.

    The whole frame is scaled by that factor in one libswscale call, then the crop is cut
    out of it, so a crop costs no second conversion."""
    turns = upright_turns(frame)
    full_width, full_height = upright_size(frame.width, frame.height, turns)
    left, top, width, height = crop_pixels(full_width, full_height, crop)
    _, _, scale = _target_size(width, height, max_side)
    if scale == 1.0:
        rgb = upright_rgb(frame, turns, reformatter=reformatter)
    else:
        scaled = max(2, round(full_width * scale)), max(2, round(full_height * scale))
        rgb = upright_rgb(frame, turns, *scaled, reformatter=reformatter)
    if crop is not None:
        x0, y0 = round(left * scale), round(top * scale)
        x1, y1 = (
            max(x0 + 1, round((left + width) * scale)),
            max(y0 + 1, round((top + height) * scale)),
        )
        rgb = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    return rgb, scale, (width, height)


def iter_frames(
    path: Path,
    sample_fps: float | None = None,
    max_side: int | None = None,
    segment: Segment | None = None,
) -> Iterator[Frame]:
    """The clip's frames at ``sample_fps`` (None: all), upright, shrunk so that the longer
    side is at most ``max_side`` pixels (None: full size); of ``segment`` only, when given."""
    return iter(FrameStream(path, sample_fps, max_side, segment))


def iter_frames_at(
    path: Path, indices: Collection[int], segment: Segment | None = None
) -> Iterator[Frame]:
    """The full-size upright frames numbered ``indices`` (as ``iter_frames`` numbers them),
    in clip order, decoding only what they need (``decode_plan``) and stopping after the
    last one. Only the frame being handed out is held in memory. Of ``segment`` (numbered
    from its start, cropped), when given: decoded from the seek to it."""
    wanted = set(indices)
    if not wanted:
        return
    if segment is not None and not is_image(path):
        yield from _segment_frames_at(path, wanted, segment)
        return
    if is_image(path):
        if 0 in wanted:
            yield _image_frame(path, None)
        return
    packets = clip_packets(path)
    reformatter = VideoReformatter()
    with open_video(path) as (container, stream):
        start = stream_start(stream)
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


def _segment_frames_at(path: Path, wanted: set[int], segment: Segment) -> Iterator[Frame]:
    last = max(wanted)
    reformatter = VideoReformatter()
    with open_video(path) as (container, stream):
        for index, time, frame in SegmentFrames(container, stream, segment):
            if index in wanted:
                rgb, _, _ = cropped_rgb(frame, segment.crop, reformatter=reformatter)
                yield Frame(index=index, time=round(time, 4), rgb=rgb)
            if index >= last:
                return


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


def read_frame(path: Path, index: int, time: float, segment: Segment | None = None) -> np.ndarray:
    """The full-size upright RGB frame ``index`` (at ``time`` s, as ``iter_frames`` reported
    it; of ``segment``, cropped, when given).

    Seeks to the keyframe at or before ``time`` and decodes forward to the frame, so one
    group of pictures is decoded, never the whole clip. A stream without timestamps is read
    from the start and the frame found by its index.
    """
    if is_image(path):
        return _image_frame(path, None).rgb
    if segment is None:
        rgb = _seek_by_time(path, time)
        if rgb is None:
            rgb = _count_to_index(path, index)
    else:
        rgb = _seek_by_time(path, segment.start + time, segment.crop)
        if rgb is None:  # no timestamps: counted from the seek to the segment
            frame = next(iter_frames_at(path, [index], segment), None)
            rgb = None if frame is None else frame.rgb
    if rgb is None:
        raise ValueError(f"{path.name}: frame {index} at {time:.3f} s could not be decoded")
    return rgb


def _seek_by_time(
    path: Path, time: float, crop: tuple[float, float, float, float] | None = None
) -> np.ndarray | None:
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        start = stream_start(stream)
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
                if crop is not None:
                    return cropped_rgb(frame, crop)[0]
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


def _frame_seconds(frame: av.VideoFrame, stream: av.VideoStream, start: float, index: int) -> float:
    if frame.pts is not None and frame.time_base:
        return _pts_seconds(frame.pts, frame.time_base, start)
    rate = float(stream.average_rate or 25)
    return index / rate


def _pts_seconds(pts: int, time_base: Fraction, start: float) -> float:
    """A timestamp as seconds from the stream's start (a frame's and its packet's alike)."""
    return max(0.0, float(pts * time_base) - start)
