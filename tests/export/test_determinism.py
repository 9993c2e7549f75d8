"""Re-export is cheap and deterministic: same inputs, byte-identical files."""

from __future__ import annotations

from pathlib import Path

from .conftest import copy_clips, run_export, write_export_config


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_forced_re_export_is_byte_identical(tmp_path: Path) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path))
    first = run_export(config)
    before = snapshot(first.export)
    assert "merr.parquet" in before and "plots/labels.png" in before and "report.html" in before
    again = run_export(config, stages=["export"], force=True)
    assert again.tally().computed == 6 and again.tally().final == "written"
    assert snapshot(again.export) == before


def test_unchanged_re_run_writes_nothing(tmp_path: Path) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path))
    first = run_export(config)
    marker = first.export / "README.md"
    written_at = marker.stat().st_mtime_ns
    again = run_export(config)
    assert again.tally().skipped == 6 and again.tally().final == "current"
    assert marker.stat().st_mtime_ns == written_at


def test_a_setting_change_re_exports_that_change_only(tmp_path: Path) -> None:
    clips = copy_clips(tmp_path)
    first = run_export(write_export_config(tmp_path, clips))
    before = snapshot(first.export)
    renamed = write_export_config(tmp_path, clips, export={"pretty_name": "Test set"})
    again = run_export(renamed)
    assert again.tally("label").skipped == 6  # nothing upstream is recomputed
    assert again.tally().final == "written"
    after = snapshot(again.export)
    changed = sorted(name for name in before if before[name] != after.get(name))
    assert changed == ["README.md", "report.html"]
    assert "# Test set" in after["README.md"].decode()


def test_a_tier_change_reaches_the_merr_files(tmp_path: Path) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path))
    run_export(config)
    tiers = {"sample_00000001": "fine", "sample_00000002": "fine", "sample_00000003": "fine"}
    again = run_export(config, tiers=tiers)
    # Only the samples whose label record changed are gathered again: 0003 (coarse to fine)
    # and 0006 (rejected by default before, coarse when not named).
    assert again.tally().computed == 2 and again.tally().skipped == 4
    fine = (again.export / "MERR_fine_grained.txt").read_text().split()
    assert fine[::4] == ["sample_00000001", "sample_00000002", "sample_00000003"]
