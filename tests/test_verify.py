"""``merr-build verify``: damage a seal hides (a record cut short in place, a file deleted
inside a sample's folder) is found, repaired, and exactly those samples are recomputed; each
run reads a random share of sealed records again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import merr_factory.run.resume_index as resume_index
from merr_factory.cli import app
from merr_factory.reports.status import collect_status, render_status
from merr_factory.reports.verify import verify_output
from merr_factory.run.store import Store

from .conftest import run_pipeline, tally
from .test_pipeline import NoteStage, workspace_with_test_stages
from .test_resume_scale import STAGES


@pytest.fixture
def seal_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seal a stage folder however recently it changed (the tests change it within ms)."""
    monkeypatch.setattr(resume_index, "SEAL_AFTER_NS", 0)


@pytest.fixture
def no_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs trust a sealed stage in full (no random share read again)."""
    monkeypatch.setattr(resume_index, "RECHECK_SHARE", 0.0)


def run(config: Path):
    return run_pipeline(config, STAGES, workspace_with_test_stages(config))


def sealed_output(write_config) -> Path:
    config = write_config()
    run(config)
    run(config)
    return config


def cut_in_half(path: Path) -> None:
    """Truncate a file in place: its folder's ctime stays as sealed."""
    size = path.stat().st_size
    os.truncate(path, size // 2)


def damage(out: Path) -> None:
    """Sample 1's note record cut to half its bytes; sample 2's note file deleted."""
    cut_in_half(out / "stages" / "note" / "sample_00000001.json")
    (out / "stages" / "note" / "sample_00000002" / "note.txt").unlink()
    (out / ".state" / "plan.memo").unlink()


def test_verify_finds_damage_a_seal_hides_and_repair_recomputes_exactly_it(
    write_config, seal_at_once, no_recheck, tmp_path: Path
) -> None:
    config = sealed_output(write_config)
    out = tmp_path / "out"
    damage(out)
    trusted = run(config)  # the seal holds: nothing is looked at
    assert tally(trusted, "note")["skipped"] == 6

    store = Store(out)
    (ingest, _, note) = verify_output(store, STAGES)
    assert ingest.checked == note.checked == 6 and not ingest.damaged
    assert {sample: kind for sample, (kind, _) in note.damaged.items()} == {
        "sample_00000001": "truncated",
        "sample_00000002": "missing",
    }
    assert (out / "stages" / "note" / "sample_00000001.json").exists()  # read-only

    verify_output(Store(out), ["note"], repair=True)
    assert not (out / "stages" / "note" / "sample_00000001.json").exists()
    NoteStage.calls.clear()
    healed = run(config)
    assert tally(healed, "note")["computed"] == 2
    assert sorted(NoteStage.calls) == ["sample_00000001", "sample_00000002"]
    assert (out / "stages" / "note" / "sample_00000002" / "note.txt").is_file()
    assert not any(check.damaged for check in verify_output(Store(out), STAGES))


def test_verify_finds_a_file_whose_bytes_changed(write_config, seal_at_once, tmp_path) -> None:
    config = sealed_output(write_config)
    note = tmp_path / "out" / "stages" / "note" / "sample_00000003" / "note.txt"
    text = note.read_text()
    note.write_text(text.upper())  # the same size, other bytes
    (check,) = verify_output(Store(config.parent / "out"), ["note"])
    assert check.damaged["sample_00000003"][0] == "hash mismatch"


def test_a_run_rechecks_a_random_share_of_sealed_records(
    write_config, seal_at_once, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = sealed_output(write_config)
    cut_in_half(tmp_path / "out" / "stages" / "note" / "sample_00000006.json")
    monkeypatch.setattr(resume_index, "RECHECK_SHARE", 1.0)
    NoteStage.calls.clear()
    again = run(config)
    assert tally(again, "note")["computed"] == 1 and NoteStage.calls == ["sample_00000006"]
    assert json.loads((tmp_path / "out" / "stages" / "note" / "sample_00000006.json").read_text())


def test_status_says_when_each_stage_was_last_verified(write_config, seal_at_once) -> None:
    config = sealed_output(write_config)
    before = render_status(collect_status(workspace_with_test_stages(config)), 6)
    assert "last verified: never" in before
    verify_output(Store(config.parent / "out"), ["note"])
    after = render_status(collect_status(workspace_with_test_stages(config)), 6)
    assert "note 20" in after and "(clean)" in after and "never: ingest, filter" in after


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


MEDIA = "ingest,filter,faces,peak"


def test_the_issues_faults_under_a_seal_through_the_command_line(
    write_config, seal_at_once, no_recheck, tmp_path: Path
) -> None:
    """A faces record cut to half its bytes and a deleted peak_frame.jpg, under a seal and
    after a second run and a deleted plan.memo: ``verify`` reports them (exit 1), ``--repair``
    removes them, the next run recomputes exactly those two, and ``verify`` is then clean."""
    config = str(write_config())
    for _ in range(2):
        assert invoke("run", "--config", config, "--stages", MEDIA, "--quiet").exit_code == 0
    out = tmp_path / "out"
    cut_in_half(out / "stages" / "faces" / "sample_00000001.json")
    (out / "stages" / "peak" / "sample_00000002" / "peak_frame.jpg").unlink()
    for _ in range(2):
        (out / ".state" / "plan.memo").unlink(missing_ok=True)
        trusted = invoke("run", "--config", config, "--stages", MEDIA, "--quiet")
        assert trusted.exit_code == 0 and _computed(trusted.output) == {}

    found = invoke("verify", "--config", config, "--stages", "faces,peak")
    assert found.exit_code == 1, found.output
    assert "faces/sample_00000001" in found.output and "peak/sample_00000002" in found.output
    assert (out / "stages" / "faces" / "sample_00000001.json").exists()

    repaired = invoke("verify", "--config", config, "--stages", "faces,peak", "--repair")
    assert repaired.exit_code == 1 and "removed" in repaired.output
    healed = invoke("run", "--config", config, "--stages", MEDIA, "--quiet")
    assert healed.exit_code == 0 and _computed(healed.output) == {"faces": 1, "peak": 1}
    assert (out / "stages" / "peak" / "sample_00000002" / "peak_frame.jpg").is_file()

    clean = invoke("verify", "--config", config)
    assert clean.exit_code == 0 and "no damage" in clean.output
    status = invoke("status", "--config", config)
    assert "last verified: ingest 20" in status.output and "(clean)" in status.output


def _computed(summary: str) -> dict[str, int]:
    """Each stage's ``computed`` count from a run's summary table, where it is not 0."""
    counts = {}
    for line in summary.splitlines():
        cells = line.split()
        if len(cells) >= 3 and cells[1].isdigit() and int(cells[1]):
            counts[cells[0]] = int(cells[1])
    return counts
