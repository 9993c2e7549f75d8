"""Computing one (stage, sample): the unit of work every executor runs, wherever it runs.

Everything it needs travels in a ``ComputeTask`` (picklable), so the same function serves the
main process, a process-pool worker or a Ray actor; it writes the sample's files and record
to the store itself and returns the record.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from merr_factory.faults import FaultKind, OutputError, fault_kind, first_line, output_error
from merr_factory.inputs.discovery import SampleSource
from merr_factory.inputs.labels import LabelRow
from merr_factory.run.folders import Signature
from merr_factory.run.records import ErrorInfo, Record
from merr_factory.run.store import Store
from merr_factory.stages.base import (
    RunFacts,
    SampleContext,
    Stage,
    StageResult,
    StageSettings,
    spent_by,
)

log = logging.getLogger(__name__)

# A set-up (model load, first-use compilation) longer than this gets a one-line note, so a
# first run on a fresh machine never looks frozen behind a progress bar that does not move.
SLOW_SETUP_NOTE_S = 3.0


@dataclass(frozen=True)
class ComputeTask:
    """One (stage, sample) to compute, with the inputs the planner found current."""

    stage: str
    source: SampleSource
    label: LabelRow | None
    fingerprint: str
    upstream: Mapping[str, str]  # upstream stage -> the data hash the fingerprint was made from
    replaces: bool = True  # a record of (stage, sample) existed when planned: remove it first
    whole_set: Mapping[str, Any] = field(default_factory=dict)  # the sample's step entries


@dataclass
class ComputeResult:
    record: Record
    metrics: dict[str, float] = field(default_factory=dict)
    stored_as: Signature | None = None  # the stored record file's (size, version)


@dataclass(frozen=True)
class StageSpec:
    """How to build a stage in another process: its class (importable), settings and facts.

    Workers rebuild stages from specs rather than receive the main process's objects, which
    may hold locks, clients or models that cannot (and should not) travel.
    """

    stage_class: type[Stage]
    settings: StageSettings
    facts: RunFacts

    @classmethod
    def of(cls, stage: Stage) -> StageSpec:
        return cls(type(stage), stage.settings, stage.facts)

    def build(self) -> Stage:
        return self.stage_class(self.settings, self.facts)


class StageHost:
    """A stage in one worker: set up once on first use; a failed set-up fails every sample.

    A stage whose models cannot load (no weights, no network) thus reports one clear reason
    per sample and logs it once, instead of crashing the run or retrying the load per sample.

    Several threads of the worker may compute at once (``executor.clips_per_worker``): the
    first sets the stage up while the others wait, and a stage that is not ``thread_safe``
    has its ``process`` run by one thread at a time (reading inputs and storing records
    still overlap).
    """

    def __init__(self, stage: Stage, slow_note_s: float = SLOW_SETUP_NOTE_S) -> None:
        self.stage = stage
        self.slow_note_s = slow_note_s
        self._lock = threading.Lock()
        self._process_lock = threading.Lock()
        self._ready = False
        self._setup_error: Exception | None = None

    def compute(self, task: ComputeTask, store: Store) -> ComputeResult:
        first_use = self._set_up()
        if self._setup_error is not None:
            return compute(self.stage, task, store, setup_error=self._setup_error)
        one_at_a_time = None if self.stage.thread_safe() else self._process_lock
        return compute(self.stage, task, store, one_at_a_time=one_at_a_time, first_use=first_use)

    def _set_up(self) -> bool:
        """Set the stage up unless done; True for the one call that did it."""
        with self._lock:
            if self._ready:
                return False
            self._ready = True
            with _SlowNote(self.stage.name, self.slow_note_s):
                try:
                    self.stage.setup()
                except Exception as error:
                    self._setup_error = error
                    log.error(
                        "%s: set-up failed: %s: %s", self.stage.name, type(error).__name__, error
                    )
            return True


class _SlowNote:
    """Logs "<stage>: loading its models..." once a set-up has taken ``after_s``, and how long
    it took in the end; a quick set-up logs nothing."""

    def __init__(self, stage: str, after_s: float) -> None:
        self.stage = stage
        self._timer = threading.Timer(after_s, self._note)
        self._timer.daemon = True
        self._noted = threading.Event()
        self._started = 0.0

    def _note(self) -> None:
        self._noted.set()
        log.info("%s: loading its models in this worker (first use)...", self.stage)

    def __enter__(self) -> _SlowNote:
        self._started = time.perf_counter()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        if self._noted.is_set():
            seconds = time.perf_counter() - self._started
            log.info("%s: ready after %.1f s", self.stage, seconds)


def compute(
    stage: Stage,
    task: ComputeTask,
    store: Store,
    setup_error: Exception | None = None,
    one_at_a_time: threading.Lock | None = None,
    first_use: bool = False,
) -> ComputeResult:
    """Run ``stage.process`` for one sample and store its record: a result or a failure.

    The old record goes first and the new one is written last, after the sample's files are
    in place, so a crash at any point leaves no record that describes missing work. An error
    of the output itself (no space, no permission) is raised as ``OutputError`` and stores
    nothing: the run stops. ``one_at_a_time``: held around ``process`` (a stage whose models
    may not be used by two threads at once). ``first_use``: the worker's first sample of the
    stage, marked in the record (its seconds include first-use costs).
    """
    source = task.source
    if task.replaces:  # else skip a request per sample on object stores
        store.forget(stage.name, source.id)
    workdir = store.workdir_path(stage.name, source.id)  # made if the stage writes files
    start, cpu_start = time.perf_counter(), time.process_time()
    metrics: dict[str, float] = {}
    try:
        if setup_error is not None:
            raise StageSetupError(f"{stage.name} could not be set up: {setup_error}")
        upstream = _load_upstream(task, store)
        context = SampleContext(
            source=source,
            label=task.label,
            upstream=upstream,
            workdir_path=workdir,
            store=store,
            whole_set=task.whole_set,
        )
        with one_at_a_time or contextlib.nullcontext():
            result = stage.process(context)
        _check_output(stage, result)
        metrics = result.metrics
        record = Record(
            stage=stage.name,
            sample=source.id,
            status="done",
            fingerprint=task.fingerprint,
            data=result.data_dict(),
            provenance=result.provenance_dict(),
            halt=result.halt,
            artifacts=store.commit_artifacts(stage.name, source.id, workdir),
        )
    except OutputError:
        raise
    except Exception as error:  # one bad sample must not stop the others
        stopping = output_error(error, store.root, workdir)
        if stopping is not None:
            raise stopping from error
        record = failure_record(
            stage.name, source, task.fingerprint, error, quiet=setup_error is not None
        )
        spent = spent_by(error)
        metrics = spent.metrics if spent is not None else {}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    record.seconds = round(time.perf_counter() - start, 4)
    record.cpu_seconds = round(time.process_time() - cpu_start, 4)
    record.first_use = first_use
    stored_as = store.save(record.seal())
    return ComputeResult(record=record, metrics=metrics, stored_as=stored_as)


def lost(task: ComputeTask, error: Exception, store: Store) -> ComputeResult:
    """The failure record of a sample whose computation ended without a result (its worker
    died, its executor failed): stored here, by the runner, since no one else will."""
    record = failure_record(task.stage, task.source, task.fingerprint, error, with_trace=False)
    stored_as = store.save(record.seal())
    return ComputeResult(record=record, stored_as=stored_as)


def _check_output(stage: Stage, result: StageResult) -> None:
    """A stage stores its declared output model, nothing else (consumers rely on it)."""
    model = stage.output_model
    if model is not None and not isinstance(result.data, model):
        raise TypeError(
            f"{stage.name} returned {type(result.data).__name__}, not its output model "
            f"{model.__name__}"
        )


class StageSetupError(RuntimeError):
    """The stage's models or resources could not be loaded in this worker."""

    fault_kind: FaultKind = "environment"  # weights or a server missing here, not the sample


