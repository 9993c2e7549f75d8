"""The end-of-run summary: printed as a table and kept as JSON under ``<output>/runs/``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from merr_factory.run.atomic import write_json_atomic
from merr_factory.run.pipeline import RunSummary
from merr_factory.tables import render_table

HEADER = ("stage", "computed", "skipped", "failed", "excluded", "blocked", "waiting", "seconds")


def render_summary(summary: RunSummary) -> str:
    rows = [
        [
            tally.stage,
            tally.computed,
            tally.skipped,
            tally.failed,
            tally.excluded,
            tally.blocked,
            tally.waiting,
            f"{tally.seconds:.2f}",
        ]
        for tally in summary.tallies
    ]
    lines = [render_table(HEADER, rows)]
    for tally in summary.tallies:
        if tally.final:
            lines.append(f"{tally.stage} whole-set output: {tally.final}")
        if tally.metrics:
            totals = ", ".join(
                f"{key} {_number(value)}" for key, value in sorted(tally.metrics.items())
            )
            lines.append(f"{tally.stage} totals: {totals}")
    verdict = "with failures" if summary.failed else "ok"
    if summary.signal:
        verdict = f"stopped by {summary.signal}"
    elif summary.stopped:
        verdict = "stopped: the output could not be written"
    lines.append(f"{summary.samples} samples, {summary.seconds:.2f} s, {verdict}")
    return "\n".join(lines)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def save_summary(summary: RunSummary, path: Path, started: datetime) -> Path:
    """Write the summary as JSON to ``path``; returns it."""
    write_json_atomic(
        path,
        {
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "samples": summary.samples,
            "seconds": round(summary.seconds, 3),
            "failed": summary.failed,
            "stopped": summary.stopped,
            "stages": [tally.as_dict() for tally in summary.tallies],
        },
    )
    return path
