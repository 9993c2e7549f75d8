"""The throughput part of the benchmark: on the bundled sample clips replicated to N samples
(hard links: no disk cost), with the sample config's stage settings (the offline models):

- per stage: samples per second, wall and CPU seconds inside the stage, with one worker, and
  the peak memory of a process that runs that stage alone;
- the pipeline's wall time against the time spent inside the stages (the overhead ratio);
- the speed-up of two workers over one (each limited to one thread for numeric libraries).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import CHILD_REPORTING_PEAK, per_sample_stages, replicate, write_config
from merr_factory.config import load_config
from merr_factory.run.pipeline import Runner, RunOptions, RunSummary
from merr_factory.run.workspace import Workspace, open_workspace


def run(workspace: Workspace, stages: list[str]) -> tuple[RunSummary, float]:
    start = time.perf_counter()
    summary = Runner(workspace, RunOptions(stages=stages, progress=False)).run()
    return summary, time.perf_counter() - start


def measure_throughput(root: Path, clips: Path, workers: int) -> dict[str, Any]:
    config_path = write_config(root, f"w{workers}", clips, workers)
    workspace = open_workspace(load_config(config_path))
    summary, wall = run(workspace, per_sample_stages(workspace))
    inside = sum(tally.seconds for tally in summary.tallies)
    return {
        "workers": workers,
        "config": str(config_path),
        "wall_s": round(wall, 3),
        "inside_stages_s": round(inside, 3),
        "overhead_ratio": round(wall / inside, 3) if inside and workers == 1 else None,
        "failed": summary.failed,
        "stages": [
            {
                "stage": tally.stage,
                "samples": tally.computed,
                "samples_per_s": round(tally.computed / tally.seconds, 2)
                if tally.seconds
                else None,
                "wall_s": round(tally.seconds, 3),
                "cpu_s": round(tally.cpu_seconds, 3),
            }
            for tally in summary.tallies
        ],
    }


def measure_stage_memory(
    config_path: Path, stages: list[str], samples: int = 6
) -> dict[str, float | None]:
    """Peak RSS (MB) of a fresh process that computes one stage alone (``--force``) on a few
    samples: what one worker or Ray actor of that stage needs, models loaded (Linux only).

    It includes what every process of the pipeline imports (stage modules import their
    libraries when built, torch among them), so light stages show that floor."""
    peaks: dict[str, float | None] = {}
    for stage in stages:
        command = [sys.executable, "-c", CHILD_REPORTING_PEAK, stage, "--config", str(config_path)]
        command += ["--force", "--limit", str(samples), "--quiet"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        found = re.search(r"VmHWM_kB=(\d+)", done.stderr)
        peaks[stage] = round(int(found.group(1)) / 1024, 1) if found else None
    return peaks


def measure_workers(root: Path, copies: int) -> dict[str, Any]:
    """One worker and two on ``copies`` samples, after a warm-up; each stage's peak memory."""
    clips = replicate(root / "clips", copies)
    measure_throughput(root / "warm-up", replicate(root / "warm", 6), 1)  # one-time compiles
    one = measure_throughput(root, clips, 1)
    two = measure_throughput(root, clips, 2)
    stages = [entry["stage"] for entry in one["stages"]]
    memory = measure_stage_memory(Path(one["config"]), stages)
    for entry in one["stages"]:
        entry["peak_rss_mb"] = memory[entry["stage"]]
    return {
        "one_worker": one,
        "two_workers": two,
        "speedup_2_over_1": round(one["wall_s"] / two["wall_s"], 2) if two["wall_s"] else None,
    }


def throughput_lines(results: dict[str, Any]) -> list[str]:
    one, two = results["one_worker"], results["two_workers"]
    lines = [
        f"{results['copies']} samples (the sample clips replicated) on {results['machine']}",
        "",
        "| stage | samples/s (1 worker) | wall s | CPU s | peak RSS MB (stage alone) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s['stage']} | {s['samples_per_s']} | {s['wall_s']} | {s['cpu_s']} "
        f"| {s.get('peak_rss_mb')} |"
        for s in one["stages"]
    ]
    lines += [
        "",
        f"- pipeline wall, 1 worker: {one['wall_s']} s; inside the stages: "
        f"{one['inside_stages_s']} s; overhead ratio {one['overhead_ratio']}",
        f"- pipeline wall, 2 workers: {two['wall_s']} s; speed-up {results['speedup_2_over_1']}",
    ]
    return lines
