"""The goals of ``python -m benchmarks`` in one table: each figure, its goal, and whether it holds.

Every part of the benchmark (the LLM calls, the faces stage's decoding, the bookkeeping at
100k samples, the schedule side-by-side) puts its figures in the results; this module only
reads them, so the table shows exactly what was measured in this run. A part that was not
run (its sample count set to 0) has no rows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.scale import GOALS as SCALE_GOALS

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">=": operator.ge,
}
SCALE_FIGURES = {
    "noop_rerun_s": "no-op re-run, {samples} done samples x {stages} stages",
    "status_s": "`status`, {samples} samples",
    "verify_s": "`verify`: every record and file of {samples} samples read again",
    "main_peak_mb": "main process peak memory, bookkeeping at {samples}",
    "export_s": "export of {samples} entries (every format)",
    "report_open_s": "report.html in headless Chromium, first rows shown",
    "review_open_s": "`review` over {samples} samples: command started to first sample shown",
    "review_next_ms": "`review` in headless Chromium: key to next sample shown (slowest of 5)",
}


@dataclass(frozen=True)
class Goal:
    figure: str
    value: float | None  # None: could not be measured here
    compare: str  # a key of COMPARE: how ``value`` must stand to ``limit``
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.value is None else COMPARE[self.compare](self.value, self.limit)


def collect_goals(results: dict[str, Any]) -> list[Goal]:
    """Every goal whose part ran, in the order of the issue's list."""
    return [
        *_llm_goals(results.get("llm", {})),
        *_faces_goals(results.get("faces")),
        *_segments_goals(results.get("segments")),
        *_scale_goals(results.get("scale")),
        *_schedule_goals(results.get("schedule")),
        *_served_schedule_goals(results.get("schedule_served")),
        *_served_schedule_goals(results.get("schedule_served_few")),
    ]


def _llm_goals(llm: dict[str, Any]) -> list[Goal]:
    goals = [
        Goal(f"synthesize / bare library, s per call: {r['backend']}", r["ratio"], "<=", 1.25)
        for r in llm.get("raw", [])
    ]
    goals += [
        Goal(
            f"stub server ({r['requests']} requests), {r['concurrency']} in flight: share of "
            "the ideal throughput",
            r["of_ideal"],
            ">=",
            0.9,
        )
        for r in llm.get("in_flight", [])
        if r["concurrency"] == 32
    ]
    goals += [
        Goal(
            "llama_cpp.server prompt evaluation, shipped layout / question first",
            r["shipped_over_question_first"],
            "<=",
            1.0,
        )
        for r in llm.get("layout", [])
    ]
    return goals


def _faces_goals(faces: dict[str, Any] | None) -> list[Goal]:
    if not faces:
        return []
    share = faces.get("decode_share_percent")
    figure = f"faces stage ({faces['backend']}, {faces['frame_size']}): decoding's share"
    return [Goal(figure, share, "<=", 10.0, "%")]


def _segments_goals(segments: dict[str, Any] | None) -> list[Goal]:
    if not segments:
        return []
    figure = (
        f"faces + audio on a {segments['segment_seconds']:g} s segment of a "
        f"{segments['long_seconds'] / 60:g}-minute file / on the same as a file of its own"
    )
    return [Goal(figure, segments["segment_over_file"], "<=", 1.5)]


def _scale_goals(scale: dict[str, Any] | None) -> list[Goal]:
    if not scale:
        return []
    names = {"samples": f"{scale['samples']:,}", "stages": scale["noop_stages"]}
    return [
        Goal(label.format(**names), scale.get(figure), "<", *SCALE_GOALS[figure])
        for figure, label in SCALE_FIGURES.items()
    ]


def _schedule_goals(schedule: dict[str, Any] | None) -> list[Goal]:
    if not schedule:
        return []
    figure = (
        f"barrier schedule / streaming, wall time ({schedule['samples']} samples, "
        f"{schedule['workers']} workers)"
    )
    return [Goal(figure, schedule["barrier_over_streaming"], ">=", 1.0)]


def _served_schedule_goals(schedule: dict[str, Any] | None) -> list[Goal]:
    if not schedule:
        return []
    low, high = schedule["latency_s"]
    figure = (
        f"barrier schedule / streaming, LLM on a server ({low:g}-{high:g} s a call, "
        f"{schedule['in_flight']} in flight; {schedule['samples']} samples, "
        f"{schedule['workers']} workers)"
    )
    return [Goal(figure, schedule["barrier_over_streaming"], ">=", 1.3)]


def render_goals(results: dict[str, Any]) -> str:
    """The goals as one markdown table."""
    lines = ["| figure | measured | goal | met |", "|---|---:|---:|:---:|"]
    for goal in collect_goals(results):
        unit = f" {goal.unit}" if goal.unit else ""
        shown = "-" if goal.value is None else f"{goal.value:g}{unit}"
        met = {True: "yes", False: "**no**", None: "-"}[goal.met]
        lines.append(f"| {goal.figure} | {shown} | {goal.compare} {goal.limit:g}{unit} | {met} |")
    return "\n".join(lines)
