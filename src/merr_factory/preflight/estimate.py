"""``merr-build estimate``: a pilot on a few samples, projected to the whole input.

The pilot is an ordinary run (the ``Runner``) of ``pilot`` samples spread evenly over the
sorted input, into the configured output: its records are the real run's, which later skips
them as current. What each stage cost is read back from those records (seconds inside the
stage, the sizes of the record and its files, the LLM tokens in its provenance), so a second
``estimate`` on the same output computes nothing and gives the same per-sample figures.

The projection (``project``) for ``N`` samples, from the per-sample figures of each stage:

- local executor: the CPU-bound stages share ``workers x clips_per_worker`` slots, so their
  seconds add up and divide by the slots; an I/O-bound stage (LLM calls over HTTP) runs
  ``concurrency`` samples at once on threads beside them, so the compute part is the longer
  of the two; Ray: each stage has its own pool of actors, so it is the longest stage's;
- a whole-set step (the export) runs once, its seconds and bytes growing with the samples;
- the pilot's wall time that these do not explain (the start, model loading, each worker's
  first use of a stage) is added once. A stage's seconds per sample are those of a warm
  worker (``steady_seconds``): a worker's first sample of a stage pays first-use costs once
  (on the sample clips, the audio stage's first sample took 2 s, its others 0.09 s), which
  a mean over a 10-sample pilot would count ten-fold in a 100-sample projection.

Disk and tokens are the per-sample figures times ``N``; the cost is the tokens at the
prices of the config's ``estimate`` section, when it gives any.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from merr_factory.config import Config, EstimateSettings
from merr_factory.executors.settings import ExecutorSettings, StageResources
from merr_factory.preflight.doctor import ESTIMATE_FILE
from merr_factory.run.atomic import write_text_atomic
from merr_factory.run.pipeline import Runner, RunOptions, RunSummary, StageTally
from merr_factory.run.records import Record
from merr_factory.run.workspace import Workspace
from merr_factory.tables import render_table

CPU, IO, WHOLE_SET = "cpu", "io", "whole-set"


def pilot_ids(sample_ids: Iterable[str], count: int) -> list[str]:
    """``count`` ids spread evenly over the sorted ids: the middle one of each of ``count``
    equal parts (all of them when there are fewer)."""
    ordered = sorted(sample_ids)
    chosen = min(count, len(ordered))
    return [ordered[(2 * part + 1) * len(ordered) // (2 * chosen)] for part in range(chosen)]


@dataclass(frozen=True)
class StageCost:
    """One stage's cost per input sample, measured on the pilot."""

    stage: str
    lane: str  # CPU, IO or WHOLE_SET
    parallel: int  # samples the configured executor computes at once in this stage
    seconds: float  # wall seconds inside the stage (a whole-set step's, per sample of the set)
    bytes: float  # output bytes: the records and their files (a whole-set step's output)
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0

    @property
    def tokens(self) -> float:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Projection:
    samples: int
    wall_s: float
    disk_bytes: float
    prompt_tokens: float
    completion_tokens: float
    cost: float | None


@dataclass
class Estimate:
    input_samples: int
    pilot: list[str]
    pilot_wall_s: float  # the pilot run's wall time (0 when everything was current)
    set_up_s: float  # the part of it the stages do not explain
    stages: list[StageCost]
    whole_input: Projection
    after_pilot: Projection  # the real run, which reuses the pilot's records
    prices: dict[str, float | None] = field(default_factory=dict)

    @property
    def bytes_per_sample(self) -> float:
        return sum(stage.bytes for stage in self.stages)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_per_sample": round(self.bytes_per_sample)}


def compute_seconds(stages: list[StageCost], samples: int, executor: ExecutorSettings) -> float:
    """Wall seconds the stages take on ``samples`` samples (without the set-up)."""
    if samples <= 0:
        return 0.0

    def span(stage: StageCost) -> float:
        return stage.seconds * samples / max(1, min(stage.parallel, samples))

    whole_set = sum(span(stage) for stage in stages if stage.lane == WHOLE_SET)
    per_sample = [stage for stage in stages if stage.lane != WHOLE_SET]
    if executor.kind == "ray":
        return max((span(stage) for stage in per_sample), default=0.0) + whole_set
    cpu = [stage for stage in per_sample if stage.lane == CPU]
    slots = executor.workers * executor.clips_per_worker
    cpu_span = sum(stage.seconds for stage in cpu) * samples / max(1, min(slots, samples))
    io_span = max((span(stage) for stage in per_sample if stage.lane == IO), default=0.0)
    return max(cpu_span, io_span) + whole_set


