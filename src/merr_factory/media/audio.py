"""Extracting a clip's sound as 16 kHz mono 16-bit PCM wav, in one streaming decode.

Only the audio stream is decoded (video packets are demuxed and skipped), frame by frame,
through ffmpeg's resampler inside PyAV; samples go straight to the wav file, so memory stays
flat however long the clip. Level statistics (peak, RMS) are gathered on the way, so deciding
"pure silence" costs no second pass. Pure standard library besides PyAV: no numpy needed.

A segment (a time range of the file) is cut alike: the audio stream is sought to the frame at
or before its start (``media/segments.py``), the resampled samples before the start are
dropped, and decoding stops at its end; the wav holds the range alone.
"""

from __future__ import annotations

import math
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from merr_factory.faults import is_write_fault
from merr_factory.inputs.segment import Segment
from merr_factory.media.probe import MEDIA_ERRORS, describe_error, raise_if_environment
from merr_factory.media.segments import seek_to, stream_start

SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2  # bytes: 16-bit signed PCM
FULL_SCALE = 32768.0
SILENCE_FLOOR_DB = -120.0  # the level reported for all-zero audio


class AudioDecodeError(ValueError):
    """The audio stream exists but cannot be decoded; the message names the file."""


@dataclass(frozen=True)
class AudioExtract:
    """What extraction found. ``has_audio`` is false when the file has no audio stream
    (nothing is written then); levels are in dB relative to full scale (dBFS)."""

    has_audio: bool
    duration: float = 0.0
    samples: int = 0
    peak_db: float = SILENCE_FLOOR_DB
    rms_db: float = SILENCE_FLOOR_DB

    def is_silent(self, threshold_db: float) -> bool:
        """True when the whole track stays below ``threshold_db`` (or holds no samples)."""
        return self.samples == 0 or self.peak_db < threshold_db


class _LevelMeter:
    """Running peak and sum of squares over 16-bit samples."""

    def __init__(self) -> None:
        self.count = 0
        self.peak = 0
        self.squares = 0.0

    def add(self, chunk: array) -> None:
        if not chunk:
            return
        self.count += len(chunk)
        self.peak = max(self.peak, max(chunk), -min(chunk))
        self.squares += math.fsum(value * value for value in chunk)

    def peak_db(self) -> float:
        return _to_db(self.peak / FULL_SCALE)

    def rms_db(self) -> float:
        if not self.count:
            return SILENCE_FLOOR_DB
        return _to_db(math.sqrt(self.squares / self.count) / FULL_SCALE)


def _to_db(ratio: float) -> float:
    if ratio <= 0:
        return SILENCE_FLOOR_DB
    return round(max(SILENCE_FLOOR_DB, 20 * math.log10(ratio)), 2)


