"""The streaming frame reader: sampling, numbering, resizing, images, seeking."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest

from merr_factory.media.frames import FrameSampler, FrameStream, iter_frames, read_frame
from tests.conftest import CLIPS

CLIP = CLIPS / "sample_00000001.mp4"  # 24 fps, 480x270, 4.6 s


def all_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_every_frame_is_numbered_in_decode_order_with_its_time() -> None:
    frames = list(iter_frames(CLIP))
    assert [frame.index for frame in frames] == list(range(len(frames)))
    assert len(frames) == len(all_frames(CLIP))
    times = [frame.time for frame in frames]
    assert times[0] == 0.0 and times == sorted(times)
    assert times[24] == pytest.approx(1.0, abs=0.01)  # 24 fps


def test_sampling_keeps_about_fps_frames_per_second_and_counts_all_decoded() -> None:
    stream = FrameStream(CLIP, sample_fps=5)
    frames = list(stream)
    assert stream.frames_total == 110
    assert len(frames) < stream.frames_decoded < 110  # non-reference frames between left out
    assert 22 <= len(frames) <= 24  # 4.6 s at 5 per second
    gaps = np.diff([frame.time for frame in frames])
    assert np.all(gaps > 0.15) and np.all(gaps < 0.25)


def test_sampler_keeps_the_frame_at_or_after_each_instant() -> None:
    sampler = FrameSampler(2.0)  # instants 0, 0.5, 1.0
    kept = [t for t in (0.0, 0.2, 0.4, 0.52, 0.9, 0.999, 1.3) if sampler.keep(t)]
    assert kept == [0.0, 0.52, 0.999]


def test_frames_are_shrunk_for_detection_and_report_their_scale() -> None:
    frame = next(iter_frames(CLIP, max_side=240))
    assert (frame.width, frame.height) == (240, 136)
    assert frame.scale == pytest.approx(0.5)
    full = next(iter_frames(CLIP))
    assert (full.width, full.height, full.scale) == (480, 270, 1.0)


def test_an_image_is_a_one_frame_clip() -> None:
    stream = FrameStream(CLIPS / "sample_00000006.jpg", sample_fps=5)
    (frame,) = list(stream)
    assert (frame.index, frame.time, frame.rgb.shape) == (0, 0.0, (270, 480, 3))
    assert stream.frames_total == stream.frames_decoded == 1


def test_read_frame_returns_exactly_the_streamed_frame() -> None:
    reference = all_frames(CLIP)
    for frame in list(iter_frames(CLIP, sample_fps=2))[::3]:
        assert np.array_equal(read_frame(CLIP, frame.index, frame.time), reference[frame.index])


def test_streaming_holds_one_frame_at_a_time() -> None:
    """Memory does not grow with the number of frames read (no frame list is kept)."""
    tracemalloc.start()
    try:
        for count, _frame in enumerate(iter_frames(CLIP), start=1):
            if count == 10:
                after_ten = tracemalloc.get_traced_memory()[0]
        at_end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    frame_bytes = 480 * 270 * 3
    assert count == 110
    assert at_end - after_ten < 2 * frame_bytes


def test_read_frame_in_an_avi_and_past_the_end() -> None:
    clip = CLIPS / "sample_00000003.avi"
    reference = all_frames(clip)
    frame = list(iter_frames(clip, sample_fps=1))[3]
    assert np.array_equal(read_frame(clip, frame.index, frame.time), reference[frame.index])
    with pytest.raises(ValueError, match=r"sample_00000003\.avi: frame 9999"):
        read_frame(clip, 9999, 999.0)
