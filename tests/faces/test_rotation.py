"""Clips filmed on a phone: a stream with a display rotation is handed out upright.

``tests/data/rotated/phone_portrait.mp4`` (``scripts/make_rotated_clip.py``) is the first
2 s of ``sample_00000001.mp4``, its portrait crop ``[:, 237:453]`` stored turned 90 degrees
counter-clockwise (270 x 216) with a display matrix that turns it back (-90, as an iPhone's
portrait clips carry). Upright, its frames are the source's crop up to one re-encoding.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from PIL import Image

from merr_factory.backends.faces.frames_csv import read_frames_csv
from merr_factory.media.frames import FrameStream, iter_frames, iter_frames_at, read_frame
from merr_factory.media.probe import probe_media
from merr_factory.media.transcode import transcode_to_mp4
from merr_factory.stage_data import MediaProbe
from tests.conftest import CLIPS, OFFLINE_STAGES, run_pipeline, tally

ROTATED = Path(__file__).parents[1] / "data" / "rotated" / "phone_portrait.mp4"
SOURCE = CLIPS / "sample_00000001.mp4"
CROP = slice(237, 453)  # the upright picture: source columns 237-452, all 270 rows
FRAMES = 48  # 2 s at 24 fps
UPRIGHT = (270, 216, 3)  # rows, columns, channels: portrait


@pytest.fixture(scope="module")
def source_crops() -> list[np.ndarray]:
    """The first 48 source frames, cropped as the rotated clip shows them upright."""
    with av.open(str(SOURCE)) as container:
        return [
            frame.to_ndarray(format="rgb24")[:, CROP]
            for _, frame in zip(range(FRAMES), container.decode(video=0), strict=False)
        ]


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def test_the_probe_reports_the_rotation_and_the_stored_size() -> None:
    probe = probe_media(ROTATED, "video")
    assert probe.readable and probe.frames == FRAMES and probe.fps == 24
    assert probe.rotation == 270  # -90: turn 90 degrees clockwise to show it
    assert (probe.width, probe.height) == (270, 216)  # stored landscape
    assert probe.upright_size == (216, 270)  # shown portrait
    assert probe.audio is not None and probe.audio.codec == "aac"


def test_upright_size_swaps_on_quarter_turns_only() -> None:
    sizes = {
        turn: MediaProbe(readable=True, width=640, height=360, rotation=turn).upright_size
        for turn in (0, 90, 180, 270)
    }
    assert sizes == {0: (640, 360), 90: (360, 640), 180: (640, 360), 270: (360, 640)}


def test_streamed_frames_are_upright_portrait(source_crops: list[np.ndarray]) -> None:
    stream = FrameStream(ROTATED)
    frames = list(stream)
    assert (stream.frames_decoded, stream.width, stream.height) == (FRAMES, 216, 270)
    assert all(frame.rgb.shape == UPRIGHT and frame.rgb.flags.c_contiguous for frame in frames)
    for frame in frames:
        assert difference(frame.rgb, source_crops[frame.index]) < 4  # one H.264 re-encode
    # the other ways round are far off: the turn's direction is what makes these equal
    upside_down = np.rot90(frames[0].rgb, 2)
    assert difference(upside_down, source_crops[0]) > 20


def test_turning_keeps_memory_flat() -> None:
    """One turned frame at a time: memory does not grow with the frames read."""
    tracemalloc.start()
    try:
        for count, _frame in enumerate(iter_frames(ROTATED), start=1):
            if count == 10:
                after_ten = tracemalloc.get_traced_memory()[0]
        at_end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == FRAMES
    assert at_end - after_ten < 2 * 216 * 270 * 3


def test_shrunk_frames_are_upright_with_the_upright_scale(source_crops) -> None:
    frame = next(iter_frames(ROTATED, max_side=135))
    assert frame.rgb.shape == (136, 108, 3) and frame.scale == pytest.approx(0.5)
    shrunk = np.asarray(Image.fromarray(source_crops[0]).resize((108, 136)))
    assert difference(frame.rgb, shrunk) < 8


def test_read_frame_and_iter_frames_at_are_the_streamed_upright_frames() -> None:
    streamed = {frame.index: frame for frame in iter_frames(ROTATED, sample_fps=5)}
    for index in (0, 20, 44):
        rgb = read_frame(ROTATED, index, streamed[index].time)
        assert rgb.shape == UPRIGHT and np.array_equal(rgb, streamed[index].rgb)
    picked = list(iter_frames_at(ROTATED, [5, 29]))
    assert [frame.index for frame in picked] == [5, 29]
    assert all(np.array_equal(frame.rgb, streamed[frame.index].rgb) for frame in picked)


def marker_picture() -> np.ndarray:
    """Upright 48 x 32 (h x w): red in the top-left corner, green in the top-right."""
    picture = np.zeros((48, 32, 3), np.uint8)
    picture[:16, :16] = (255, 0, 0)
    picture[:16, -16:] = (0, 255, 0)
    return picture


@pytest.mark.parametrize("degrees", [90, 180, -90])
def test_each_display_rotation_turns_the_right_way(tmp_path: Path, degrees: int) -> None:
    """A clip stored turned by -degrees whose display matrix turns it by degrees
    (counter-clockwise, PyAV's and FFmpeg's sign) comes out with its markers in place."""
    from av.video.stream import VideoStream

    if not hasattr(VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix (PyAV 18 can)")
    upright = marker_picture()
    stored = np.ascontiguousarray(np.rot90(upright, -degrees // 90))
    path = tmp_path / f"turned_{degrees}.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10, options={"qscale": "2"})
        stream.width, stream.height = stored.shape[1], stored.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(degrees)
        for index in range(3):
            picture = av.VideoFrame.from_ndarray(stored, format="rgb24")
            picture.pts = index
            out.mux(stream.encode(picture))
        out.mux(stream.encode())
    (frame,) = list(iter_frames(path, sample_fps=1))
    assert frame.rgb.shape == upright.shape
    assert difference(frame.rgb, upright) < 12
    assert read_frame(path, frame.index, frame.time).shape == upright.shape


def test_a_re_encoded_clip_is_written_upright(tmp_path: Path, source_crops) -> None:
    target = tmp_path / "phone.mp4"
    assert transcode_to_mp4(ROTATED, target) == FRAMES
    with av.open(str(target)) as container:
        first = next(container.decode(video=0))
        assert (first.width, first.height) == (216, 270)
        assert getattr(first, "rotation", 0) == 0  # upright pixels, no display matrix
        assert difference(first.to_ndarray(format="rgb24"), source_crops[0]) < 5


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ingest -> filter -> faces -> peak on the rotated clip, dlib backend, offline."""
    pytest.importorskip("dlib", reason="the dlib backend needs merr-factory[faces-dlib]")
    base = tmp_path_factory.mktemp("rotated-run")
    clips = base / "clips"
    clips.mkdir()
    shutil.copy(ROTATED, clips / ROTATED.name)
    (clips / "labels.csv").write_text("name,discrete,valence\nphone_portrait,happy,2.5\n")
    config = base / "config.yaml"
    config.write_text(yaml.safe_dump({
        "input": str(clips), "labels": str(clips / "labels.csv"), "output": str(base / "out"),
        "executor": {"workers": 1}, "stages": OFFLINE_STAGES,
    }))  # fmt: skip
    summary = run_pipeline(config, ["ingest", "filter", "faces", "peak"])
    assert summary.failed == 0
    assert tally(summary, "peak")["computed"] == 1
    return base / "out"


