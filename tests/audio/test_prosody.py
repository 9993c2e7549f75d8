"""Prosody features with real Praat pitch (parselmouth) on signals of known pitch and rhythm,
real openSMILE eGeMAPS on them, and real Silero VAD (the ONNX model inside faster-whisper's
wheel) on the sample speech, on silence and on noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

np = pytest.importorskip("numpy", reason="the audio extra is not installed")
pytest.importorskip("parselmouth", reason="the audio extra (praat-parselmouth) is not installed")
pytest.importorskip(
    "faster_whisper", reason="the audio extra (faster-whisper's VAD) is not installed"
)

from merr_factory.media.audio import extract_audio, read_wav_mono  # noqa: E402
from merr_factory.prosody.egemaps import EgemapsExtractor  # noqa: E402
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


def test_egemaps_gives_the_88_standard_functionals_of_a_known_tone() -> None:
    values = EgemapsExtractor().measure(syllables(220.0, 4.0, 2.0), RATE, [(0.0, 2.0)])
    assert len(values) == 88
    # 220 Hz is 36 semitones above openSMILE's 27.5 Hz reference.
    assert values["F0semitoneFrom27.5Hz_sma3nz_amean"] == pytest.approx(36.0, abs=0.5)
    assert values["VoicedSegmentsPerSec"] == pytest.approx(4.0, abs=1.0)


def test_egemaps_of_a_span_too_short_is_none_not_nan() -> None:
    values = EgemapsExtractor().measure(np.zeros(RATE, np.float32), RATE, [(0.0, 0.02)])
    assert len(values) == 88
    assert values["F0semitoneFrom27.5Hz_sma3nz_amean"] is None
    json.dumps(values, allow_nan=False)  # a NaN would not survive the JSON record


COLD_START = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from merr_factory.media.audio import extract_audio, read_wav_mono
    from merr_factory.prosody.egemaps import EgemapsExtractor
    from merr_factory.prosody.features import measure_prosody
    from merr_factory.prosody.schema import PitchSettings, VadSettings
    from merr_factory.prosody.vad import SpeechDetector

    clip, wav = sys.argv[1], sys.argv[2]
    extract_audio(clip, wav)
    pcm, rate = read_wav_mono(wav)
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
    speech = SpeechDetector(VadSettings()).regions(samples, rate)
    prosody = measure_prosody(samples, rate, speech, PitchSettings())
    egemaps = EgemapsExtractor().measure(samples, rate, speech)
    jit = sorted(name for name in ("numba", "librosa", "torch") if name in sys.modules)
    print(json.dumps({"prosody": prosody.model_dump(), "egemaps": egemaps, "jit": jit}))
    """
)


def test_workers_starting_together_on_cold_caches_agree_and_compile_nothing(
    clip, tmp_path: Path
) -> None:
    """The crash this guards against: several workers compiling and caching the same JIT code
    at once (librosa's numba cache) left a cache that killed every later process. Three
    processes start at the same moment with one empty cache folder; all must finish, agree,
    and load no JIT-compiling library."""
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "NUMBA_CACHE_DIR": str(cache / "numba")}
    script = tmp_path / "cold_start.py"
    script.write_text(COLD_START)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(clip("sample_00000002.mp4")),
                str(tmp_path / f"{n}.wav"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        for n in range(3)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], outputs[0][1][-2000:]
    results = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert all(result == results[0] for result in results)
    assert results[0]["jit"] == []
    assert results[0]["prosody"]["pitch_mean_hz"] is not None
