"""Segments are first-class: a sample that is a time range of a file (and a crop of its frame)
is read alone, by seeking, in every stage, and the export writes it as its own clip.

The IEMOCAP miniature's dialogue (``scripts/make_dataset_miniatures.py``) is 8 s of 960 x 270
video at 24 fps with a keyframe every 12 frames: the actor of the session's gender on the
left in the clip's colours, the other on the right with red and blue swapped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import numpy as np
import pytest

from merr_factory.inputs.segment import Segment
from merr_factory.media.audio import extract_audio, read_wav_mono
from merr_factory.media.frames import FrameStream, iter_frames, iter_frames_at, read_frame
from merr_factory.media.integrity import check_decodable
from merr_factory.media.probe import probe_media
from merr_factory.media.transcode import count_frames, transcode_to_mp4
from tests.conftest import CLIPS, run_pipeline, stored, tally
from tests.datasets.test_dataset_runs import write_config

FPS = 24
LEFT = (0.0, 0.0, 0.5, 1.0)
RIGHT = (0.5, 0.0, 0.5, 1.0)
F000 = Segment(0.5, 4.0, LEFT)  # the session's actor (F), left
M000 = Segment(4.7, 7.5, RIGHT)  # the other actor (M), right


@pytest.fixture(scope="module")
def dialogue(miniatures: dict[str, Path]) -> Path:
    return miniatures["iemocap"] / "Session1" / "dialog" / "avi" / "DivX" / "Ses01F_impro01.avi"


@pytest.fixture(scope="module")
def whole(dialogue: Path) -> list[np.ndarray]:
    """Every frame of the dialogue, full size, decoded from its start."""
    return [frame.rgb for frame in iter_frames(dialogue)]


def in_range(segment: Segment) -> range:
    """The frame numbers of the whole file inside the segment (frame i shown at i / 24 s)."""
    end = segment.end if segment.end is not None else 8.0
    return range(round(segment.start * FPS + 0.4999), round(end * FPS + 0.4999))


@pytest.mark.parametrize("segment", [F000, M000, Segment(6.0, 7.9), Segment(7.0, None)])
def test_the_frames_of_a_segment_are_those_of_its_range_and_crop(
    dialogue: Path, whole: list[np.ndarray], segment: Segment
) -> None:
    stream = FrameStream(dialogue, segment=segment)
    frames = list(stream)
    expected = in_range(segment)
    assert [frame.index for frame in frames] == list(range(len(expected)))
    assert stream.frames_total == len(expected)
    assert frames[0].time == pytest.approx(expected[0] / FPS - segment.start, abs=1e-3)
    left, width = (480, 480) if segment.crop == RIGHT else (0, 480 if segment.crop else 960)
    assert (stream.width, stream.height) == (width, 270)
    for frame, number in zip(frames, expected, strict=True):
        assert np.array_equal(frame.rgb, whole[number][:, left : left + width])
    # Seeking: the decoder starts at the keyframe before the range, never at the file's start.
    keyframe = expected[0] // 12 * 12
    assert stream.frames_decoded <= expected[-1] + 2 - keyframe


def test_the_halves_are_the_speakers_colours(dialogue: Path) -> None:
    """Clip 2 is drawn with red and blue swapped: the right half is bluer than the left."""
    for segment, bluer in ((F000, False), (M000, True)):
        frames = list(FrameStream(dialogue, sample_fps=2.0, segment=segment))
        red, _, blue = np.mean([frame.rgb.reshape(-1, 3).mean(0) for frame in frames], axis=0)
        assert bool(blue > red) == bluer


def test_frames_by_number_and_time_in_a_segment(dialogue: Path, whole: list[np.ndarray]) -> None:
    wanted = [0, 13, 40]
    found = list(iter_frames_at(dialogue, wanted, M000))
    first = in_range(M000)[0]
    assert [frame.index for frame in found] == wanted
    for frame in found:
        assert np.array_equal(frame.rgb, whole[first + frame.index][:, 480:])
        rgb = read_frame(dialogue, frame.index, frame.time, M000)
        assert np.array_equal(rgb, frame.rgb)


def test_the_probe_describes_the_segment(dialogue: Path) -> None:
    probe = probe_media(dialogue, "video", M000)
    assert probe.readable
    assert (probe.duration, probe.frames, probe.frames_source) == (2.8, 67, "estimate")
    assert (probe.width, probe.height) == (480, 270)
    assert probe.audio is not None and probe.audio.duration == 2.8
    whole_file = probe_media(dialogue, "video")
    assert (whole_file.duration, whole_file.frames, whole_file.width) == (8.0, 192, 960)


@pytest.mark.parametrize(
    ("segment", "reason"),
    [
        (Segment(9.0, 11.0), "segment 9.00-11.00 s starts at or after the file's end (8.00 s)"),
        (Segment(6.0, 9.5), "segment 6.00-9.50 s ends after the file's end (8.00 s)"),
    ],
)
def test_a_segment_beyond_the_files_end_is_unreadable(
    dialogue: Path, segment: Segment, reason: str
) -> None:
    probe = probe_media(dialogue, "video", segment)
    assert not probe.readable and probe.error == reason


def test_the_decode_check_reads_the_range(dialogue: Path) -> None:
    """From the keyframe before the range (frame 108) to its end (frame 180, excluded)."""
    assert check_decodable(dialogue, "full", M000).frames_read == 180 - 108
    packets = check_decodable(dialogue, "packets", M000).frames_read
    assert packets is not None and 180 - 108 <= packets < 192


def test_the_audio_of_a_segment_is_its_range(dialogue: Path, tmp_path: Path) -> None:
    """PCM in the dialogue: the cut is the whole file's wav sliced, sample for sample."""
    full, _ = read_wav_mono(_wav(dialogue, tmp_path / "full.wav", None))
    for segment in (F000, M000, Segment(7.0, None)):
        found = extract_audio(dialogue, tmp_path / "cut.wav", segment=segment)
        cut, rate = read_wav_mono(tmp_path / "cut.wav")
        start = round(segment.start * rate)
        end = len(full) if segment.end is None else round(segment.end * rate)
        assert found.duration == pytest.approx(((segment.end or 8.0) - segment.start), abs=1e-3)
        assert cut == full[start:end]