def project(
    stages: list[StageCost],
    samples: int,
    executor: ExecutorSettings,
    set_up_s: float,
    prices: EstimateSettings,
) -> Projection:
    """What ``samples`` samples cost: wall time, disk, tokens and (with prices) money."""
    prompt = sum(stage.prompt_tokens for stage in stages) * samples
    completion = sum(stage.completion_tokens for stage in stages) * samples
    cost = None
    if prices.prompt_price_per_million is not None or (
        prices.completion_price_per_million is not None
    ):
        cost = (
            prompt * (prices.prompt_price_per_million or 0.0)
            + completion * (prices.completion_price_per_million or 0.0)
        ) / 1e6
    wall = set_up_s + compute_seconds(stages, samples, executor) if samples > 0 else 0.0
    return Projection(
        samples=samples,
        wall_s=round(wall, 2),
        disk_bytes=round(sum(stage.bytes for stage in stages) * samples),
        prompt_tokens=round(prompt),
        completion_tokens=round(completion),
        cost=None if cost is None else round(cost, 6),
    )


def parallelism(executor: ExecutorSettings, stage: str, concurrency: int) -> tuple[str, int]:
    """The lane a stage runs in and how many of its samples the executor computes at once."""
    io_bound = concurrency > 1
    lane = IO if io_bound else CPU
    per_worker = concurrency if io_bound else executor.clips_per_worker
    if executor.kind == "ray":
        return lane, executor.resources.get(stage, StageResources()).actors * per_worker
    return lane, concurrency if io_bound else executor.workers * executor.clips_per_worker


def steady_seconds(records: list[Record]) -> float:
    """The seconds a sample of the stage takes once its worker is warm: the mean over the
    records that are not a worker's first use of the stage (whose seconds include a model's
    lazy loading or a first compilation, paid once per worker: the pilot's wall time then
    counts it in the set-up). The mean of all when every record is a first use."""
    steady = [record.seconds for record in records if not record.first_use]
    chosen = steady or [record.seconds for record in records]
    return sum(chosen) / len(chosen) if chosen else 0.0


def measure_stage(workspace: Workspace, name: str, pilot: list[str]) -> StageCost:
    """A per-sample stage's cost per pilot sample, from its stored records (a sample the
    filter dropped before this stage costs nothing here, as it will in the real run)."""
    records = [workspace.store.load(name, sample) for sample in pilot]
    kept = [record for record in records if record is not None]
    lane, parallel = parallelism(
        workspace.config.executor, name, workspace.stages[name].concurrency()
    )
    count = max(1, len(pilot))
    return StageCost(
        stage=name,
        lane=lane,
        parallel=parallel,
        seconds=steady_seconds(kept) * len(kept) / count,
        bytes=sum(_stored_bytes(record) for record in kept) / count,
        prompt_tokens=sum(_usage(record, "prompt_tokens") for record in kept) / count,
        completion_tokens=sum(_usage(record, "completion_tokens") for record in kept) / count,
    )


def _stored_bytes(record: Record) -> int:
    return len(record.model_dump_json()) + sum(artifact.size for artifact in record.artifacts)


def _usage(record: Record, key: str) -> float:
    usage = record.provenance.get("usage")
    return float(usage.get(key, 0)) if isinstance(usage, dict) else 0.0


def measure_whole_set(
    workspace: Workspace, per_sample: StageCost, tally: StageTally, samples: int
) -> StageCost:
    """A whole-set step's cost per sample of the set: its seconds in the pilot run (the
    stage's seconds less those of the per-sample records it computed) and the size of its
    output folder (local outputs; 0 for an ``output_url``)."""
    name = per_sample.stage
    seconds = max(0.0, tally.seconds - per_sample.seconds * samples * bool(tally.computed))
    folder = workspace.config.output / name
    size = 0
    if not workspace.store.remote and folder.is_dir():
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    count = max(1, samples)
    return StageCost(f"{name} (whole set)", WHOLE_SET, 1, seconds / count, size / count)


