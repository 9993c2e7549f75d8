"""The pipeline benchmark (``merr-build bench``, ``scripts/bench.py``).

On the bundled sample clips replicated to N samples (hard links: no disk cost) it measures:

- per stage: samples per second, wall and CPU seconds inside the stage, with one worker, and
  the peak memory of a process that runs that stage alone;
- the pipeline's wall time against the time spent inside the stages (the overhead ratio);
- the speed-up of two workers over one (each limited to one thread for numeric libraries);
- decoding's share of the faces stage on 960x540 frames, py-feat's cost per frame by batch
  size and across clips (``bench_frames.py``);
- what an LLM call costs against its raw cost, throughput against a stub server, and the
  prompt layout on a llama.cpp server (``bench_llm.py``, ``bench_layout.py``);
- the streaming schedule against the barrier one (``bench_schedule.py``);
- the bookkeeping at scale (``bench_scale.py``): over 100k synthetic done samples of every
  stage, the no-op re-run, ``status``, the main process's peak memory, the export of every
  entry and the opening of the HTML report, each against its goal;
- peak memory (of this process and, separately, of its largest worker process).

``measure_resume`` (a first run and a no-op re-run of ten light stages, the real ingest and
filter plus eight stand-ins) serves ``scripts/bench_remote.py``, on an object store.

It uses the sample config's stage settings (the offline models). Results go to the terminal
as markdown, the goals table first (``bench_goals.py``), and, if asked, to JSON and markdown
files.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .bench_goals import render_goals
from .bench_scale import CHILD_REPORTING_PEAK, default_scale_dir, measure_scale, render_scale
from .config import load_config
from .pipeline import Runner, RunOptions, RunSummary
from .stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings
from .status import collect_status
from .workspace import Workspace, open_workspace

REPO = Path(__file__).resolve().parents[2]
CLIPS = REPO / "tests" / "data" / "clips"
SAMPLE_CONFIG = REPO / "configs" / "sample.yaml"
PLACEHOLDER_MODELS = REPO / "models" / "placeholder-features"


def replicate(target: Path, copies: int) -> Path:
    """``copies`` hard links to the sample media (cycling through them) in ``target``."""
    sources = sorted(path for path in CLIPS.iterdir() if path.name.startswith("sample"))
    target.mkdir(parents=True, exist_ok=True)
    for index in range(copies):
        source = sources[index % len(sources)]
        link = target / f"clip_{index:06d}{source.suffix}"
        if not link.exists():
            os.link(source, link)
    return target


def placeholder_feature_models() -> Path:
    """The random-weight encoders the sample config's features stage loads (``make demo``
    writes them too; no model hub is needed)."""
    if not (PLACEHOLDER_MODELS / ".written").exists():
        script = REPO / "scripts" / "make_feature_models.py"
        command = [sys.executable, str(script), "--out", str(PLACEHOLDER_MODELS)]
        subprocess.run(command, check=True, capture_output=True)
        (PLACEHOLDER_MODELS / ".written").touch()
    return PLACEHOLDER_MODELS


def write_config(root: Path, name: str, clips: Path, workers: int, **extra: Any) -> Path:
    """The sample config on ``clips``, with the LLM's reply cache off: the replicated clips
    would otherwise hit it and make synthesize look far faster than it is. Its paths into
    the repository (the placeholder feature models) are made absolute."""
    raw = yaml.safe_load(SAMPLE_CONFIG.read_text())
    features = raw["stages"].get("features", {})
    for key, value in features.items():
        if isinstance(value, str) and value.startswith(f"{PLACEHOLDER_MODELS.parent.name}/"):
            placeholder_feature_models()
            features[key] = str(REPO / value)
    executor = {"workers": workers, "threads_per_worker": 1}
    raw.update(input=str(clips), output=str(root / name), executor=executor, **extra)
    raw["stages"]["synthesize"]["llm"]["cache"] = False
    raw.pop("labels", None)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def per_sample_stages(workspace: Workspace) -> list[str]:
    """The stages without whole-set ones (the export is measured on its own)."""
    return [name for name, stage in workspace.stages.items() if not stage.has_finalize()]


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


class StandIn(Stage[StageSettings]):
    """A light stage with a small record, for measuring what resuming costs."""

    summary = "benchmark stand-in"
    settings_model = StageSettings

    def process(self, sample: SampleContext) -> StageResult:
        return StageResult(data={"sample": sample.source.id, "stage": self.name})


def _stand_in(name: str, after: str) -> Stage:
    stage_class = type(f"StandIn_{name}", (StandIn,), {"name": name, "requires": (after,)})
    return stage_class(StageSettings(), RunFacts(label_set=()))


def measure_resume(root: Path, samples: int, **output: Any) -> dict[str, Any]:
    """First run and no-op re-run of ten light stages; ``output`` may give an output_url."""
    clips = replicate(root / "noop-clips", samples)
    config_path = write_config(root, "noop", clips, workers=1, **output)
    config = load_config(config_path)

    def workspace() -> Workspace:
        space = open_workspace(config)
        previous = "filter"
        for index in range(3, 11):
            name = f"stage{index:02d}"
            space.stages[name] = _stand_in(name, previous)
            previous = name
        return space

    names = ["ingest", "filter", *(f"stage{index:02d}" for index in range(3, 11))]
    _, first_wall = run(workspace(), names)
    start = time.perf_counter()
    space = workspace()  # discovery of the files is part of a re-run
    again, _ = run(space, names)
    noop_wall = time.perf_counter() - start
    start = time.perf_counter()
    collect_status(workspace())
    status_wall = time.perf_counter() - start
    return {
        "samples": samples,
        "stages": len(names),
        "first_run_wall_s": round(first_wall, 2),
        "noop_rerun_wall_s": round(noop_wall, 3),
        "noop_skipped": sum(tally.skipped for tally in again.tallies),
        "status_wall_s": round(status_wall, 3),
    }


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
    """What ``merr-build bench`` measures (a count of 0 skips that part)."""

    copies: int = 50
    scale_samples: int = 100_000
    scale_dir: Path | None = None
    llm_samples: int = 256  # against the stub server
    llm_raw_samples: int = 8  # against the bare library (SmolLM2)
    schedule: str = "barrier"  # the side-by-side with the barrier schedule; "streaming": none
    schedule_samples: int = 24
    frames: bool = True  # decoding's share of the faces stage, py-feat's batch tables


def benchmark(plan: BenchPlan) -> dict[str, Any]:
    """The throughput runs on ``plan.copies`` samples, the LLM and schedule parts, then the
    bookkeeping at ``plan.scale_samples`` synthetic done samples (each skipped at 0)."""
    one_thread_per_worker()
    results: dict[str, Any] = {"machine": machine(), "copies": plan.copies}
    if plan.copies:
        with tempfile.TemporaryDirectory(prefix="merr-bench-") as temp:
            results.update(_throughput(Path(temp), plan.copies))
    if plan.frames:
        from .bench_frames import measure_frames

        with tempfile.TemporaryDirectory(prefix="merr-bench-frames-") as temp:
            results["faces"] = measure_frames(Path(temp))
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
    from .bench_llm import measure_llm  # the LLM parts import the stages' LLM code
    from .bench_schedule import measure_schedules

    results: dict[str, Any] = {}
    if plan.llm_samples:
        results["llm"] = measure_llm(root, plan.llm_samples, plan.llm_raw_samples)
    if plan.schedule == "barrier" and plan.schedule_samples:
        clips = replicate(root / "schedule-clips", plan.schedule_samples)
        results["schedule"] = measure_schedules(root, clips)
    return results


def _throughput(root: Path, copies: int) -> dict[str, Any]:
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


def render_markdown(results: dict[str, Any]) -> str:
    """The goals table first, then each part's details."""
    parts = [render_goals(results)]
    if "one_worker" in results:
        parts.append("\n".join(_throughput_lines(results)))
    if "faces" in results:
        from .bench_frames import render_frames

        parts.append(render_frames(results["faces"]))
    if "llm" in results:
        from .bench_llm import render_markdown as render_llm

        parts.append(render_llm(results["llm"], 0.2))
    if "schedule" in results:
        parts.append(_schedule_line(results["schedule"]))
    if "scale" in results:
        parts.append(render_scale(results["scale"]))
    peak = results["peak_rss_mb"]
    parts.append(
        f"{results['machine']}; peak RSS of this process {peak['main_process']} MB, of its "
        f"largest child {peak['largest_worker']} MB"
    )
    return "\n\n".join(parts)


def _schedule_line(schedule: dict[str, Any]) -> str:
    return (
        f"streaming against the barrier schedule (all extraction first, then the LLM chain), "
        f"{schedule['samples']} samples, {schedule['workers']} workers: streaming "
        f"{schedule['streaming_wall_s']} s, barrier {schedule['barrier_wall_s']} s, barrier / "
        f"streaming = {schedule['barrier_over_streaming']}"
    )


def _throughput_lines(results: dict[str, Any]) -> list[str]:
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
