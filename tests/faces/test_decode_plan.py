"""Decoding only what is analysed: the planned decode hands out the same frames (number, time,
pixels) as a plain decode of every frame, on the sample clips, the rotated phone clip, an AVI
with a keyframe every 12 frames and clips made here (open-GOP H.264, HEVC, MPEG-4 Part 2 with
B-frames, VP9), and decodes less."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from merr_factory.media.decode_plan import ClipPackets, read_packets
from merr_factory.media.frames import (
    FrameSampler,
    FrameStream,
    clip_packets,
    iter_frames_at,
    upright_turns,
)
from tests.conftest import CLIPS

ROTATED = CLIPS.parent / "rotated" / "phone_portrait.mp4"
VIDEOS = [*sorted(CLIPS.glob("*.mp4")), CLIPS / "sample_00000003.avi", ROTATED]
AVI = CLIPS / "sample_00000003.avi"  # MPEG-4 Part 2, a keyframe every 12 frames


def plain_decode(path: Path, max_side: int | None = None) -> list[tuple[int, float, np.ndarray]]:
    """Every frame decoded and numbered as it comes out, converted as the stream did before
    the plan (the frame's own ``to_ndarray``): (number, seconds, upright RGB)."""
    found = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        for index, frame in enumerate(container.decode(stream)):
            turns = upright_turns(frame)
            width, height = frame.width, frame.height
            if max_side and max(width, height) > max_side:
                scale = max_side / max(width, height)
                width = max(2, round(width * scale / 2) * 2)
                height = max(2, round(height * scale / 2) * 2)
            rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
            rgb = np.rot90(rgb, turns) if turns else rgb
            time = max(0.0, float(frame.pts * frame.time_base) - start)
            found.append((index, round(time, 4), rgb))
    return found


def sampled(frames: list[tuple[int, float, np.ndarray]], fps: float) -> list:
    sampler = FrameSampler(fps)
    return [frame for frame in frames if sampler.keep(frame[1])]


def assert_same(got, expected) -> None:
    assert [(f.index, f.time) for f in got] == [(index, time) for index, time, _ in expected]
    for frame, (_, _, rgb) in zip(got, expected, strict=True):
        assert np.array_equal(frame.rgb, rgb), f"frame {frame.index} differs"


# name -> (encoder, its options, has open GOPs): a keyframe every 12 frames, B-frames
MADE_CLIPS = {
    "open_gop.mp4": ("libx264", {"x264-params": "keyint=12:min-keyint=12:scenecut=0:"
                                 "bframes=3:b-pyramid=normal:open-gop=1"}, True),
    "hevc.mp4": ("libx265", {"x265-params": "keyint=12:min-keyint=12:scenecut=0:bframes=3:"
                             "log-level=error"}, True),  # x265 makes open GOPs by default
    "mpeg4_bframes.avi": ("mpeg4", {"g": "12", "bf": "2"}, False),
    "vp9.webm": ("libvpx-vp9", {"g": "12", "lag-in-frames": "16", "auto-alt-ref": "1"}, False),
}  # fmt: skip


def make_clip(path: Path, encoder: str, options: dict, frames: int = 60) -> Path:
    """A 160x96 clip of a panning texture (every frame predicts from others)."""
    with av.open(str(path), "w") as output:
        stream = output.add_stream(encoder, rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.options = {**options, "threads": "1"}
        texture = np.random.default_rng(0).integers(0, 255, (96, 320, 3), dtype=np.uint8)
        for shift in range(frames):
            picture = np.ascontiguousarray(texture[:, shift : shift + 160])
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


@pytest.fixture(scope="module", params=list(MADE_CLIPS))
def made_clip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """H.264 with open GOPs (B-frames after a keyframe in decode order that are shown before
    it, predicted from the group before) and B-pyramids; HEVC (open GOPs too); MPEG-4 Part 2
    with B-frames in an AVI; VP9 with hidden alt-ref frames."""
    encoder, options, open_gops = MADE_CLIPS[request.param]
    try:
        av.codec.Codec(encoder, "w")
    except Exception:
        pytest.skip(f"this PyAV build has no {encoder} encoder")
    clip = make_clip(tmp_path_factory.mktemp("made") / request.param, encoder, options)
    packets = clip_packets(clip)
    assert packets is not None
    keys = [position for position, key in enumerate(packets.keyframe) if key]
    leading = [
        position
        for key in keys[1:]
        for position in range(key + 1, min(key + 5, len(packets.pts)))
        if packets.pts[position] < packets.pts[key]
    ]
    assert len(keys) >= 4 and (leading or not open_gops)  # what the test is about
    return clip


@pytest.mark.parametrize("path", VIDEOS, ids=lambda path: path.name)
@pytest.mark.parametrize("fps", [5.0, 2.0, 0.5])
def test_sampled_frames_are_those_of_a_plain_decode(path: Path, fps: float) -> None:
    stream = FrameStream(path, sample_fps=fps, max_side=240)
    got = list(stream)
    everything = plain_decode(path, max_side=240)
    assert_same(got, sampled(everything, fps))
    assert stream.frames_total == len(everything)
    assert len(got) <= stream.frames_decoded <= stream.frames_total


def test_frames_between_samples_are_not_decoded() -> None:
    """B-frames between samples (H.264) and whole groups of pictures between sparse samples
    (the AVI) are left out; decoding stops after the last kept frame."""
    h264 = FrameStream(CLIPS / "sample_00000001.mp4", sample_fps=5)
    assert len(list(h264)) == 23 and h264.frames_decoded < 0.7 * h264.frames_total
    avi = FrameStream(AVI, sample_fps=0.5)
    kept = list(avi)
    assert [frame.time for frame in kept] == [0.0, 2.0, 4.0]
    assert avi.frames_decoded <= 3 * 12 + 1 and avi.frames_total == 120


@pytest.mark.parametrize("fps", [24.0, 7.0, 3.0, 1.0, 0.3])
def test_sampled_frames_of_made_clips(made_clip: Path, fps: float) -> None:
    stream = FrameStream(made_clip, sample_fps=fps)
    assert_same(list(stream), sampled(plain_decode(made_clip), fps))


def test_any_single_frame_of_a_made_clip(made_clip: Path) -> None:
    """Each frame on its own, leading pictures included: the group before is decoded for
    those, and the groups a frame does not need are left out."""
    everything = plain_decode(made_clip)
    for index in range(len(everything)):
        assert_same(list(iter_frames_at(made_clip, [index])), [everything[index]])


@pytest.mark.parametrize("path", [*VIDEOS[:1], AVI, ROTATED], ids=lambda path: path.name)
def test_chosen_frames_are_those_of_a_plain_decode(path: Path) -> None:
    everything = plain_decode(path)
    rng = np.random.default_rng(3)
    for count in (1, 5, 16):
        chosen = sorted(rng.choice(len(everything), size=count, replace=False).tolist())
        assert_same(list(iter_frames_at(path, chosen)), [everything[i] for i in chosen])


def test_a_stream_that_does_not_start_on_a_keyframe_is_decoded_frame_by_frame(
    tmp_path: Path,
) -> None:
    """The decoder drops what comes before the first keyframe, so packets cannot number the
    frames: no plan, and the frames are a plain decode's."""
    cut = tmp_path / "cut.avi"
    with av.open(str(AVI)) as source, av.open(str(cut), "w") as output:
        video = source.streams.video[0]
        copy = output.add_stream_from_template(video)
        for position, packet in enumerate(p for p in source.demux(video) if p.size):
            if position >= 1:
                packet.stream = copy
                output.mux(packet)
    assert clip_packets(cut) is None
    assert_same(list(FrameStream(cut, sample_fps=2.0)), sampled(plain_decode(cut), 2.0))


def packets(*frames: tuple[int, bool]) -> ClipPackets:
    return ClipPackets([pts for pts, _ in frames], [key for _, key in frames],
                       [True] * len(frames))  # fmt: skip


def test_plan_leaves_out_groups_without_wanted_frames() -> None:
    # decode order: I0 P2 B1 | I3 P5 B4 | I6 P8 B7 (closed groups)
    clip = packets((0, True), (2, False), (1, False), (3, True), (5, False), (4, False),
                   (6, True), (8, False), (7, False))  # fmt: skip
    plan = clip.plan([1])
    assert plan.actions[:3] == ["nonref", "nonref", "decode"]
    assert plan.last == 2  # nothing after the wanted B-frame is read
    plan = clip.plan([7])
    assert plan.actions == ["leave"] * 6 + ["nonref", "nonref", "decode"]
    assert (plan.index_of[7], plan.frames_total) == (7, 9)


def test_plan_keeps_the_group_before_a_wanted_leading_picture() -> None:
    # decode order: I0 P3 B1 B2 | I6 B4 B5 P9 B7 B8: B4, B5 are shown before I6 (open GOP)
    clip = packets((0, True), (3, False), (1, False), (2, False), (6, True), (4, False),
                   (5, False), (9, False), (7, False), (8, False))  # fmt: skip
    assert clip.plan([4]).actions[:4] == ["nonref"] * 4  # frame 4 is pts 4: leading
    assert clip.plan([7]).actions[:4] == ["leave"] * 4  # frame 7 is not


def test_discarded_packets_are_not_numbered() -> None:
    clip = ClipPackets([0, 1, 2, 3], [True, False, False, False], [False, True, True, True])
    assert clip.presentation == [1, 2, 3]
    plan = clip.plan([0])
    assert plan.index_of[1] == 0 and plan.frames_total == 3
    assert plan.actions[0] == "nonref"  # decoded when a reference, never handed out


class FakePacket:
    def __init__(self, pts: int | None, key: bool = False, size: int = 100) -> None:
        self.pts, self.is_keyframe, self.size, self.is_discard = pts, key, size, False


class FakeContainer:
    def __init__(self, *packets: FakePacket) -> None:
        self.packets = packets

    def demux(self, stream):
        return iter(self.packets)


@pytest.mark.parametrize(
    "packets",
    [
        [FakePacket(0, key=True), FakePacket(None)],  # a packet without a timestamp
        [FakePacket(0, key=True), FakePacket(1), FakePacket(1)],  # a timestamp twice
        [FakePacket(1), FakePacket(0, key=True)],  # not starting on a keyframe
        [FakePacket(None, size=0)],  # no packet with data
    ],
    ids=["no-pts", "repeated-pts", "no-keyframe-first", "empty"],
)
def test_packets_that_cannot_number_the_frames_give_no_plan(packets: list) -> None:
    assert read_packets(FakeContainer(*packets), None) is None


def test_empty_packets_are_not_frames() -> None:
    container = FakeContainer(FakePacket(0, key=True), FakePacket(2), FakePacket(1),
                              FakePacket(None, size=0))  # fmt: skip
    found = read_packets(container, None)
    assert found is not None and found.presentation == [0, 1, 2]
