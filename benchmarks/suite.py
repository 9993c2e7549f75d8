"""The whole benchmark (``python -m benchmarks``, ``make bench``).

On the bundled sample clips replicated to N samples (hard links: no disk cost) it measures:

- per stage: samples per second, wall and CPU seconds inside the stage, with one worker, and
  the peak memory of a process that runs that stage alone; the pipeline's wall time against
  the time spent inside the stages (the overhead ratio); the speed-up of two workers over
  one (each limited to one thread for numeric libraries) (``throughput.py``);
- decoding's share of the faces stage on 960x540 frames, py-feat's cost per frame by batch
  size and across clips (``frames.py``);
- the faces and audio stages on a 5 s segment of a 5-minute file against the same 5 s as a
  file of its own (``segments.py``);
- what an LLM call costs against its raw cost, throughput against a stub server, and the
  prompt layout on a llama.cpp server (``llm.py``, ``layout.py``);
- the streaming schedule against the barrier one, with the sample config's LLM in process and
  with the LLM behind a stub server that costs no local CPU (``schedule.py``);
- the bookkeeping at scale (``scale.py``): over 100k synthetic done samples of every
  stage, the no-op re-run, ``status``, the main process's peak memory, the export of every
  entry and the opening of the HTML report, each against its goal;
- peak memory (of this process and, separately, of its largest worker process).

It uses the sample config's stage settings (the offline models). Results go to the terminal
as markdown, the goals table first (``goals.py``), and, if asked, to JSON and markdown
files.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import replicate
from benchmarks.frames import measure_frames, render_frames
from benchmarks.goals import render_goals
from benchmarks.llm import measure_llm
from benchmarks.llm import render_markdown as render_llm
from benchmarks.scale import default_scale_dir, measure_scale, render_scale
from benchmarks.schedule import FEW_IN_FLIGHT, measure_schedules, measure_served_schedules
from benchmarks.segments import measure_segments, render_segments
from benchmarks.throughput import measure_workers, throughput_lines


def peak_rss_mb() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"main_process": round(own, 1), "largest_worker": round(workers, 1)}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def one_thread_per_worker() -> None:
    """Numeric libraries use every core by default, so one worker alone would already use
    both; limiting each worker (and this process) to one thread measures how the runner
    scales with workers rather than how the libraries scale with threads."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"


@dataclass(frozen=True)
class BenchPlan:
    """What ``python -m benchmarks`` measures (a count of 0 skips that part)."""

    copies: int = 50
    scale_samples: int = 100_000
    scale_dir: Path | None = None
    llm_samples: int = 256  # against the stub server
    llm_raw_samples: int = 8  # against the bare library (SmolLM2)
    schedule: str = "barrier"  # the side-by-side with the barrier schedule; "streaming": none
    schedule_samples: int = 24
    frames: bool = True  # decoding's share of the faces stage, py-feat's batch tables
    segments: bool = True  # a segment of a long file against the same as a file of its own


def benchmark(plan: BenchPlan) -> dict[str, Any]:
    """The throughput runs on ``plan.copies`` samples, the LLM and schedule parts, then the
    bookkeeping at ``plan.scale_samples`` synthetic done samples (each skipped at 0)."""
    one_thread_per_worker()
    results: dict[str, Any] = {"machine": machine(), "copies": plan.copies}
    if plan.copies:
        with tempfile.TemporaryDirectory(prefix="merr-bench-") as temp:
            results.update(measure_workers(Path(temp), plan.copies))
    if plan.frames:
        with tempfile.TemporaryDirectory(prefix="merr-bench-frames-") as temp:
            results["faces"] = measure_frames(Path(temp))
    if plan.segments:
        with tempfile.TemporaryDirectory(prefix="merr-bench-segments-") as temp:
            results["segments"] = measure_segments(Path(temp))
    with tempfile.TemporaryDirectory(prefix="merr-bench-llm-") as temp:
        results.update(_llm_and_schedule(Path(temp), plan))
    if plan.scale_samples:
        where = plan.scale_dir or default_scale_dir(plan.scale_samples)
        with tempfile.TemporaryDirectory(prefix="merr-scale-", dir=where) as temp:
            results["scale"] = measure_scale(Path(temp), plan.scale_samples)
            results["scale"]["where"] = str(Path(temp).parent)
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def _llm_and_schedule(root: Path, plan: BenchPlan) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if plan.llm_samples:
        results["llm"] = measure_llm(root, plan.llm_samples, plan.llm_raw_samples)
    if plan.schedule == "barrier" and plan.schedule_samples:
        clips = replicate(root / "schedule-clips", plan.schedule_samples)
        results["schedule"] = measure_schedules(root, clips)
        results["schedule_served"] = measure_served_schedules(root, clips)
        # MER-Factory's own concurrency: where the LLM phase is long beside the extraction
        results["schedule_served_few"] = measure_served_schedules(
            root, clips, in_flight=FEW_IN_FLIGHT
        )
    return results


def render_markdown(results: dict[str, Any]) -> str:
    """The goals table first, then each part's details."""
    parts = [render_goals(results)]
    if "one_worker" in results:
        parts.append("\n".join(throughput_lines(results)))
    if "faces" in results:
        parts.append(render_frames(results["faces"]))
    if "segments" in results:
        parts.append(render_segments(results["segments"]))
    if "llm" in results:
        parts.append(render_llm(results["llm"], 0.2))
    if "schedule" in results:
        parts.append(_schedule_line(results["schedule"]))
    for key in ("schedule_served", "schedule_served_few"):
        if key in results:
            in_flight = results[key]["in_flight"]
            where = f"with the LLM on a server ({in_flight} in flight), "
            parts.append(_schedule_line(results[key], where))
    if "scale" in results:
        parts.append(render_scale(results["scale"]))
    peak = results["peak_rss_mb"]
    parts.append(
        f"{results['machine']}; peak RSS of this process {peak['main_process']} MB, of its "
        f"largest child {peak['largest_worker']} MB"
    )
    return "\n\n".join(parts)


def _schedule_line(schedule: dict[str, Any], where: str = "") -> str:
    return (
        f"streaming against the barrier schedule {where}(all extraction first, then the LLM "
        "chain), "
        f"{schedule['samples']} samples, {schedule['workers']} workers: streaming "
        f"{schedule['streaming_wall_s']} s, barrier {schedule['barrier_wall_s']} s, barrier / "
        f"streaming = {schedule['barrier_over_streaming']}"
    )


def main(
    plan: BenchPlan, json_path: Path | None = None, markdown_path: Path | None = None
) -> dict[str, Any]:
    results = benchmark(plan)
    text = render_markdown(results)
    print(text)
    if json_path:
        json_path.write_text(json.dumps(results, indent=1) + "\n")
    if markdown_path:
        markdown_path.write_text(text + "\n")
    return results
