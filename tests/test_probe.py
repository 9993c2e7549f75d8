"""Probing real media with PyAV: the shipped clips, and files that are not what they claim."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import pytest

from merr_factory.media.integrity import check_decodable
from merr_factory.media.probe import probe_media

CLIPS = Path(__file__).parent / "data" / "clips"
VIDEOS = sorted(path for path in CLIPS.iterdir() if path.suffix in (".mp4", ".avi"))


@pytest.mark.parametrize("path", VIDEOS, ids=lambda path: path.name)
def test_probe_matches_the_manifest(path: Path, manifest) -> None:
    expected = manifest[path.stem]["expected"]
    probe = probe_media(path, "video")
    assert probe.readable and probe.error is None
    assert probe.duration == pytest.approx(expected["duration_s"], abs=0.1)
    assert probe.fps == pytest.approx(expected["fps"], abs=0.05)
    assert (probe.width, probe.height) == (expected["width"], expected["height"])
    assert probe.video_codec == expected["video_codec"]
    assert probe.frames == pytest.approx(expected["duration_s"] * expected["fps"], abs=3)
    assert probe.rotation == 0
    if expected["has_audio"]:
        assert probe.audio is not None
        assert probe.audio.codec == expected["audio_codec"]
        assert probe.audio.sample_rate == expected["sample_rate"]
        assert probe.audio.channels == expected["channels"]
    else:
        assert probe.audio is None


def test_image_is_a_one_frame_sample() -> None:
    probe = probe_media(CLIPS / "sample_00000006.jpg", "image")
    assert probe.readable
    assert (probe.frames, probe.frames_source, probe.duration) == (1, "image", None)
    assert (probe.width, probe.height) == (480, 270)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    probe = probe_media(path, "video")
    assert not probe.readable
    assert probe.error == "empty file (0 bytes)"


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_text("this is not a video\n" * 50)
    probe = probe_media(path, "video")
    assert not probe.readable
    assert probe.error and probe.error.startswith("not a readable media file")


def remux(source: Path, target: Path, faststart: bool) -> Path:
    """Copy the streams into a new mp4, its index at the front (faststart) or at the end."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(source)) as src, av.open(str(target), "w", options=options) as dst:
        streams = {
            s.index: dst.add_stream_from_template(s)
            for s in src.streams
            if s.type in ("video", "audio")
        }
        for packet in src.demux(*src.streams):
            if packet.dts is None or packet.stream.index not in streams:
                continue
            packet.stream = streams[packet.stream.index]
            dst.mux(packet)
    return target


def test_truncated_mp4_with_index_at_the_end(tmp_path: Path) -> None:
    source = remux(CLIPS / "sample_00000001.mp4", tmp_path / "whole.mp4", faststart=False)
    path = tmp_path / "cut.mp4"
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    probe = probe_media(path, "video")
    assert not probe.readable
    assert "not a readable media file" in (probe.error or "")


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "speech.mp4"
    with av.open(str(CLIPS / "sample_00000001.mp4")) as source, av.open(str(path), "w") as target:
        in_stream = source.streams.audio[0]
        out_stream = target.add_stream_from_template(in_stream)
        for packet in source.demux(in_stream):
            if packet.dts is not None:
                packet.stream = out_stream
                target.mux(packet)
    probe = probe_media(path, "video")
    assert not probe.readable
    assert probe.error == "no video stream"
    assert probe.audio is not None


def test_truncation_is_found_by_the_packet_check(tmp_path: Path) -> None:
    whole = remux(CLIPS / "sample_00000001.mp4", tmp_path / "whole.mp4", faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.5)])
    probe = probe_media(cut, "video")
    assert probe.readable and probe.frames_source == "header"
    complete = check_decodable(whole, "packets")
    truncated = check_decodable(cut, "packets")
    assert complete.ok and complete.frames_read == probe.frames
    assert truncated.ok and truncated.frames_read is not None
    assert truncated.frames_read < 0.9 * probe.frames


@pytest.mark.parametrize("mode", ["first_frame", "packets", "full"])
def test_decode_modes_on_a_good_clip(mode: str) -> None:
    check = check_decodable(CLIPS / "sample_00000003.avi", mode)
    assert check.ok and check.error is None
    if mode == "first_frame":
        assert check.frames_read is None
    else:
        assert check.frames_read == pytest.approx(5.083 * 24, abs=3)


def test_decode_check_on_garbage(tmp_path: Path) -> None:
    path = tmp_path / "noise.avi"
    shutil.copy(CLIPS / "sample_00000003.avi", path)
    data = bytearray(path.read_bytes())
    data[2000:] = bytes(len(data) - 2000)  # header kept, every frame zeroed
    path.write_bytes(bytes(data))
    check = check_decodable(path, "full")
    assert not check.ok
