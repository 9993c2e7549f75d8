"""``merr-build status``: per stage, how many samples are done, failed, stale or pending."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from merr_factory.run.pipeline import gc_skips_existing_objects
from merr_factory.run.plan_memo import EXCLUDED, HALTED
from merr_factory.run.planning import Planner, State
from merr_factory.run.workspace import Workspace
from merr_factory.tables import render_table

log = logging.getLogger(__name__)

COLUMNS = (State.DONE, State.FAILED, State.STALE, State.PENDING, State.BLOCKED, State.EXCLUDED)


@dataclass
class StageStatus:
    stage: str
    counts: Counter[State] = field(default_factory=Counter)
    drop_reasons: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    verified: dict[str, Any] | None = None  # when ``merr-build verify`` last checked it


def collect_status(workspace: Workspace) -> list[StageStatus]:
    """The state of every (stage, sample) of the workspace, counted per stage."""
    statuses = _collect(workspace)
    verified = workspace.store.verified()
    for status in statuses:
        status.verified = verified.get(status.stage)
    return statuses


def _collect(workspace: Workspace) -> list[StageStatus]:
    planner = Planner(workspace.stages, workspace.store, workspace.labels, workspace.samples)
    with gc_skips_existing_objects():
        if planner.use_memo() and planner.memo_covers(workspace.stages):
            return _count_settled(workspace, planner)
        statuses = _count(workspace, planner)
    try:  # what this pass verified: the next one is quicker (the index is only a cache)
        workspace.store.index.flush()
        planner.save_memo()
    except OSError as error:  # a read-only output folder
        log.debug("status: resume index not written: %s", error)
    return statuses


def _count_settled(workspace: Workspace, planner: Planner) -> list[StageStatus]:
    """The counts from the plan memo: every verdict is current or excluded."""
    result = [StageStatus(stage=name) for name in workspace.stages]
    places = [planner.memo_position(name) for name in workspace.stages]
    for source in workspace.samples:
        outcomes = planner.settled(source.id) or b""
        for status, place in zip(result, places, strict=True):
            outcome = outcomes[place]
            if outcome == EXCLUDED:
                status.counts[State.EXCLUDED] += 1
                continue
            status.counts[State.DONE] += 1
            record = planner.verdict(status.stage, source).record if outcome == HALTED else None
            if record is not None:
                status.drop_reasons.update(reason.code for reason in record.halt)
    return result


def _count(workspace: Workspace, planner: Planner) -> list[StageStatus]:
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
                error = record.error
                kind = "" if error.kind == "data" else f"[{error.kind}] "
                status.errors[f"{kind}{error.type}: {error.message}"] += 1
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
    lines.append(_verified_line(statuses))
    return "\n".join(lines)


def _verified_line(statuses: list[StageStatus]) -> str:
    """When each stage was last verified (``merr-build verify``), and what that found; of
    the stages never verified, those with done records."""
    seen = []
    for status in statuses:
        found = status.verified
        if not found:
            continue
        damaged = found.get("damaged", 0)
        outcome = "clean" if not damaged else f"{damaged} damaged"
        if damaged and found.get("repaired"):
            outcome += ", repaired"
        seen.append(f"{status.stage} {found.get('at', '?')} ({outcome})")
    if not seen:
        return "last verified: never (merr-build verify reads every record and file again)"
    never = [s.stage for s in statuses if not s.verified and s.counts[State.DONE]]
    tail = f"; never: {', '.join(never)}" if never else ""
    return f"last verified: {', '.join(seen)}{tail}"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {count}" for key, count in counter.most_common())