def test_the_audio_of_a_compressed_clip_is_cut_alike(tmp_path: Path) -> None:
    """AAC: the seek lands on a frame before the start; the cut lines up with the whole."""
    clip = CLIPS / "sample_00000001.mp4"
    full = np.array(read_wav_mono(_wav(clip, tmp_path / "full.wav", None))[0], float)
    cut = np.array(read_wav_mono(_wav(clip, tmp_path / "cut.wav", Segment(1.3, 2.9)))[0], float)
    assert len(cut) == round(1.6 * 16000)
    lined_up = full[round(1.3 * 16000) :][: len(cut)]
    assert np.corrcoef(cut[1600:], lined_up[1600:])[0, 1] > 0.9
    shifted = full[round(1.4 * 16000) :][: len(cut)]  # 100 ms off: unrelated sound
    assert np.corrcoef(cut[1600:], shifted[1600:])[0, 1] < 0.5


def _wav(clip: Path, target: Path, segment: Segment | None) -> Path:
    extract_audio(clip, target, segment=segment)
    return target


def test_the_cut_clip_is_the_segment(
    dialogue: Path, whole: list[np.ndarray], tmp_path: Path
) -> None:
    target = tmp_path / "Ses01F_impro01_M000.mp4"
    written = transcode_to_mp4(dialogue, target, segment=M000)
    assert written == count_frames(target) == len(in_range(M000))
    with av.open(str(target)) as clip:
        video, sound = clip.streams.video[0], clip.streams.audio[0]
        assert (video.codec_context.name, sound.codec_context.name) == ("h264", "aac")
        assert (video.codec_context.width, video.codec_context.height) == (480, 270)
        first = next(clip.decode(video)).to_ndarray(format="rgb24").astype(float)
    source = whole[in_range(M000)[0]][:, 480:].astype(float)
    assert np.abs(first - source).mean() < 6  # lossy, but this half and not the other
    assert np.abs(first - whole[in_range(M000)[0]][:, :480]).mean() > 20


def test_an_iemocap_run_reads_each_utterance_alone(
    tmp_path: Path, miniatures: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Ingest, filter, faces and audio on the dialogue's utterances: each record is its
    range's (duration, frames, the speaker's half), and the export-side cut matches."""
    path = write_config(tmp_path, {"dataset": "iemocap", "root": str(miniatures["iemocap"])})
    summary = run_pipeline(path, ["ingest", "filter", "faces", "audio"])
    assert tally(summary, "audio")["failed"] == 0
    records = stored(tmp_path / "out")
    for sample, segment in (("Ses01F_impro01_F000", F000), ("Ses01F_impro01_M000", M000)):
        assert segment.end is not None
        duration = segment.end - segment.start
        ingest = records[f"ingest/{sample}.json"]["data"]
        assert ingest["probe"]["duration"] == pytest.approx(duration)
        assert ingest["segment"]["crop"] == list(segment.crop or ())
        assert records[f"filter/{sample}.json"]["data"]["keep"]
        faces = records[f"faces/{sample}.json"]["data"]
        assert faces["frames_total"] == len(in_range(segment))
        assert (faces["width"], faces["height"]) == (480, 270)
        audio = records[f"audio/{sample}.json"]["data"]
        assert audio["duration"] == pytest.approx(duration, abs=1e-3)
        frames = (tmp_path / "out" / "stages" / "faces" / sample / "frames.csv").read_text()
        times = [float(line.split(",")[1]) for line in frames.splitlines()[1:]]
        assert times[0] < 0.05 and times[-1] < duration  # timed from the segment's start
    assert not any("Ses01F_impro01_M000" in record.message for record in caplog.records)


def test_a_segment_beyond_the_end_is_one_line_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "talk.mp4").write_bytes((CLIPS / "sample_00000001.mp4").read_bytes())
    lines = [
        {"path": "media/talk.mp4", "id": "late", "start": 30.0, "end": 32.0, "label": "sad"},
        {"path": "media/talk.mp4", "id": "good", "start": 1.0, "end": 3.0, "label": "happy"},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    path = write_config(tmp_path, {"dataset": "manifest", "root": str(manifest)})
    with caplog.at_level(logging.WARNING):
        summary = run_pipeline(path, ["ingest", "filter", "audio"])
    warned = [record.getMessage() for record in caplog.records if "late" in record.getMessage()
              or "30.00" in record.getMessage()]  # fmt: skip
    assert warned == [
        "media/talk.mp4: segment 30.00-32.00 s starts at or after the file's end (4.58 s)"
    ]
    records = stored(tmp_path / "out")
    assert not records["filter/late.json"]["data"]["keep"]
    assert records["audio/good.json"]["data"]["duration"] == pytest.approx(2.0, abs=1e-3)
    assert tally(summary, "audio") == {**tally(summary, "audio"), "computed": 1, "failed": 0}