def record(out: Path, stage: str) -> dict:
    return json.loads((out / "stages" / stage / "phone_portrait.json").read_text())


def test_the_faces_stage_finds_the_face_in_the_rotated_clip(run: Path) -> None:
    faces = record(run, "faces")
    assert faces["halt"] == []  # no few_faces
    data = faces["data"]
    assert data["frames_total"] == FRAMES and data["frames_analysed"] == 10  # 5 per second
    assert data["face_ratio"] > 0.5
    assert (data["width"], data["height"]) == (216, 270)  # upright
    for row in read_frames_csv(run / "stages" / "faces" / "phone_portrait" / "frames.csv"):
        if row.box is not None:  # in the upright frame's pixels (dlib's may cross its edge)
            centre_x, centre_y = row.box.centre
            assert 0 < centre_x < 216 and 0 < centre_y < 270
            assert row.box.w < 216 and row.box.h < 270


def test_the_peak_frame_and_face_are_written_upright(
    run: Path, source_crops: list[np.ndarray], dlib_backend
) -> None:
    from merr_factory.media.frames import Frame

    peak = record(run, "peak")["data"]
    index = peak["peak_index"]
    folder = run / "stages" / "peak" / "phone_portrait"
    saved = np.asarray(Image.open(folder / "peak_frame.jpg"))
    assert saved.shape == UPRIGHT
    assert difference(saved, source_crops[index]) < 6  # the codec's and JPEG's loss only
    # the box is where the face is in the upright source crop
    found = dlib_backend.detect_faces(Frame(index, 0.0, np.ascontiguousarray(source_crops[index])))
    expected = max(found, key=lambda face: face.box.area).box
    x, y, w, h = peak["face_box"]
    assert abs(x - expected.x) < 12 and abs(y - expected.y) < 12
    assert abs(w - expected.w) < 20 and abs(h - expected.h) < 20
    face = Image.open(folder / "peak_face.jpg")
    assert w <= face.width <= 1.5 * w and h <= face.height <= 1.5 * h
