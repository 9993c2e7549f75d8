"""Computing one (stage, sample): the unit of work every executor runs, wherever it runs.

Everything it needs travels in a ``ComputeTask`` (picklable), so the same function serves the
main process, a process-pool worker or a Ray actor; it writes the sample's files and record
to the store itself and returns the record.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field

from .discovery import SampleSource
from .labels import LabelRow
from .records import ErrorInfo, Record
from .stages.base import SampleContext, Stage
from .store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComputeTask:
    """One (stage, sample) to compute, with the inputs the planner found current."""

    stage: str
    source: SampleSource
    label: LabelRow | None
    fingerprint: str
    upstream: Mapping[str, Record]


@dataclass
class ComputeResult:
    record: Record
    metrics: dict[str, float] = field(default_factory=dict)


def compute(stage: Stage, task: ComputeTask, store: Store) -> ComputeResult:
    """Run ``stage.process`` for one sample and store its record: a result or a failure.

    The old record goes first and the new one is written last, after the sample's files are
    in place, so a crash at any point leaves no record that describes missing work.
    """
    source = task.source
    store.forget(stage.name, source.id)
    workdir = store.new_workdir(stage.name, source.id)
    context = SampleContext(
        source=source, label=task.label, upstream=task.upstream, workdir=workdir, store=store
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
            fingerprint=task.fingerprint,
            data=result.data_dict(),
            halt=result.halt,
            artifacts=store.commit_artifacts(stage.name, source.id, workdir),
        )
    except Exception as error:  # one bad sample must not stop the others
        record = _failure(stage.name, source, task.fingerprint, error)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    record.seconds = round(time.perf_counter() - start, 4)
    store.save(record.seal())
    return ComputeResult(record=record, metrics=metrics)


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
