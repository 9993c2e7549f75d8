"""The frames part of the benchmark: decoding's share of the faces stage, and py-feat's
cost per frame by batch size and across clips.

It runs the measuring children of ``faces.py`` (each in its own process, so
its peak memory and thread settings are its own): the first sample clip upscaled to 960x540
H.264 (the size of real footage) analysed by the dlib backend at 5 frames/s, and py-feat's
real architecture with random weights at batch 1, 8 and 32 and on 4 clips of 6 frames, one
clip at a time against 4 at once in one worker (``clips_per_worker``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import CLIPS, child_env

BIG_CLIP_SECONDS = 20.0
SAMPLE_FPS = 5.0
BATCH_SIZES = "1,8,32"
ACROSS_CLIPS = (4, 6)  # clips x frames


def _child(*arguments: str) -> dict[str, Any] | str:
    """The JSON a child of the script printed last, or why it failed (its last line)."""
    command = [sys.executable, "-m", "benchmarks.faces", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=child_env())
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[-1][:200] if lines else f"exit {done.returncode}"
    if not done.stdout.strip():
        return {}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _make_clip(source: Path, seconds: float, target: Path) -> Path:
    made = _child("--make-clip", "big", str(source), str(seconds), str(target))
    if isinstance(made, str):
        raise RuntimeError(f"could not make {target.name}: {made}")
    return target


def measure_frames(
    root: Path,
    threads: int = 1,
    big_seconds: float = BIG_CLIP_SECONDS,
    batch_sizes: str = BATCH_SIZES,
    across_clips: tuple[int, int] = ACROSS_CLIPS,
) -> dict[str, Any]:
    """Decoding's share with dlib on the 960x540 clip; py-feat's batch and across-clip costs."""
    videos = sorted(p for p in CLIPS.iterdir() if p.suffix in (".mp4", ".avi"))
    big = _make_clip(videos[0], big_seconds, root / "big_960x540.mp4")
    options = json.dumps({"expression": {"model": "auto"}})
    dlib = _child("--child", "dlib", str(big), json.dumps(SAMPLE_FPS), options)
    results: dict[str, Any] = {"backend": "dlib", "frame_size": "960x540"}
    if isinstance(dlib, str):
        results["error"] = dlib
        results["decode_share_percent"] = None
    else:
        busy = dlib["decode_seconds"] + dlib["detect_seconds"] + dlib["expression_seconds"]
        share = 100 * dlib["decode_seconds"] / busy if busy else None
        results["decode_share_percent"] = round(share, 1) if share is not None else None
        results["frames"], results["decoded"] = dlib["frames"], dlib["decoded"]
        results["frames_total"] = dlib["total"]
    results["pyfeat_batches"] = _child("--batch-child", batch_sizes, str(big), str(threads), "cpu")
    count, frames = across_clips
    clips = [
        _make_clip(videos[i % len(videos)], frames / SAMPLE_FPS, root / f"clip{i}.mp4")
        for i in range(count)
    ]
    paths = json.dumps([str(clip) for clip in clips])
    results["pyfeat_across_clips"] = _child("--clips-child", paths, str(threads), "cpu")
    results["torch_threads"], results["across_clips"] = threads, list(across_clips)
    return results


def render_frames(results: dict[str, Any]) -> str:
    """The details the goals table does not show: py-feat's two tables."""
    lines = [
        f"faces (dlib, 960x540 at {SAMPLE_FPS:g} frames/s): {results.get('frames')} frames "
        f"analysed, {results.get('decoded')} of {results.get('frames_total')} decoded, "
        f"decoding {results.get('decode_share_percent')}% of the stage"
        + (f" (cannot run: {results['error']})" if results.get("error") else ""),
        "",
        f"py-feat Detectorv2, random weights, 640x360 frames, CPU, torch threads "
        f"{results['torch_threads']}",
        "",
    ]
    batches = results["pyfeat_batches"]
    if isinstance(batches, str):
        lines.append(f"batches: cannot run: {batches}")
    else:
        lines += ["| batch | ms per frame |", "|---:|---:|"]
        lines += [f"| {size} | {ms:.0f} |" for size, ms in batches.items()]
    across = results["pyfeat_across_clips"]
    count, frames = results["across_clips"]
    lines.append("")
    if isinstance(across, str):
        lines.append(f"across clips: cannot run: {across}")
    else:
        lines += [
            f"{count} clips x {frames} frames, batch_size 8",
            "",
            "| clips_per_worker | ms per frame | passes | frames per pass |",
            "|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {k} | {v['ms_per_frame']:.0f} | {v['passes']} | {v['frames_per_pass']:.1f} |"
            for k, v in across.items()
        ]
    return "\n".join(lines)
