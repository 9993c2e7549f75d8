"""Extraction of 16 kHz mono PCM wav with PyAV: real decoding of the sample clips and of
signals written here, levels, silence, missing and broken audio."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from merr_factory.media.audio import AudioDecodeError, extract_audio, read_wav_mono

from .conftest import sine


@pytest.mark.parametrize(
    "name", ["sample_00000001.mp4", "sample_00000002.mp4", "sample_00000003.avi"]
)
def test_sample_clips_become_16k_mono_wav_of_the_same_length(
    clip, manifest, tmp_path: Path, name: str
) -> None:
    target = tmp_path / "a.wav"
    result = extract_audio(clip(name), target)
    expected = manifest[Path(name).stem]["expected"]["duration_s"]
    assert result.has_audio
    assert result.duration == pytest.approx(expected, abs=0.12)
    with wave.open(str(target)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.getnframes() == result.samples
    assert not result.is_silent(-60.0)
    assert -30 < result.rms_db < -10  # espeak speech, normalised near full scale


@pytest.mark.parametrize("name", ["samplenew_00000005.mp4", "sample_00000006.jpg"])
def test_no_audio_stream_writes_nothing(clip, tmp_path: Path, name: str) -> None:
    target = tmp_path / "a.wav"
    result = extract_audio(clip(name), target)
    assert not result.has_audio
    assert not target.exists()


def test_stereo_44k_is_resampled_and_downmixed(wav_file, tmp_path: Path) -> None:
    left = sine(440, 1.0, 44100, 0.5)
    source = wav_file("stereo.wav", [left, left], 44100)
    result = extract_audio(source, tmp_path / "out.wav")
    samples, rate = read_wav_mono(tmp_path / "out.wav")
    assert rate == 16000
    assert len(samples) == pytest.approx(16000, abs=64)
    assert result.peak_db == pytest.approx(-6.0, abs=0.5)  # amplitude 0.5
    assert result.rms_db == pytest.approx(-9.0, abs=0.5)  # a sine's RMS is 3 dB below peak


def test_pure_silence_is_reported_silent(wav_file, tmp_path: Path) -> None:
    source = wav_file("quiet.wav", [[0.0] * 22050], 22050)
    result = extract_audio(source, tmp_path / "out.wav")
    assert result.has_audio and result.duration == pytest.approx(1.0, abs=0.01)
    assert result.is_silent(-60.0)


def test_a_broken_file_raises_one_line_naming_it(tmp_path: Path) -> None:
    source = tmp_path / "broken_clip.mp4"
    source.write_bytes(b"\x00\x01not a media file" * 100)
    with pytest.raises(AudioDecodeError, match=r"^broken_clip\.mp4: cannot decode") as caught:
        extract_audio(source, tmp_path / "out.wav")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.wav").exists()