class UpstreamChangedError(RuntimeError):
    """An upstream record changed or vanished between planning and computing."""


def _load_upstream(task: ComputeTask, store: Store) -> dict[str, Record]:
    """The full upstream records, checked to be the ones the fingerprint was made from."""
    records = store.read_records(task.source.id, list(task.upstream))
    for name, data_hash in task.upstream.items():
        record = records.get(name)
        if record is None or record.data_hash != data_hash:
            raise UpstreamChangedError(
                f"the {name} record changed or was damaged since planning; run again"
            )
        records[name] = record
    return records


def failure_record(
    stage: str,
    source: SampleSource,
    fingerprint: str,
    error: Exception,
    quiet: bool = False,
    with_trace: bool = True,
) -> Record:
    """The record of a failed (stage, sample), logged in one line (unless ``quiet``)."""
    message = first_line(error)
    kind = fault_kind(error)
    if not quiet:  # a set-up failure was logged once already
        log.error(
            "%s: %s failed: %s: %s%s",
            source.relpath,
            stage,
            type(error).__name__,
            message,
            "" if kind == "data" else f" ({kind}; retried next run)",
        )
    spent = spent_by(error)
    provenance = spent.provenance if spent is not None else None
    return Record(
        stage=stage,
        sample=source.id,
        status="failed",
        fingerprint=fingerprint,
        provenance=provenance.model_dump(mode="json") if provenance is not None else {},
        error=ErrorInfo(
            type=type(error).__name__,
            message=message,
            kind=kind,
            traceback=traceback.format_exc() if with_trace else None,
        ),
    )
