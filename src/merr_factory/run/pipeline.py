"""The runner: computes every (stage, sample) whose stored output is not current.

Samples flow: as soon as a sample's record of one stage is stored, its next stage can start,
so no stage waits for all clips to finish the one before (only a stage's whole-set
``finalize``, the export, waits for every sample). Where the work runs is the executor's
business (threads, worker processes or Ray actors). One failing sample becomes a failure
record and the others go on; every outcome is counted. An error of the output itself
(``OutputError``: no space, no permission) stops the run: the summary says so. So does a
``StopRequest`` (a signal): no new work starts, the work in flight is dropped (redone next
run), and the summary holds the counts so far.
"""

from __future__ import annotations

import gc
import heapq
import logging
import queue
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from tqdm import tqdm

from merr_factory.executors import make_executor
from merr_factory.executors.base import Executor
from merr_factory.faults import OutputError, output_error
from merr_factory.inputs.discovery import SampleSource
from merr_factory.run.compute import ComputeResult, ComputeTask, lost
from merr_factory.run.plan_memo import EXCLUDED
from merr_factory.run.planning import Planner, State, Verdict
from merr_factory.run.records import Head, Record, digest
from merr_factory.run.workspace import Shard, Workspace
from merr_factory.stages.base import Stage

log = logging.getLogger(__name__)

INDEX_FLUSH_EVERY = 500  # completed samples between index writes (the index is only a cache)
# How often a run waiting for results looks for a stop request (a signal may interrupt
# another thread than the one waiting).
STOP_POLL_S = 0.2


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
    seconds: float = 0.0  # time spent computing this stage's samples (summed over workers)
    cpu_seconds: float = 0.0
    final: str = ""  # whole-set output: "written", "current", "failed", "not ready" or ""
    errors: Counter[str] = field(default_factory=Counter)
    metrics: Counter[str] = field(default_factory=Counter)

    def count(self, result: ComputeResult) -> None:
        """Count one computed sample; its metrics (LLM calls and retries...) count whether
        it succeeded or not: a failed sample's attempts cost as much."""
        record = result.record
        self.seconds += record.seconds
        self.cpu_seconds += record.cpu_seconds
        self.metrics.update(result.metrics)
        if record.status == "failed":
            self.failed += 1
            self.errors[record.error.type if record.error else "Error"] += 1
        else:
            self.computed += 1

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "errors": dict(self.errors), "metrics": dict(self.metrics)}


@dataclass
class RunOptions:
    stages: Sequence[str]
    sample_ids: Sequence[str] = ()
    limit: int | None = None
    shard: Shard | None = None
    force: bool = False
    progress: bool = True


@dataclass
class StopRequest:
    """Set ``reason`` (a signal's name) to stop a run: the runner starts no more work, ends
    the work in flight and returns the counts so far. Setting it is all a signal handler
    does; the runner looks between its steps."""

    reason: str | None = None


@dataclass
class RunSummary:
    tallies: list[StageTally]
    samples: int
    seconds: float
    stopped: str | None = None  # what stopped the run (an output error, a signal), if anything
    signal: str | None = None  # the signal that stopped it ("SIGTERM"), if one did

    @property
    def failed(self) -> int:
        return sum(tally.failed for tally in self.tallies)


@dataclass(order=True)
class _Ready:
    """A (stage, sample) whose inputs are current; later stages and earlier samples first."""

    priority: tuple[int, int]
    stage: str = field(compare=False)
    source: SampleSource = field(compare=False)
    verdict: Verdict = field(compare=False)


