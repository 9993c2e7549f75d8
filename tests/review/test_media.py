"""The review's playable copies, made from the real sample clips with PyAV (no fakes)."""

from __future__ import annotations

from pathlib import Path

import av

from merr_factory.inputs.segment import Segment
from merr_factory.review.media import playable_copy

CLIPS = Path(__file__).parents[1] / "data" / "clips"


def streams_of(path: Path) -> tuple[str, str | None, float]:
    """Video codec, audio codec (None: no sound) and the video's duration in seconds."""
    with av.open(str(path)) as reader:
        video = reader.streams.video[0]
        audio = reader.streams.audio[0].codec_context.name if reader.streams.audio else None
        frames = sum(1 for packet in reader.demux(video) if packet.size)
        return video.codec_context.name, audio, frames / float(video.average_rate)


def test_an_avi_becomes_h264_with_aac_sound_of_the_same_length(tmp_path: Path) -> None:
    source = CLIPS / "sample_00000003.avi"
    copy = playable_copy(source, tmp_path, "sample_00000003")
    video, audio, seconds = streams_of(copy)
    assert (video, audio) == ("h264", "aac")
    assert abs(seconds - streams_of(source)[2]) < 0.1


def test_a_segment_sample_plays_only_its_range(tmp_path: Path) -> None:
    """A segment of an mp4 that could be remuxed whole is cut, so the page's times (the peak)
    are the segment's."""
    copy = playable_copy(CLIPS / "sample_00000001.mp4", tmp_path, "seg", Segment(1.0, 3.0))
    video, audio, seconds = streams_of(copy)
    assert (video, audio) == ("h264", "aac")
    assert abs(seconds - 2.0) < 0.15
