"""The schedule side-by-side of ``python -m benchmarks --schedule barrier``.

The nearest existing tool (MER-Factory) runs the extraction (faces, AUs, audio, speech) for
the whole set first and only then the per-sample LLM chain, 4 requests in flight. This runner
streams instead: a sample's LLM questions start as soon as its own cues are ready, while other
samples are still being extracted. Both schedules run here on the same samples, with the same
stages, models and settings (the sample config's offline models, reply cache off), each into
its own output folder; the ratio of their wall times is what the streaming schedule saves.
The sample config's LLM is SmolLM2 in process, which takes a CPU worker one request at a time
(MER-Factory's 4 requests in flight apply to a server), so both schedules call it alike.

For a fair comparison both schedules first run once on a few other samples (models
downloaded or compiled, files in the page cache), then twice each in the order streaming,
barrier, barrier, streaming, so that a machine that speeds up or slows down during the
measurement favours neither; the figure is the mean of each pair.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.common import per_sample_stages, replicate, write_config
from merr_factory.config import load_config
from merr_factory.run.pipeline import Runner, RunOptions
from merr_factory.run.workspace import open_workspace

LLM_STAGES = ("synthesize", "label")
ORDER = ("streaming", "barrier", "barrier", "streaming")
WARM_UP_SAMPLES = 4


def _wall(config_path: Path, phases: list[list[str]]) -> float:
    """Seconds to run ``phases`` one after the other (each phase a whole-set run)."""
    workspace = open_workspace(load_config(config_path))
    started = time.perf_counter()
    for stages in phases:
        Runner(workspace, RunOptions(stages=stages, progress=False)).run()
    return time.perf_counter() - started


def _phases(config_path: Path) -> dict[str, list[list[str]]]:
    """Each schedule's phases: streaming runs every stage at once; barrier runs the
    extraction for the whole set, then the LLM chain."""
    stages = per_sample_stages(open_workspace(load_config(config_path)))
    extraction = [name for name in stages if name not in LLM_STAGES]
    chain = [name for name in stages if name in LLM_STAGES]
    return {"streaming": [stages], "barrier": [extraction, chain]}


def measure_schedules(root: Path, clips: Path, workers: int = 2) -> dict[str, Any]:
    """Wall seconds of the streaming schedule and of the barrier one on ``clips``."""
    warm = replicate(root / "schedule-warm-up", WARM_UP_SAMPLES)
    phases = _phases(write_config(root, "warm-up-streaming", warm, workers))
    for schedule in ("streaming", "barrier"):
        _wall(write_config(root, f"warm-up-{schedule}", warm, workers), phases[schedule])
    walls: dict[str, list[float]] = {"streaming": [], "barrier": []}
    for run, schedule in enumerate(ORDER):
        config_path = write_config(root, f"{schedule}-{run}", clips, workers)
        walls[schedule].append(round(_wall(config_path, phases[schedule]), 2))
    streaming = sum(walls["streaming"]) / len(walls["streaming"])
    barrier = sum(walls["barrier"]) / len(walls["barrier"])
    return {
        "samples": sum(1 for _ in clips.iterdir()),
        "workers": workers,
        "streaming_runs_s": walls["streaming"],
        "barrier_runs_s": walls["barrier"],
        "streaming_wall_s": round(streaming, 2),
        "barrier_wall_s": round(barrier, 2),
        "barrier_over_streaming": round(barrier / streaming, 3) if streaming else None,
    }
