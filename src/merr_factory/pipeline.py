"""The runner: for each selected stage, compute every sample whose stored output is not current.

One failing sample becomes a failure record and the others go on; every outcome is counted.
Stages that wait on I/O run several samples at once on threads (``Stage.concurrency``).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from tqdm import tqdm

from .discovery import SampleSource
from .planning import Planner, State, Verdict
from .records import ErrorInfo, Record, digest
from .stages.base import SampleContext, Stage
from .workspace import Workspace

log = logging.getLogger(__name__)

Task = tuple[SampleSource, Verdict]


@dataclass
class StageTally:
    """What happened to the selected samples at one stage during one run."""

    stage: str
    computed: int = 0  # computed and stored this run
    failed: int = 0  # computed this run, and failed
    skipped: int = 0  # already current, left as is
    excluded: int = 0  # dropped upstream (e.g. by the filter)
    blocked: int = 0  # an upstream stage failed
    waiting: int = 0  # an upstream stage is not current (run it first)
    seconds: float = 0.0
    final: str = ""  # whole-set output: "written", "current", "failed", "not ready" or ""
    errors: Counter[str] = field(default_factory=Counter)
    metrics: Counter[str] = field(default_factory=Counter)

    def count(self, record: Record, metrics: dict[str, float]) -> None:
        if record.status == "failed":
            self.failed += 1
            self.errors[record.error.type if record.error else "Error"] += 1
        else:
            self.computed += 1
            self.metrics.update(metrics)

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "errors": dict(self.errors), "metrics": dict(self.metrics)}


@dataclass
class RunOptions:
    stages: Sequence[str]
    sample_ids: Sequence[str] = ()
    limit: int | None = None
    force: bool = False
    progress: bool = True


@dataclass
class RunSummary:
    tallies: list[StageTally]
    samples: int
    seconds: float

    @property
    def failed(self) -> int:
        return sum(tally.failed for tally in self.tallies)


class Runner:
    """Runs stages over samples for one workspace."""

    def __init__(self, workspace: Workspace, options: RunOptions) -> None:
        self.workspace = workspace
        self.options = options
        self.store = workspace.store
        self.planner = Planner(workspace.stages, workspace.store, workspace.labels)
        self._lock = threading.Lock()

    def run(self) -> RunSummary:
        start = time.perf_counter()
        self.store.sweep_temp()
        samples = self.workspace.select(self.options.sample_ids, self.options.limit)
        tallies = [
            self._run_stage(self.workspace.stages[name], samples) for name in self.options.stages
        ]
        return RunSummary(
            tallies=tallies, samples=len(samples), seconds=time.perf_counter() - start
        )

    def _run_stage(self, stage: Stage, samples: list[SampleSource]) -> StageTally:
        tally = StageTally(stage=stage.name)
        start = time.perf_counter()
        todo = self._plan(stage, samples, tally)
        if todo:
            stage.setup()
            bar = tqdm(
                total=len(todo),
                desc=f"{stage.name:<10}",
                unit="sample",
                disable=not self.options.progress,
            )
            with bar:
                for record, metrics in self._compute_all(stage, todo):
                    tally.count(record, metrics)
                    bar.update()
        if stage.has_finalize():
            self._finalize(stage, samples, tally)
        tally.seconds = time.perf_counter() - start
        if tally.waiting:
            log.warning(
                "%s: %d samples wait for earlier stages that are not current; run those first",
                stage.name,
                tally.waiting,
            )
        return tally

    def _plan(self, stage: Stage, samples: list[SampleSource], tally: StageTally) -> list[Task]:
        """Sort the samples into those to compute and those to count only."""
        todo = []
        for source in samples:
            verdict = self.planner.verdict(stage.name, source)
            if verdict.state is State.EXCLUDED:
                tally.excluded += 1
            elif verdict.state is State.BLOCKED:
                tally.blocked += 1
            elif not verdict.ready:
                tally.waiting += 1
            elif verdict.state is State.DONE and not self.options.force:
                tally.skipped += 1
            else:
                todo.append((source, verdict))
        return todo

    def _compute_all(
        self, stage: Stage, todo: list[Task]
    ) -> Iterator[tuple[Record, dict[str, float]]]:
        workers = max(1, stage.concurrency())
        if workers == 1:
            for source, verdict in todo:
                yield self._compute(stage, source, verdict)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=stage.name) as pool:
            futures = [
                pool.submit(self._compute, stage, source, verdict) for source, verdict in todo
            ]
            for future in as_completed(futures):
                yield future.result()

    def _compute(
        self, stage: Stage, source: SampleSource, verdict: Verdict
    ) -> tuple[Record, dict[str, float]]:
        """Compute one (stage, sample) and store its record: a result or a failure."""
        assert verdict.fingerprint is not None
        self.store.forget(stage.name, source.id)
        workdir = self.store.new_workdir(stage.name, source.id)
        context = SampleContext(
            source=source,
            label=self.workspace.labels.get(source.id),
            upstream=verdict.upstream,
            workdir=workdir,
            store=self.store,
        )
        start = time.perf_counter()
        metrics: dict[str, float] = {}
        try:
            result = stage.process(context)
            metrics = result.metrics
            record = Record(
                stage=stage.name,
                sample=source.id,
                status="done",
                fingerprint=verdict.fingerprint,
                data=result.data_dict(),
                halt=result.halt,
                artifacts=self.store.commit_artifacts(stage.name, source.id, workdir),
            )
        except Exception as error:  # one bad sample must not stop the others
            record = _failure(stage.name, source, verdict.fingerprint, error)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        record.seconds = round(time.perf_counter() - start, 4)
        self.store.save(record.seal())
        with self._lock:
            self.planner.remember(record)
        if record.halt:
            reasons = "; ".join(reason.message for reason in record.halt)
            log.debug("%s: dropped by %s: %s", source.relpath, stage.name, reasons)
        return record, metrics

    def _finalize(self, stage: Stage, samples: list[SampleSource], tally: StageTally) -> None:
        """Build the stage's whole-set output when its records changed since the last time."""
        if tally.waiting:
            tally.final = "not ready"
            return
        records = []
        for source in samples:
            verdict = self.planner.verdict(stage.name, source)
            if verdict.state is State.DONE and verdict.record and not verdict.record.halted:
                records.append(verdict.record)
        fingerprint = digest(
            {
                "stage": self.planner.identity(stage.name),
                "records": [[record.sample, record.data_hash] for record in records],
            }
        )
        if self.store.final_fingerprint(stage.name) == fingerprint and not self.options.force:
            tally.final = "current"
            return
        workdir = self.store.new_workdir(stage.name, "final")
        try:
            stage.finalize(records, workdir)
            self.store.commit_final(stage.name, workdir, fingerprint, len(records))
            tally.final = "written"
        except Exception as error:
            log.error(
                "%s: whole-set output failed: %s: %s", stage.name, type(error).__name__, error
            )
            tally.final = "failed"
            tally.failed += 1
            tally.errors[type(error).__name__] += 1
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _failure(stage: str, source: SampleSource, fingerprint: str, error: Exception) -> Record:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    log.error("%s: %s failed: %s: %s", source.relpath, stage, type(error).__name__, message)
    return Record(
        stage=stage,
        sample=source.id,
        status="failed",
        fingerprint=fingerprint,
        error=ErrorInfo(
            type=type(error).__name__, message=message, traceback=traceback.format_exc()
        ),
    )
