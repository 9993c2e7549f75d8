"""The audio stage through the real runner on the sample clips (real PyAV, Silero VAD in ONNX
Runtime, Praat and openSMILE): wav artifacts, speech regions, prosody, eGeMAPS and tone, and
the clips without sound."""

from __future__ import annotations

import json
import math
import re
import wave
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("parselmouth", reason="the audio extra (praat-parselmouth) is not installed")
pytest.importorskip(
    "faster_whisper", reason="the audio extra (faster-whisper's VAD) is not installed"
)

from merr_factory.prosody.tone import TONES
from merr_factory.stage_data import AudioData

from ..conftest import run_pipeline, tally
from .conftest import SPEECH_CLIPS, write_silent_clip

STAGES = ["ingest", "filter", "audio"]
CONTRACT_PROSODY = {
    "pitch_mean_hz",
    "pitch_range_hz",
    "pitch_std_hz",
    "energy_mean_db",
    "energy_std_db",
    "speaking_rate",
    "pause_ratio",
    "voiced_ratio",
}


def record(out: Path, sample: str) -> dict[str, Any]:
    return json.loads((out / "stages" / "audio" / f"{sample}.json").read_text())


@pytest.fixture
def audio_run(write_config, clips: Path, tmp_path: Path) -> Path:
    write_silent_clip(clips / "samplenew_00000007.mp4")
    summary = run_pipeline(write_config(), stages=STAGES)
    assert tally(summary, "audio")["computed"] == 7
    assert tally(summary, "audio")["failed"] == 0
    return tmp_path / "out"


@pytest.mark.parametrize("name", SPEECH_CLIPS)
def test_speech_clips_get_wav_regions_prosody_and_tone(audio_run: Path, name: str) -> None:
    stem = Path(name).stem
    stored = record(audio_run, stem)
    data = AudioData.model_validate(stored["data"])
    assert data.has_audio and not data.silent
    (artifact,) = stored["artifacts"]
    assert artifact["path"] == "audio.wav"
    with wave.open(str(audio_run / "stages" / "audio" / stem / "audio.wav")) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 16000)
    assert data.speech_segments[0][0] == pytest.approx(0.25, abs=0.1)
    assert set(stored["data"]["prosody"]) >= CONTRACT_PROSODY
    assert data.prosody is not None
    assert 70 < (data.prosody.pitch_mean_hz or 0) < 200  # espeak's male voice, ~100 Hz
    assert 1.5 < data.prosody.speaking_rate < 7
    assert data.tone in TONES and data.tone_source == "prosody"
    assert re.fullmatch(r"speaks in an? [a-z]+, [a-z]+ voice.*", data.tone_phrase or "")
    assert data.egemaps is not None and len(data.egemaps) == 88


@pytest.mark.parametrize("name", SPEECH_CLIPS)
def test_praat_and_opensmile_agree_on_the_pitch(audio_run: Path, name: str) -> None:
    """Two independent trackers (Praat's autocorrelation, openSMILE's SHS) on one voice."""
    data = AudioData.model_validate(record(audio_run, Path(name).stem)["data"])
    assert data.prosody is not None and data.egemaps is not None
    praat_semitones = 12 * math.log2((data.prosody.pitch_mean_hz or 0) / 27.5)
    opensmile_semitones = data.egemaps["F0semitoneFrom27.5Hz_sma3nz_amean"]
    assert opensmile_semitones == pytest.approx(praat_semitones, abs=1.0)
    assert (data.egemaps["loudness_sma3_amean"] or 0) > 0


@pytest.mark.parametrize("stem", ["samplenew_00000005", "sample_00000006"])
def test_no_audio_track_or_image_is_recorded_not_failed(audio_run: Path, stem: str) -> None:
    stored = record(audio_run, stem)
    assert stored["status"] == "done" and stored["artifacts"] == []
    data = stored["data"]
    assert (data["has_audio"], data["silent"]) == (False, True)
    assert data["tone"] is None and data["prosody"] is None and data["speech_segments"] == []


def test_a_silent_track_is_silent_and_keeps_its_wav(audio_run: Path) -> None:
    stored = record(audio_run, "samplenew_00000007")
    data = stored["data"]
    assert (data["has_audio"], data["silent"]) == (True, True)
    assert data["duration"] == pytest.approx(2.0, abs=0.1)
    assert data["tone"] is None and data["speech_segments"] == []
    assert data["egemaps"] is None
    assert [a["path"] for a in stored["artifacts"]] == ["audio.wav"]


def test_a_second_run_recomputes_nothing_and_a_threshold_change_recomputes(
    write_config, audio_run: Path
) -> None:
    assert tally(run_pipeline(write_config(), stages=STAGES), "audio")["computed"] == 0
    changed = write_config(stages={"audio": {"tone": {"low_pitch_hz": 90}}})
    assert tally(run_pipeline(changed, stages=STAGES), "audio")["computed"] == 7


def test_audio_llm_backend_needs_its_settings(write_config) -> None:
    from merr_factory.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="audio_llm"):
        load_config(write_config(stages={"audio": {"tone_backend": "openai"}}))


def test_unused_tone_backend_settings_do_not_make_outputs_stale() -> None:
    from merr_factory.stages.audio import AudioSettings

    plain = AudioSettings().fingerprint_view()
    other = AudioSettings(qwen2_audio={"model": "/elsewhere"}).fingerprint_view()
    assert plain == other
    llm = {"base_url": "http://h/v1", "model": "m"}
    slow = AudioSettings(tone_backend="openai", audio_llm={**llm, "timeout_s": 500})
    assert (
        slow.fingerprint_view()
        == AudioSettings(tone_backend="openai", audio_llm=llm).fingerprint_view()
    )
    assert AudioSettings(tone_backend="openai", audio_llm=llm).fingerprint_view() != plain
