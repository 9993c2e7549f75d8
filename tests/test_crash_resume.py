"""A run killed with SIGKILL part-way loses nothing complete and leaves nothing trusted half-done.

The test runs the real CLI in a subprocess over a few hundred copies of the sample clips,
kills it while a stage is writing, runs it again, and compares every record with those of a
run that was never interrupted. No process the killed run started may outlive it (its worker
processes end with it, as they do when the OOM killer takes the main process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .conftest import linked_clips, stored
from .processes import descendants, wait_until_gone

COPIES = 300


def write_config(path: Path, input_dir: Path, output: Path, workers: int = 1) -> Path:
    config = {
        "input": str(input_dir),
        "output": str(output),
        "stages": {"filter": {"decode_check": "full"}},
        "executor": {"workers": workers},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def command(config: Path) -> list[str]:
    # The runner's crash safety is what is tested: the stages without models keep it quick.
    run = [sys.executable, "-m", "merr_factory", "run", "--config", str(config), "--quiet"]
    return [*run, "--stages", "ingest,filter"]


def count_records(output: Path, stage: str) -> int:
    folder = output / "stages" / stage
    return sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0


def kill_when(config: Path, output: Path, stage: str, records: int, workers: int) -> None:
    process = subprocess.Popen(
        command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    started: set[int] = set()
    try:
        while count_records(output, stage) < records:
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.002)
        started = descendants(process.pid)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (output / "runs").exists(), "the run had finished: nothing was interrupted"
    if workers > 1:
        assert len(started) >= workers  # the worker processes were there to be orphaned
    assert wait_until_gone(started, limit=5.0) == set(), "processes outlived the killed run"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    base = tmp_path_factory.mktemp("reference")
    input_dir = linked_clips(base / "clips", COPIES)
    output = base / "out"
    subprocess.run(command(write_config(base / "c.yaml", input_dir, output)), check=True)
    return input_dir, stored(output)


@pytest.mark.parametrize(
    ("stage", "records", "workers"), [("ingest", 60, 1), ("filter", 40, 1), ("filter", 40, 2)]
)
def test_kill_and_resume_equals_an_uninterrupted_run(
    tmp_path: Path,
    uninterrupted: tuple[Path, dict[str, dict]],
    stage: str,
    records: int,
    workers: int,
) -> None:
    """Killed in one stage or the next, in process or with worker processes."""
    input_dir, expected = uninterrupted
    output = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", input_dir, output, workers)
    kill_when(config, output, stage, records, workers)
    done_before = count_records(output, stage)
    assert 0 < done_before < COPIES

    result = subprocess.run(command(config), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = json.loads(next((output / "runs").glob("*.json")).read_text())
    tallies = {item["stage"]: item for item in summary["stages"]}
    assert tallies[stage]["skipped"] == done_before  # every complete record is trusted, no more
    assert stored(output) == expected
    assert len(expected) == 2 * COPIES


@pytest.mark.parametrize(
    ("name", "whole_group", "workers"),
    [
        ("SIGTERM", False, 2),  # Kubernetes: to the main process
        ("SIGTERM", True, 2),  # SLURM, systemd: to every process of the job
        ("SIGINT", True, 1),  # Ctrl-C: to the terminal's process group
    ],
)
def test_a_signal_stops_the_run_with_a_summary_and_the_rerun_goes_on(
    tmp_path: Path,
    uninterrupted: tuple[Path, dict[str, dict]],
    name: str,
    whole_group: bool,
    workers: int,
) -> None:
    """Stopped mid-stage, the run ends its workers, writes its summary and says in one line
    what it finished and how to go on, within seconds; exit status 128 + the signal. The
    re-run computes only what was not finished, and the records equal an uninterrupted run's."""
    input_dir, expected = uninterrupted
    output = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", input_dir, output, workers)
    process = subprocess.Popen(
        command(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a job's
    )
    try:
        deadline = time.monotonic() + 120
        while count_records(output, "filter") < 40:
            assert process.poll() is None, "the run ended before it could be stopped"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.002)
        started = descendants(process.pid)
        sent = time.monotonic()
        number = getattr(signal, name)
        if whole_group:
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)
        _, err = process.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status = 128 + number
    assert process.returncode == status, err
    assert took < 5.0, f"stopping took {took:.1f} s"
    assert wait_until_gone(started, limit=5.0) == set(), "processes outlived the stopped run"
    assert "leaked" not in err and "Traceback" not in err, err
    said = [line for line in err.splitlines() if line.startswith("WARNING: stopped by")]
    assert len(said) == 1, err
    assert f"stopped by {name} after " in said[0]
    assert f"run the same command again to compute the rest (exit status {status})" in said[0]
    (summary_file,) = (output / "runs").glob("*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["stopped"] == name
    counted = {item["stage"]: item["computed"] for item in summary["stages"]}
    assert f"computed ingest {counted['ingest']}, filter {counted['filter']} " in said[0]
    finished = {stage: count_records(output, stage) for stage in ("ingest", "filter")}
    assert 0 < counted["filter"] <= finished["filter"] < COPIES  # a worker may have stored
    assert counted["ingest"] <= finished["ingest"]  # a last record the run had not counted

    result = subprocess.run(command(config), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rerun = max((output / "runs").glob("*.json"), key=lambda path: path.stat().st_mtime_ns)
    tallies = {item["stage"]: item for item in json.loads(rerun.read_text())["stages"]}
    for stage, done in finished.items():
        assert (tallies[stage]["skipped"], tallies[stage]["computed"]) == (done, COPIES - done)
    assert stored(output) == expected
