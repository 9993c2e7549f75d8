"""``merr-build status``: per stage, how many samples are done, failed, stale or pending."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from .pipeline import gc_skips_existing_objects
from .planning import Planner, State
from .tables import render_table
from .workspace import Workspace

log = logging.getLogger(__name__)

COLUMNS = (State.DONE, State.FAILED, State.STALE, State.PENDING, State.BLOCKED, State.EXCLUDED)


@dataclass
class StageStatus:
    stage: str
    counts: Counter[State] = field(default_factory=Counter)
    drop_reasons: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def collect_status(workspace: Workspace) -> list[StageStatus]:
    """The state of every (stage, sample) of the workspace, counted per stage."""
    with gc_skips_existing_objects():
        statuses = _count(workspace)
    try:
        workspace.store.flush_indexes()  # what this pass verified: the next one is quicker
    except OSError as error:  # a read-only output folder: the index is only a cache
        log.debug("status: resume index not written: %s", error)
    return statuses


def _count(workspace: Workspace) -> list[StageStatus]:
    planner = Planner(workspace.stages, workspace.store, workspace.labels, workspace.samples)
    planner.plan(list(workspace.stages), workspace.samples)
    result = []
    for name in workspace.stages:
        status = StageStatus(stage=name)
        for source in workspace.samples:
            verdict = planner.verdict(name, source)
            status.counts[verdict.state] += 1
            record = verdict.record
            if verdict.state is State.DONE and record is not None:
                status.drop_reasons.update(reason.code for reason in record.halt)
            if verdict.state is State.FAILED and record is not None and record.error:
                status.errors[f"{record.error.type}: {record.error.message}"] += 1
        result.append(status)
    return result


def render_status(statuses: list[StageStatus], samples: int) -> str:
    header = ["stage", *(state.value for state in COLUMNS)]
    rows = [[status.stage, *(status.counts[state] for state in COLUMNS)] for status in statuses]
    lines = [f"{samples} samples", render_table(header, rows)]
    for status in statuses:
        if status.drop_reasons:
            lines.append(f"{status.stage} dropped: {_counts(status.drop_reasons)}")
        for error, count in status.errors.most_common(5):
            lines.append(f"{status.stage} failed ({count}): {error}")
    return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {count}" for key, count in counter.most_common())
