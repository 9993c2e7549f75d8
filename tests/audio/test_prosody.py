"""Prosody features with real librosa pYIN on signals of known pitch and rhythm, and real
silero-vad (its weights ship in its wheel) on the sample speech, on silence and on noise."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy", reason="the audio extra is not installed")
pytest.importorskip("librosa", reason="the audio extra (librosa) is not installed")
pytest.importorskip("silero_vad", reason="the audio extra (silero-vad) is not installed")

from merr_factory.media.audio import extract_audio, read_wav_mono  # noqa: E402
from merr_factory.prosody.features import measure_prosody  # noqa: E402
from merr_factory.prosody.schema import PitchSettings, VadSettings  # noqa: E402
from merr_factory.prosody.vad import SpeechDetector  # noqa: E402

RATE = 16000


def voiced(f0: np.ndarray) -> np.ndarray:
    """A voice-like harmonic signal following the pitch track ``f0`` (one value per sample)."""
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return sum(np.sin(k * phase) / k for k in range(1, 6)).astype(np.float32) * 0.3


def syllables(f0: float, per_second: float, seconds: float) -> np.ndarray:
    """Bursts of voice (60% of each period) separated by silence: a steady syllable rhythm."""
    n = int(seconds * RATE)
    period = RATE / per_second
    position = np.arange(n) % period
    on = position < 0.6 * period
    envelope = np.where(on, np.sin(np.pi * position / (0.6 * period)) ** 2, 0.0)
    return voiced(np.full(n, f0)) * envelope.astype(np.float32)


@pytest.fixture(scope="module")
def detector() -> SpeechDetector:
    return SpeechDetector(VadSettings())


def test_pitch_and_rate_of_a_steady_voice() -> None:
    prosody = measure_prosody(syllables(200.0, 4.0, 3.0), RATE, [(0.0, 3.0)], PitchSettings())
    assert prosody is not None
    assert prosody.pitch_mean_hz == pytest.approx(200.0, abs=4.0)
    assert prosody.pitch_cv is not None and prosody.pitch_cv < 0.03
    assert prosody.speaking_rate == pytest.approx(4.0, abs=0.7)
    assert 0.3 < prosody.voiced_ratio < 0.9
    assert prosody.pause_ratio == 0.0


def test_a_rising_glide_has_a_wide_range_and_a_rising_end() -> None:
    f0 = np.linspace(120.0, 240.0, 2 * RATE)
    prosody = measure_prosody(voiced(f0), RATE, [(0.0, 2.0)], PitchSettings())
    assert prosody is not None
    assert 9.0 < (prosody.pitch_range_st or 0) < 12.5  # one octave is 12 semitones
    assert (prosody.pitch_end_z or 0) > 1.0
    assert prosody.pitch_mean_hz == pytest.approx(180.0, abs=10.0)


def test_pauses_between_speech_regions() -> None:
    signal = syllables(150.0, 4.0, 2.5)
    prosody = measure_prosody(signal, RATE, [(0.0, 1.0), (1.5, 2.5)], PitchSettings())
    assert prosody is not None
    assert prosody.pause_ratio == pytest.approx(0.2, abs=0.01)
    assert prosody.speech_seconds == pytest.approx(2.0)


def test_no_speech_gives_no_prosody() -> None:
    assert measure_prosody(np.zeros(RATE, dtype=np.float32), RATE, [], PitchSettings()) is None


def test_vad_finds_the_speech_of_a_sample_clip(detector, clip, tmp_path) -> None:
    extract_audio(clip("sample_00000001.mp4"), tmp_path / "a.wav")
    pcm, rate = read_wav_mono(tmp_path / "a.wav")
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
    regions = detector.regions(samples, rate)
    assert regions, "no speech found in a clip of speech"
    assert regions[0][0] == pytest.approx(0.25, abs=0.1)  # the speech starts 0.25 s in
    assert regions[-1][1] < 4.6
    assert sum(end - start for start, end in regions) > 2.5


def test_vad_finds_no_speech_in_silence_or_noise(detector) -> None:
    rng = np.random.default_rng(0)
    assert detector.regions(np.zeros(3 * RATE, dtype=np.float32), RATE) == []
    noise = (rng.standard_normal(3 * RATE) * 0.01).astype(np.float32)
    assert detector.regions(noise, RATE) == []
    assert detector.regions(np.zeros(0, dtype=np.float32), RATE) == []