class Runner:
    """Runs the selected stages over the selected samples of one workspace."""

    def __init__(
        self, workspace: Workspace, options: RunOptions, stop: StopRequest | None = None
    ) -> None:
        self.workspace = workspace
        self.options = options
        self.stop = stop or StopRequest()
        self._stop_noted = False
        self.store = workspace.store
        self.planner = Planner(
            workspace.stages, workspace.store, workspace.labels, workspace.samples
        )
        self.stage_names = list(options.stages)
        self._waits_for_all = [workspace.stages[name].waits_for_all() for name in self.stage_names]
        self._position_of = {name: index for index, name in enumerate(self.stage_names)}
        self._memo = False  # the plan memo gives every verdict of the run
        self._memo_used = False  # it gives some (``Planner.in_memo``)
        self._samples: list[SampleSource] = []
        self.tallies = {name: StageTally(stage=name) for name in self.stage_names}
        self._position: dict[str, int] = {}  # sample id -> index of its next stage to look at
        self._at: Counter[int] = Counter()  # stage index -> samples whose position it is
        self._parked: dict[int, list[SampleSource]] = {}  # stage index -> samples waiting
        self._released: set[int] = set()  # indexes of waiting-for-all stages now open
        self._order: dict[str, int] = {}
        self._ready: dict[str, list[_Ready]] = {}  # lane -> heap
        self._in_flight: dict[Future[ComputeResult], ComputeTask] = {}
        # Futures put themselves here when done: taking the next one costs the same with 2
        # or 64 in flight (``wait`` on all of them registers with each, every time).
        self._finished: queue.SimpleQueue[Future[ComputeResult]] = queue.SimpleQueue()
        self._lane_load: Counter[str] = Counter()
        self._bars: dict[str, tqdm] = {}
        self._completed = 0

    def run(self) -> RunSummary:
        with gc_skips_existing_objects():
            return self._run()

    def _run(self) -> RunSummary:
        start = time.perf_counter()
        shard = self.options.shard
        self.store.index.write_as(f"shard-{shard.index}-of-{shard.count}" if shard else None)
        samples = self.workspace.select(
            self.options.sample_ids, self.options.limit, self.options.shard
        )
        stopped = signal = None
        try:
            self.store.sweep_temp()
            self._compute(samples)
            if not self._stopping():
                self.planner.save_memo()
                self._finalize_all(samples)
        except OutputError as error:
            stopped = str(error)
        if stopped is None and self._stopping():
            stopped = signal = self.stop.reason
        else:
            self._warn_waiting()
        tallies = [self.tallies[name] for name in self.stage_names]
        return RunSummary(
            tallies=tallies,
            samples=len(samples),
            seconds=time.perf_counter() - start,
            stopped=stopped,
            signal=signal,
        )

    def _stopping(self) -> bool:
        """True once a stop is requested (said once, when the runner first sees it)."""
        if self.stop.reason is None:
            return False
        if not self._stop_noted:
            self._stop_noted = True
            log.debug("%s: stopping: no new work starts", self.stop.reason)
        return True

    def _compute(self, samples: list[SampleSource]) -> None:
        """Every (stage, sample) that is not current, on the configured executor."""
        if self._stopping():  # before the run began: no workers to start
            return
        self._order = {source.id: index for index, source in enumerate(samples)}
        self._open_bars(len(samples))
        stages = {name: self.workspace.stages[name] for name in self.stage_names}
        executor = make_executor(self.workspace.config.executor, stages, self.store)
        self._samples = samples
        if not self.options.force:
            self._recheck()
        self._memo_used = not self.options.force and self.planner.use_memo()
        self._memo = self._memo_used and self.planner.memo_covers(
            self.planner.with_ancestors(self.stage_names)
        )
        try:
            self._at[0] = len(samples)
            self._plan_ahead()
            for source in samples:
                if self._stopping():
                    break
                self._position[source.id] = 0
                self._advance(source, executor)
            self._drain(executor)
        except BaseException:  # stopping: work in flight is redone next run, not awaited
            executor.shutdown(abort=True)
            with suppress(OutputError):
                self.store.index.flush()  # only a cache: it may fail on a full disk
            raise
        else:
            executor.shutdown(abort=self._stopping())
            self.store.index.flush()
        finally:
            for bar in self._bars.values():
                bar.close()

    def _recheck(self) -> None:
        """Read again a random share of each sealed stage's records (``ResumeIndex.recheck``):
        damage under a seal is found now and then without ``merr-build verify``."""
        for name in self.planner.with_ancestors(self.stage_names):
            checked, damaged = self.store.index.recheck(name)
            if damaged:
                log.warning(
                    "%s: %d of %d sealed records read again at random were damaged; they are "
                    "recomputed (merr-build verify checks every record)",
                    name,
                    damaged,
                    checked,
                )

    def _plan_ahead(self) -> None:
        """Work out the verdicts the run will ask for, one stage at a time over all samples
        (far quicker than sample by sample), up to a stage that waits for all samples and
        is not open yet (its whole-set step needs the records made before it)."""
        if self._memo:
            return  # every verdict is in the memo
        ahead = []
        for name in self.planner.with_ancestors(self.stage_names):
            position = self._position_of.get(name)
            waits = position is not None and self._waits_for_all[position]
            if waits and position not in self._released and not self.planner.in_memo(name):
                break  # (a stage the memo gives as current parks no sample)
            ahead.append(name)
        self.planner.plan(ahead, self._samples)

    def _open_bars(self, total: int) -> None:
        for position, name in enumerate(self.stage_names):
            self._bars[name] = tqdm(
                total=total,
                desc=f"{name:<10}",
                unit="sample",
                position=position,
                disable=not self.options.progress,
            )

    def _advance(self, source: SampleSource, executor: Executor) -> None:
        """Look at the sample's stages from where it stands; queue the first one to compute."""
        index = self._position[source.id]
        outcomes = self.planner.settled(source.id) if self._memo_used else None
        if outcomes is not None and self._memo:
            self._count_settled(source, index, outcomes)
            return
        while index < len(self.stage_names):
            name = self.stage_names[index]
            if outcomes is not None and self.planner.in_memo(name):  # current or excluded:
                self._count_outcome(name, outcomes)  # no verdict to work out, no need to wait
                index += 1
                continue
            if self._waits_for_all[index] and index not in self._released:
                self._move(source.id, index)  # planned once every sample is past the stages
                self._parked.setdefault(index, []).append(source)  # before (whole-set steps)
                return
            verdict = self.planner.verdict(name, source)
            if self._needs_compute(verdict):
                self._move(source.id, index)
                entry = _Ready((-index, self._order[source.id]), name, source, verdict)
                heapq.heappush(self._ready.setdefault(executor.lane(name), []), entry)
                return
            self._count_without_compute(name, verdict)
            index += 1
        self._move(source.id, index)

    def _count_settled(self, source: SampleSource, index: int, outcomes: bytes) -> None:
        """Count a sample whose every stage the plan memo gives as current (or excluded)."""
        for name in self.stage_names[index:]:
            self._count_outcome(name, outcomes)
        self._move(source.id, len(self.stage_names))

    def _count_outcome(self, name: str, outcomes: bytes) -> None:
        tally = self.tallies[name]
        if outcomes[self.planner.memo_position(name)] == EXCLUDED:
            tally.excluded += 1
        else:
            tally.skipped += 1
        if self.options.progress:
            self._bars[name].update()

    def _move(self, sample_id: str, index: int) -> None:
        self._at[self._position[sample_id]] -= 1
        self._at[index] += 1
        self._position[sample_id] = index

    def _release_parked(self, executor: Executor) -> None:
        """Plan a waiting-for-all stage once no sample is still before it: its whole-set
        step (if any) is computed now, from the records the run has just made."""
        while self._parked and not self._stopping():
            index = min(self._parked)
            if any(self._at[earlier] for earlier in range(index)):
                return
            self._released.add(index)
            self._compute_whole_set(self.stage_names[index])
            self._plan_ahead()
            for source in self._parked.pop(index):
                self._advance(source, executor)

    def _compute_whole_set(self, stage: str) -> None:
        step = self.workspace.stages[stage].whole_set_step()
        if step is None:
            return
        self.planner.forget_whole_set()
        entries = self.planner.whole_set(step)
        if step.name in self.planner.whole_set_recomputed or not self.store.has_whole_set(
            step.name
        ):
            self.store.save_whole_set(step.name, entries)

    def _needs_compute(self, verdict: Verdict) -> bool:
        if not verdict.ready or verdict.state in (State.EXCLUDED, State.BLOCKED):
            return False
        return verdict.state is not State.DONE or self.options.force

    def _count_without_compute(self, stage: str, verdict: Verdict) -> None:
        tally = self.tallies[stage]
        if verdict.state is State.EXCLUDED:
            tally.excluded += 1
        elif verdict.state is State.BLOCKED:
            tally.blocked += 1
        elif not verdict.ready:
            tally.waiting += 1
        else:
            tally.skipped += 1
        if self.options.progress:
            self._bars[stage].update()

    def _drain(self, executor: Executor) -> None:
        """Keep every lane busy up to its capacity until nothing is left to compute, or a
        stop is requested (what has finished is counted; the rest is left to the executor
        to end)."""
        self._release_parked(executor)
        self._dispatch(executor)
        while self._in_flight and not self._stopping():
            for future in self._next_finished():
                task = self._in_flight.pop(future)
                self._lane_load[executor.lane(task.stage)] -= 1
                self._complete(task.stage, task.source, self._result(future, task), executor)
            self._release_parked(executor)
            self._dispatch(executor)

    def _dispatch(self, executor: Executor) -> None:
        if self._stopping():
            return
        for lane, heap in self._ready.items():
            while heap and self._lane_load[lane] < executor.capacity(lane):
                entry = heapq.heappop(heap)
                task = self._task(entry)
                future = executor.submit(task)
                self._in_flight[future] = task
                future.add_done_callback(self._finished.put)
                self._lane_load[lane] += 1

    def _next_finished(self) -> list[Future[ComputeResult]]:
        """The computations that have finished: waits for one, takes any others as well
        (none after ``STOP_POLL_S``: the caller looks for a stop request)."""
        try:
            done = [self._finished.get(timeout=STOP_POLL_S)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self._finished.get_nowait())
            except queue.Empty:
                return done

    def _result(self, future: Future[ComputeResult], task: ComputeTask) -> ComputeResult:
        """The computed result, or the failure record of a computation that ended without
        one (its worker died); an output error stops the run."""
        try:
            return future.result()
        except OutputError:
            raise
        except Exception as error:
            return lost(task, error, self.store)

    def _task(self, entry: _Ready) -> ComputeTask:
        fingerprint = entry.verdict.expected
        assert fingerprint is not None
        return ComputeTask(
            stage=entry.stage,
            source=entry.source,
            label=self.workspace.labels.get(entry.source.id),
            fingerprint=fingerprint,
            upstream={
                name: head.data_hash
                for name, head in self.planner.upstream(entry.stage, entry.source).items()
            },
            replaces=entry.verdict.record is not None,
            whole_set=entry.verdict.whole_set or {},
        )

    def _complete(
        self, name: str, source: SampleSource, result: ComputeResult, executor: Executor
    ) -> None:
        record = result.record
        self.planner.remember(record, result.stored_as)
        self._completed += 1
        if self._completed % INDEX_FLUSH_EVERY == 0:
            self.store.index.flush()
            self.store.trim_cache()
        self.tallies[name].count(result)
        self._bars[name].update()
        if record.halt:
            reasons = "; ".join(reason.message for reason in record.halt)
            log.debug("%s: dropped by %s: %s", source.relpath, name, reasons)
        self._move(source.id, self._position[source.id] + 1)
        self._advance(source, executor)

    def _warn_waiting(self) -> None:
        for tally in self.tallies.values():
            if tally.waiting:
                log.warning(
                    "%s: %d samples wait for earlier stages that are not current; run those first",
                    tally.stage,
                    tally.waiting,
                )

    def _finalize_all(self, samples: list[SampleSource]) -> None:
        for name in self.stage_names:
            stage = self.workspace.stages[name]
            if not stage.has_finalize():
                continue
            if self.options.shard is not None:
                self.tallies[name].final = "skipped in a shard run"
                continue
            start = time.perf_counter()
            self._finalize(stage, samples, self.tallies[name])
            self.tallies[name].seconds += time.perf_counter() - start

    def _finalize(self, stage: Stage, samples: list[SampleSource], tally: StageTally) -> None:
        """Build the stage's whole-set output when its records changed since the last time."""
        if tally.waiting:
            tally.final = "not ready"
            return
        heads = self._kept_heads(stage.name, samples)
        fingerprint = digest(
            {
                "stage": digest(stage.final_identity()),
                "records": [[head.sample, head.data_hash] for head in heads],
            }
        )
        if self.store.final_fingerprint(stage.name) == fingerprint and not self.options.force:
            tally.final = "current"
            return
        self.planner.release()  # the verdicts are not needed any more: room for the records
        workdir = self.store.new_workdir(stage.name, "final")
        try:
            stage.finalize(self._load_all(heads), workdir, self.store)
            self.store.commit_final(stage.name, workdir, fingerprint, len(heads))
            tally.final = "written"
        except OutputError:
            raise
        except Exception as error:
            stopping = output_error(error, self.store.root, workdir)
            if stopping is not None:
                raise stopping from error
            log.error(
                "%s: whole-set output failed: %s: %s", stage.name, type(error).__name__, error
            )
            tally.final = "failed"
            tally.failed += 1
            tally.errors[type(error).__name__] += 1
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _kept_heads(self, stage: str, samples: list[SampleSource]) -> list[Head]:
        heads = []
        for source in samples:
            verdict = self.planner.verdict(stage, source)
            if verdict.state is State.DONE and verdict.record and not verdict.record.halted:
                heads.append(verdict.record)
        return heads

    def _load_all(self, heads: list[Head]) -> Iterator[Record]:
        """The records, each read when the stage gets to it (100k records never sit in
        memory at once, only what the stage keeps of them)."""
        for head in heads:
            record = self.store.load(head.stage, head.sample)
            if record is None or record.data_hash != head.data_hash:
                raise RuntimeError(f"the {head.stage} record of {head.sample} changed; run again")
            yield record


@contextmanager
def gc_skips_existing_objects() -> Iterator[None]:
    """Exempt the objects alive before the run (models, the workspace) from garbage
    collection passes during it: planning 100k samples allocates enough small objects to
    trigger many full passes, each of which would otherwise walk every model's objects."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