def extract_audio(
    source: Path, target: Path, sample_rate: int = SAMPLE_RATE, segment: Segment | None = None
) -> AudioExtract:
    """Decode the first audio stream of ``source`` (of ``segment`` only, when given) into a
    mono wav at ``target``.

    Returns ``AudioExtract(has_audio=False)`` and writes nothing when there is no audio
    stream. Raises ``AudioDecodeError`` (one line, naming the file) when it cannot be read.
    """
    try:
        with av.open(str(source), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return AudioExtract(has_audio=False)
            stream = container.streams.audio[0]
            with wave.open(str(target), "wb") as sink:
                sink.setnchannels(1)
                sink.setsampwidth(SAMPLE_WIDTH)
                sink.setframerate(sample_rate)
                window = None if segment is None else _Window(segment, sample_rate)
                meter = _stream_to_wav(container, stream, sink, sample_rate, window)
    except MEDIA_ERRORS as error:
        target.unlink(missing_ok=True)
        if is_write_fault(error):  # the wav could not be written: the output's fault
            raise
        raise_if_environment(error)
        raise AudioDecodeError(
            f"{source.name}: cannot decode the audio stream ({describe_error(error)})"
        ) from error
    return AudioExtract(
        has_audio=True,
        duration=round(meter.count / sample_rate, 4),
        samples=meter.count,
        peak_db=meter.peak_db(),
        rms_db=meter.rms_db(),
    )


class _Window:
    """Which resampled samples fall in a segment: those from its start to its end, counted
    from the time of the first frame decoded after the seek."""

    def __init__(self, segment: Segment, sample_rate: int) -> None:
        self.segment = segment
        self.rate = sample_rate
        self.skip: int | None = None  # samples before the start (known at the first frame)
        self.stop: int | None = None  # samples up to the end (None: to the file's end)
        self.position = 0  # resampled samples seen so far

    def begin(self, first_time: float) -> None:
        """The first decoded frame starts at ``first_time`` (seconds from the stream's start)."""
        self.skip = max(0, round((self.segment.start - first_time) * self.rate))
        if self.segment.end is not None:
            self.stop = self.skip + round((self.segment.end - self.segment.start) * self.rate)

    def cut(self, data: bytes) -> bytes:
        """The part of the next resampled chunk inside the segment."""
        count = len(data) // SAMPLE_WIDTH
        begin = max(0, (self.skip or 0) - self.position)
        end = count if self.stop is None else max(begin, min(count, self.stop - self.position))
        self.position += count
        return data[begin * SAMPLE_WIDTH : end * SAMPLE_WIDTH]

    def done(self) -> bool:
        return self.stop is not None and self.position >= self.stop


def _stream_to_wav(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    sink: wave.Wave_write,
    sample_rate: int,
    window: _Window | None = None,
) -> _LevelMeter:
    meter = _LevelMeter()
    for data in mono_pcm(container, stream, sample_rate, window):
        chunk = array("h")
        chunk.frombytes(data)
        meter.add(chunk)
        sink.writeframes(data)
    return meter


def mono_pcm(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    sample_rate: int,
    window: _Window | None = None,
) -> Iterator[bytes]:
    """The stream as 16-bit mono PCM chunks at ``sample_rate``, of ``window`` only (after a
    seek to it) when given."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    if window is not None:
        seek_to(container, stream, window.segment.start)
    for frame in container.decode(stream):
        if window is not None:
            if window.skip is None:
                time = 0.0 if frame.time is None else frame.time - stream_start(stream)
                window.begin(time)
            if window.done():
                break
        for out in resampler.resample(frame):
            yield _samples(out, window)
    for out in resampler.resample(None):  # flush what the resampler still holds
        yield _samples(out, window)


def segment_pcm(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    segment: Segment,
    sample_rate: int,
) -> Iterator[bytes]:
    """``segment``'s sound as 16-bit mono PCM chunks at ``sample_rate``."""
    return mono_pcm(container, stream, sample_rate, _Window(segment, sample_rate))


def _samples(frame: av.AudioFrame, window: _Window | None) -> bytes:
    # A plane may be padded past the last sample: keep exactly ``samples`` of them.
    data = bytes(frame.planes[0])[: frame.samples * SAMPLE_WIDTH]
    return data if window is None else window.cut(data)


def read_wav_mono(path: Path) -> tuple[array, int]:
    """The 16-bit samples and the sample rate of a mono wav written by ``extract_audio``."""
    with wave.open(str(path), "rb") as source:
        if source.getnchannels() != 1 or source.getsampwidth() != SAMPLE_WIDTH:
            raise ValueError(f"{path.name}: expected 16-bit mono wav")
        samples = array("h")
        samples.frombytes(source.readframes(source.getnframes()))
        return samples, source.getframerate()


def read_wav_float(path: Path) -> tuple[Any, int]:
    """The samples of ``read_wav_mono`` as float32 in [-1, 1) (a numpy array), and the rate:
    what every model of the audio, asr, features and tone steps takes."""
    import numpy as np

    pcm, rate = read_wav_mono(path)
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0, rate