def run_pilot(workspace: Workspace, count: int, progress: bool) -> tuple[list[str], RunSummary]:
    """Run every stage on ``count`` samples spread over the input, into the run's output."""
    pilot = pilot_ids((source.id for source in workspace.samples), count)
    options = RunOptions(stages=list(workspace.stages), sample_ids=pilot, progress=progress)
    return pilot, Runner(workspace, options).run()


def estimate(workspace: Workspace, count: int, progress: bool = False) -> Estimate:
    """The pilot, measured and projected to the whole input; written to ``estimate.json``."""
    started = time.perf_counter()
    pilot, summary = run_pilot(workspace, count, progress)
    wall = time.perf_counter() - started
    tallies = {tally.stage: tally for tally in summary.tallies}
    stages = [measure_stage(workspace, name, pilot) for name in workspace.stages]
    stages += [
        measure_whole_set(workspace, per_sample, tallies[per_sample.stage], len(pilot))
        for per_sample in stages
        if workspace.stages[per_sample.stage].has_finalize()
    ]
    config: Config = workspace.config
    computed = sum(tally.computed + tally.failed for tally in summary.tallies)
    # the start and model loading: what the pilot's wall time has beyond its stages' work
    # (with nothing computed, nothing loaded: no set-up to add)
    explained = compute_seconds(stages, len(pilot), config.executor)
    set_up = max(0.0, wall - explained) if computed else 0.0
    total = len(workspace.samples)
    prices = config.estimate
    result = Estimate(
        input_samples=total,
        pilot=pilot,
        pilot_wall_s=round(wall, 2),
        set_up_s=round(set_up, 2),
        stages=stages,
        whole_input=project(stages, total, config.executor, set_up, prices),
        after_pilot=project(stages, total - len(pilot), config.executor, set_up, prices),
        prices={
            "prompt_price_per_million": prices.prompt_price_per_million,
            "completion_price_per_million": prices.completion_price_per_million,
        },
    )
    write_text_atomic(config.output / ESTIMATE_FILE, json.dumps(result.as_dict(), indent=1))
    return result


def render_estimate(result: Estimate, executor: ExecutorSettings) -> str:
    """The per-stage table and the projections, for the terminal."""
    rows = [
        [
            stage.stage,
            f"{stage.seconds:.3f}",
            _size(stage.bytes),
            f"{stage.tokens:.0f}",
            f"{stage.lane} x{stage.parallel}",
        ]
        for stage in result.stages
    ]
    header = ["stage", "s/sample", "bytes/sample", "tokens/sample", "runs"]
    where = f"{executor.kind}, {executor.workers} workers x {executor.clips_per_worker} clips"
    lines = [
        f"pilot: {len(result.pilot)} of {result.input_samples} samples in "
        f"{result.pilot_wall_s:.1f} s (set-up {result.set_up_s:.1f} s)",
        "",
        render_table(header, rows),
        "",
        _projection_line("whole input", result.whole_input, where),
        _projection_line("the run after this pilot", result.after_pilot, where),
    ]
    if result.whole_input.cost is None:
        lines.append("cost: give estimate.prompt_price_per_million (and completion_...) to see it")
    return "\n".join(lines)


def _projection_line(name: str, projection: Projection, where: str) -> str:
    tokens = projection.prompt_tokens + projection.completion_tokens
    cost = "" if projection.cost is None else f", cost {projection.cost:.2f}"
    return (
        f"{name} ({projection.samples} samples, {where}): {_duration(projection.wall_s)}, "
        f"disk {_size(projection.disk_bytes)}, {tokens:,.0f} tokens "
        f"({projection.prompt_tokens:,.0f} prompt, {projection.completion_tokens:,.0f} "
        f"completion){cost}"
    )


def _size(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} B"


def _duration(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{int(hours)} h {rest / 60:.0f} min" if hours else f"{seconds / 60:.1f} min"
