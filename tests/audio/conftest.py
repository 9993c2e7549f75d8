"""Fixtures for the audio and asr tests: signals written as files, the sample clips."""

from __future__ import annotations

import math
import wave
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ..conftest import CLIPS

SPEECH_CLIPS = ("sample_00000001.mp4", "sample_00000002.mp4", "sample_00000003.avi")


def write_wav(path: Path, channels: Sequence[Sequence[float]], rate: int) -> Path:
    """A 16-bit PCM wav from one list of floats (-1..1) per channel."""
    frames = array("h")
    for values in zip(*channels, strict=True):
        frames.extend(round(max(-1.0, min(1.0, v)) * 32767) for v in values)
    with wave.open(str(path), "wb") as sink:
        sink.setnchannels(len(channels))
        sink.setsampwidth(2)
        sink.setframerate(rate)
        sink.writeframes(frames.tobytes())
    return path


def sine(freq: float, seconds: float, rate: int, amplitude: float) -> list[float]:
    return [amplitude * math.sin(2 * math.pi * freq * i / rate) for i in range(int(seconds * rate))]


def write_silent_clip(path: Path, seconds: float = 2.0) -> Path:
    """A small mp4 (MPEG-4 video, AAC audio) whose audio track is digital silence."""
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=24)
        video.width, video.height, video.pix_fmt = 160, 128, "yuv420p"
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "mono"
        picture = np.full((128, 160, 3), 90, np.uint8)
        for _ in range(int(seconds * 24)):
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(video.encode())
        zeros = np.zeros((1, 1024), np.float32)
        for index in range(int(seconds * 44100) // 1024):
            frame = av.AudioFrame.from_ndarray(zeros, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, index * 1024
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return path


@pytest.fixture
def wav_file(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, channels: Sequence[Sequence[float]], rate: int) -> Path:
        return write_wav(tmp_path / name, channels, rate)

    return make


@pytest.fixture
def clip() -> Callable[[str], Path]:
    return lambda name: CLIPS / name
