"""The segments part of the benchmark: a 5 s segment of a 5-minute file against the same 5 s
stored as a file of its own, through the faces and audio stages.

The long file is the first sample clip (picture and sound) looped to ``LONG_SECONDS``, H.264
(x264's defaults but the ``veryfast`` preset: a keyframe every 250 frames at most, and at
each loop's scene cut) and AAC; each short file is ``SEGMENT_SECONDS`` of the same loop,
starting at one of ``STARTS``, encoded alike. Both go through ``ingest``, ``filter``,
``faces`` (dlib, 5 frames/s, as the sample config) and ``audio`` in one worker, from a
manifest (the segments with their ``start``/``end``, the short files whole); the figure is
the seconds the faces and audio stages spent on the segments over those on the short files
(their records' ``seconds``). Goal (issue 25): at most 1.5.

    python -m benchmarks.segments
"""

from __future__ import annotations

import json
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import yaml

from benchmarks.common import CLIPS
from merr_factory.config import load_config
from merr_factory.run.pipeline import Runner, RunOptions
from merr_factory.run.workspace import open_workspace

LONG_SECONDS = 300.0
SEGMENT_SECONDS = 5.0
STARTS = (37.3, 121.0, 203.7, 281.2)  # not on loop boundaries
STAGES = ["ingest", "filter", "faces", "audio"]
MEASURED = ("faces", "audio")
GOAL = 1.5


def _decoded(source: Path) -> tuple[list[np.ndarray], Fraction, np.ndarray, int]:
    """The clip's frames (RGB), frame rate, and sound (16-bit mono) with its rate."""
    with av.open(str(source)) as clip:
        video = clip.streams.video[0]
        rate = video.average_rate or Fraction(25)
        frames = [frame.to_ndarray(format="rgb24") for frame in clip.decode(video)]
    with av.open(str(source)) as clip:
        sound = clip.streams.audio[0]
        sample_rate = sound.codec_context.sample_rate or 16000
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in clip.decode(sound)
            for out in resampler.resample(frame)
        ]
    return frames, rate, np.concatenate(chunks), sample_rate


def write_loop(source: Path, target: Path, start: float, seconds: float) -> Path:
    """``seconds`` of ``source`` looped, from ``start`` s into the loop, as H.264 + AAC."""
    frames, rate, sound, sample_rate = _decoded(source)
    with av.open(str(target), "w") as writer:
        video = writer.add_stream("libx264", rate=rate, options={"preset": "veryfast"})
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        audio = writer.add_stream("aac", rate=sample_rate, layout="mono")
        first = round(start * rate)
        for number in range(round(seconds * rate)):
            picture = av.VideoFrame.from_ndarray(frames[(first + number) % len(frames)], "rgb24")
            picture.pts, picture.time_base = number, 1 / rate
            writer.mux(video.encode(picture))
        writer.mux(video.encode(None))
        # The sound loops with the picture: sample k of the loop is at k / sample_rate s.
        loop = round(len(frames) / rate * sample_rate)
        offset, total = round(start * sample_rate), round(seconds * sample_rate)
        looped = np.resize(sound[:loop], loop * (2 + (offset + total) // loop))
        samples = looped[offset : offset + total]
        for begin in range(0, total, 1024):
            chunk = samples[begin : begin + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), "s16", "mono")
            frame.sample_rate, frame.pts = sample_rate, begin
            writer.mux(audio.encode(frame))
        writer.mux(audio.encode(None))
    return target


def _run(root: Path, name: str, lines: list[dict[str, Any]]) -> dict[str, float]:
    """Run the stages on a manifest of ``lines``; the seconds each measured stage spent."""
    manifest = root / f"{name}.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = {
        "input": {"dataset": "manifest", "root": str(manifest)},
        "output": str(root / name),
        "executor": {"workers": 1, "threads_per_worker": 1},
        "stages": {"faces": {"backend": "dlib", "sample_fps": 5, "max_side": 640}},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    workspace = open_workspace(load_config(path))
    Runner(workspace, RunOptions(stages=STAGES, progress=False)).run()
    spent = dict.fromkeys(MEASURED, 0.0)
    for stage in MEASURED:
        for record in sorted((root / name / "stages" / stage).glob("*.json")):
            spent[stage] += json.loads(record.read_text())["seconds"]
    return spent


def measure_segments(root: Path) -> dict[str, Any]:
    """The faces + audio seconds of the segments and of the short files, and their ratio."""
    source = CLIPS / "sample_00000001.mp4"
    long_file = write_loop(source, root / "long.mp4", 0.0, LONG_SECONDS)
    segments, shorts = [], []
    for number, start in enumerate(STARTS):
        short = write_loop(source, root / f"short{number}.mp4", start, SEGMENT_SECONDS)
        end = start + SEGMENT_SECONDS
        segments.append({"path": str(long_file), "id": f"seg{number}", "start": start, "end": end})
        shorts.append({"path": str(short), "id": f"short{number}"})
    _run(root, "warm-up", shorts[:1])  # model loads and imports outside the measure
    on_segments = _run(root, "segments", segments)
    on_files = _run(root, "files", shorts)
    total_segments, total_files = sum(on_segments.values()), sum(on_files.values())
    return {
        "long_seconds": LONG_SECONDS,
        "segment_seconds": SEGMENT_SECONDS,
        "samples": len(STARTS),
        "segments_s": {k: round(v, 3) for k, v in on_segments.items()},
        "files_s": {k: round(v, 3) for k, v in on_files.items()},
        "segment_over_file": round(total_segments / total_files, 3) if total_files else None,
    }


def render_segments(results: dict[str, Any]) -> str:
    return (
        f"segments: {results['samples']} segments of {results['segment_seconds']:g} s of a "
        f"{results['long_seconds']:g} s file, against the same {results['segment_seconds']:g} s "
        f"as files of their own, faces + audio: segments {results['segments_s']}, files "
        f"{results['files_s']}, segment / file = {results['segment_over_file']} (goal <= {GOAL})"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="merr-bench-segments-") as temp:
        results = measure_segments(Path(temp))
    print(render_segments(results))
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
