"""The benchmark of the bookkeeping at scale (``python -m benchmarks --scale-samples N``), run
small: the synthetic done samples are what the real planner accepts as current, and every
figure of the table is measured."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.goals import collect_goals, render_goals
from benchmarks.scale import GOALS, build_done_set, measure_review, measure_scale, render_scale
from merr_factory.config import load_config
from merr_factory.reports.status import collect_status
from merr_factory.run.workspace import open_workspace


def test_the_synthetic_samples_are_current_for_the_real_planner(tmp_path: Path) -> None:
    config = build_done_set(tmp_path, 40, processes=2)
    statuses = {
        status.stage: status for status in collect_status(open_workspace(load_config(config)))
    }
    for stage in ("ingest", "filter", "faces", "peak", "audio", "asr", "visual", "label"):
        assert statuses[stage].counts["done"] == 40, stage
    assert statuses["export"].counts["pending"] == 40  # the benchmark times it


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="Debian package 'chromium' is not installed (make setup adds it)",
)
def test_every_figure_is_measured(tmp_path: Path) -> None:
    results = measure_scale(tmp_path, 120)
    assert results["noop_all_skipped"] and results["noop_stages"] == 11
    assert set(results["status_done"].values()) == {120}
    for figure in GOALS:
        assert results[figure] is not None and results[figure] > 0, figure
    assert results["report_cards_shown"] == 120
    assert results["report_first_rows_ms"] is not None
    details = render_scale(results)
    assert "bookkeeping at 120 samples" in details and "report_first_rows_ms" not in details
    assert all(goal.met is not None for goal in collect_goals({"scale": results}))
    table = render_goals({"scale": results})
    assert "| no-op re-run, 120 done samples x 11 stages |" in table
    assert table.count("| < ") == len(GOALS)


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="Debian package 'chromium' is not installed (make setup adds it)",
)
def test_the_review_alone_is_measured_over_a_set_up_kept_for_the_next_time(
    tmp_path: Path,
) -> None:
    results = measure_review(tmp_path, 30, runs=2)
    runs = results["review_runs"]
    assert [len(figures) for figures in runs.values()] == [2, 2, 2, 2]
    assert results["review_open_s"] == max(runs["open_s"]) > 0
    assert results["review_next_ms"] == max(runs["next_ms"]) > 0
    records = tmp_path / "out" / "stages" / "export"
    built = records.stat().st_ctime_ns
    again = measure_review(tmp_path, 30, runs=1)  # the same set-up, not built again
    assert again["review_open_s"] > 0 and records.stat().st_ctime_ns == built
    with pytest.raises(RuntimeError, match="holds 30 samples, not 40"):
        measure_review(tmp_path, 40)


def test_a_run_after_the_export_plans_only_the_export_and_resumes_every_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every stage, the label stage (which waits for all samples) and its whole-set step
    included, from a plan memo that covers all but the export the run before wrote."""
    import yaml

    import merr_factory.run.resume_index as resume_index
    from merr_factory.registry import STAGE_NAMES
    from merr_factory.run.pipeline import Runner, RunOptions

    monkeypatch.setattr(resume_index, "SEAL_AFTER_NS", 0)  # seal however recent the writes
    config = build_done_set(tmp_path, 30)
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "executor": {"workers": 1}}))

    def run(stages: list[str]) -> dict[str, tuple[int, int]]:
        workspace = open_workspace(load_config(config))
        summary = Runner(workspace, RunOptions(stages=stages, progress=False)).run()
        return {tally.stage: (tally.computed, tally.skipped) for tally in summary.tallies}

    assert run(["export"]) == {"export": (30, 0)}
    memo = open_workspace(load_config(config)).store.plan_memo()
    assert memo is not None and "label" in memo.stages and "export" not in memo.stages
    assert run(list(STAGE_NAMES)) == dict.fromkeys(STAGE_NAMES, (0, 30))
    memo = open_workspace(load_config(config)).store.plan_memo()
    assert memo is not None and memo.stages == list(STAGE_NAMES)
    assert run(list(STAGE_NAMES)) == dict.fromkeys(STAGE_NAMES, (0, 30))
