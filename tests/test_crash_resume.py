"""A run killed with SIGKILL part-way loses nothing complete and leaves nothing trusted half-done.

The test runs the real CLI in a subprocess over a few hundred copies of the sample clips,
kills it while a stage is writing, runs it again, and compares every record with those of a
run that was never interrupted.
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

CLIPS = Path(__file__).parent / "data" / "clips"
COPIES = 300
VOLATILE = ("created_at", "seconds")


def make_input(folder: Path) -> Path:
    """Hard links to the sample clips under many names: a big input that costs no disk."""
    folder.mkdir()
    sources = sorted(CLIPS.glob("sample*.*"))
    for index in range(COPIES):
        source = sources[index % len(sources)]
        os.link(source, folder / f"clip_{index:05d}{source.suffix}")
    return folder


def write_config(path: Path, input_dir: Path, output: Path) -> Path:
    config = {
        "input": str(input_dir),
        "output": str(output),
        "stages": {"filter": {"decode_check": "full"}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def command(config: Path) -> list[str]:
    return [
        sys.executable, "-m", "merr_factory", "run", "--config", str(config), "--quiet",
        "--stages", "ingest,filter",
    ]  # fmt: skip


def count_records(output: Path, stage: str) -> int:
    folder = output / "stages" / stage
    return sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0


def kill_when(config: Path, output: Path, stage: str, records: int) -> None:
    process = subprocess.Popen(
        command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    try:
        while count_records(output, stage) < records:
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (output / "runs").exists(), "the run had finished: nothing was interrupted"


def stored(output: Path) -> dict[str, dict]:
    result = {}
    for path in sorted((output / "stages").glob("*/*.json")):
        record = json.loads(path.read_text())
        for key in VOLATILE:
            record.pop(key)
        result[f"{path.parent.name}/{path.name}"] = record
    return result


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    base = tmp_path_factory.mktemp("reference")
    input_dir = make_input(base / "clips")
    output = base / "out"
    subprocess.run(command(write_config(base / "c.yaml", input_dir, output)), check=True)
    return input_dir, stored(output)


@pytest.mark.parametrize(("stage", "records"), [("ingest", 60), ("filter", 40)])
def test_kill_and_resume_equals_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: tuple[Path, dict[str, dict]], stage: str, records: int
) -> None:
    input_dir, expected = uninterrupted
    output = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", input_dir, output)
    kill_when(config, output, stage, records)
    done_before = count_records(output, stage)
    assert 0 < done_before < COPIES

    result = subprocess.run(command(config), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = json.loads(next((output / "runs").glob("*.json")).read_text())
    tallies = {item["stage"]: item for item in summary["stages"]}
    assert tallies[stage]["skipped"] == done_before  # every complete record is trusted, no more
    assert stored(output) == expected
    assert len(expected) == 2 * COPIES
