"""Prosodic features of one clip, measured inside its speech regions only.

| feature | how |
|---|---|
| `pitch_mean_hz`, `pitch_std_hz` | Praat's f0 (autocorrelation) on voiced speech frames |
| `pitch_range_hz` | 95th minus 5th percentile of that f0 (robust to octave errors) |
| `pitch_range_st` | the same range in semitones: speaker-relative, comparable across voices |
| `pitch_cv` | `pitch_std_hz / pitch_mean_hz`: variability relative to the speaker's mean |
| `pitch_end_z` | mean f0 of the last quarter of voiced frames, as a z-score of the clip's f0 |
| `energy_mean_db`, `energy_std_db` | frame RMS in dBFS over voiced speech frames (or all speech) |
| `speaking_rate` | syllable nuclei per second of speech: peaks of the voiced energy contour |
| `pause_ratio` | share of the span from first to last speech that is not speech |
| `voiced_ratio` | share of speech frames that Praat finds voiced |
| `speech_seconds` | total length of the speech regions |

Pitch values are None when no frame is voiced (whisper, noise).

Why Praat and not librosa's pYIN: on the sample clips Praat agrees with pYIN within 50 cents
on 99% of the frames both call voiced (median 7 cents), runs 40 times faster (6 ms against
263 ms per clip), and compiles nothing at run time (pYIN's numba cache, written by several
workers at once, crashed later processes). openSMILE's own f0 (in the eGeMAPS set) is 9 times
slower and further from both. The audio timings of a source checkout measure it
(``--compare-pitch``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from merr_factory.optional import require
from merr_factory.prosody.schema import PitchSettings, Segment
from merr_factory.stage_data import Prosody

FRAME_LENGTH = 1024  # 64 ms at 16 kHz: the loudness window
HOP_LENGTH = 256  # 16 ms: one loudness frame and one pitch frame per hop
DB_FLOOR = -100.0
MIN_VOICED_FRAMES = 8  # fewer: pitch statistics are not meaningful


def measure_prosody(
    samples: np.ndarray, sample_rate: int, speech: list[Segment], settings: PitchSettings
) -> Prosody | None:
    """Prosody of ``samples`` (float32 mono) inside ``speech``; None when there is no speech."""
    speech_seconds = sum(end - start for start, end in speech)
    if not speech or speech_seconds <= 0:
        return None
    start = int(speech[0][0] * sample_rate)
    end = min(len(samples), int(speech[-1][1] * sample_rate) + 1)
    span = samples[start:end]  # analyse from first to last speech only
    rms = frame_rms(span)
    times = speech[0][0] + np.arange(len(rms)) * HOP_LENGTH / sample_rate
    f0 = pitch_track(span, sample_rate, settings, times - speech[0][0])
    in_speech = _mask(times, speech)
    energy_db = 20 * np.log10(np.maximum(rms, 10 ** (DB_FLOOR / 20)))
    voiced_speech = (f0 > 0) & in_speech
    # Loudness of the voice itself: the gaps between words would swamp its spread.
    loudness = energy_db[voiced_speech if voiced_speech.sum() >= MIN_VOICED_FRAMES else in_speech]
    span_seconds = speech[-1][1] - speech[0][0]
    return Prosody(
        **_pitch_stats(f0[voiced_speech]),
        energy_mean_db=_round(loudness.mean()),
        energy_std_db=_round(loudness.std()),
        speaking_rate=_round(_syllable_nuclei(energy_db, voiced_speech, settings) / speech_seconds),
        pause_ratio=_round(max(0.0, 1 - speech_seconds / span_seconds) if span_seconds else 0.0),
        voiced_ratio=_round(voiced_speech.sum() / max(1, in_speech.sum())),
        speech_seconds=_round(speech_seconds),
    )


def frame_rms(signal: np.ndarray) -> np.ndarray:
    """RMS of centred, zero-padded frames, one per ``HOP_LENGTH`` samples (as librosa's)."""
    padded = np.pad(signal.astype(np.float64), FRAME_LENGTH // 2)
    if len(padded) < FRAME_LENGTH:
        padded = np.pad(padded, (0, FRAME_LENGTH - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, FRAME_LENGTH)[::HOP_LENGTH]
    return np.sqrt(np.mean(frames**2, axis=1))


def pitch_track(
    signal: np.ndarray, sample_rate: int, settings: PitchSettings, times: np.ndarray
) -> np.ndarray:
    """Praat's f0 (Hz; 0 where unvoiced) at ``times`` (seconds from the signal's start).

    Praat's own frame grid is centred in the signal; each requested time takes the nearest
    Praat frame, and times outside Praat's grid (the first and last half window) are unvoiced.
    """
    parselmouth: Any = require("parselmouth", "audio", "pitch (Praat, praat-parselmouth)")
    sound = parselmouth.Sound(signal.astype(np.float64), sampling_frequency=sample_rate)
    minimum = 3 / settings.fmin_hz  # Praat's window: three periods of the lowest pitch
    if sound.duration < minimum:
        return np.zeros(len(times))
    pitch = sound.to_pitch_ac(
        time_step=HOP_LENGTH / sample_rate,
        pitch_floor=settings.fmin_hz,
        pitch_ceiling=settings.fmax_hz,
    )
    frequency = pitch.selected_array["frequency"]
    nearest = np.rint((times - pitch.x1) / pitch.dx).astype(int)
    inside = (nearest >= 0) & (nearest < len(frequency))
    return np.where(inside, frequency[np.clip(nearest, 0, len(frequency) - 1)], 0.0)


def _mask(times: np.ndarray, speech: list[Segment]) -> np.ndarray:
    mask = np.zeros(len(times), dtype=bool)
    for start, end in speech:
        mask |= (times >= start) & (times < end)
    return mask


def _pitch_stats(f0: np.ndarray) -> dict[str, float | None]:
    """Pitch level, spread and ending; all None with too few voiced frames."""
    if len(f0) < MIN_VOICED_FRAMES:
        return {"pitch_mean_hz": None, "pitch_range_hz": None, "pitch_std_hz": None}
    mean, std = float(f0.mean()), float(f0.std())
    low, high = np.percentile(f0, [5, 95])
    ending = f0[-max(1, len(f0) // 4) :].mean()
    return {
        "pitch_mean_hz": _round(mean),
        "pitch_range_hz": _round(high - low),
        "pitch_std_hz": _round(std),
        "pitch_range_st": _round(12 * np.log2(high / low)),
        "pitch_cv": _round(std / mean, 4),
        "pitch_end_z": _round((ending - mean) / std) if std > 0 else 0.0,
    }


def _syllable_nuclei(energy_db: np.ndarray, voiced: np.ndarray, settings: PitchSettings) -> int:
    """Count local energy peaks on voiced frames: one per syllable, roughly (de Jong-style)."""
    signal: Any = require("scipy.signal", "audio", "speaking rate (scipy)")
    contour = np.where(voiced, energy_db, energy_db.min(initial=DB_FLOOR))
    min_gap_frames = 6  # ~0.1 s: syllables are rarely closer than that
    peaks, _ = signal.find_peaks(
        contour, prominence=settings.min_peak_prominence_db, distance=min_gap_frames
    )
    return int(voiced[peaks].sum())


def _round(value: float, digits: int = 3) -> float:
    return round(float(value), digits)
