"""Several processes on one output folder (README: "Resume, staleness, crashes").

- if two processes reach the same sample anyway, moving its files into place is safe: 4
  processes forcing the same samples at once, 20 rounds, never fail a sample or stop.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import yaml

from merr_factory.config import load_config
from merr_factory.run.atomic import put_folder
from merr_factory.run.folders import file_sha256
from merr_factory.run.workspace import open_workspace

from .conftest import run_pipeline
from .writers import write_rounds

CLIPS = Path(__file__).parent / "data" / "clips"
WRITERS = 4
ROUNDS = 20
SAMPLES = 24


def make_input(folder: Path, copies: int) -> Path:
    """Hard links to the sample clips under many names (no disk cost)."""
    folder.mkdir()
    sources = sorted(CLIPS.glob("sample*.mp4"))
    for index in range(copies):
        source = sources[index % len(sources)]
        os.link(source, folder / f"clip_{index:03d}{source.suffix}")
    return folder


def write_config(path: Path, input_dir: Path, output: Path) -> Path:
    config = {"input": str(input_dir), "output": str(output), "executor": {"workers": 1}}
    path.write_text(yaml.safe_dump(config))
    return path


# --- two processes reach the same sample anyway ---------------------------------------------


def test_four_writers_forcing_the_same_samples_never_fail(tmp_path: Path) -> None:
    """No lock here (the runner alone, as two hosts sharing an output without one would be):
    every (stage, sample) is computed by 4 processes at once, round after round. None fails a
    sample (``Directory not empty``) or stops (``ENOENT``); every record ends up describing
    files that are there, whole."""
    output = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", make_input(tmp_path / "clips", SAMPLES), output)
    run_pipeline(config, ["ingest"])
    context = multiprocessing.get_context("spawn")
    meeting = context.Barrier(WRITERS)
    reports = [tmp_path / f"writer-{number}.jsonl" for number in range(WRITERS)]
    writers = [
        context.Process(target=write_rounds, args=(str(config), ROUNDS, meeting, str(report)))
        for report in reports
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=600)
    assert [writer.exitcode for writer in writers] == [0] * WRITERS
    rounds = [json.loads(line) for report in reports for line in report.read_text().splitlines()]
    assert len(rounds) == WRITERS * ROUNDS
    clean = {"computed": SAMPLES, "failed": 0, "errors": {}, "stopped": None}
    troubled = [line for line in rounds if {key: line.get(key) for key in clean} != clean]
    assert troubled == []

    workspace = open_workspace(load_config(config))
    for sample in workspace.samples:
        record = workspace.store.load("note", sample.id)  # checks every file's size
        assert record is not None and record.status == "done"
        for artifact in record.artifacts:
            path = output / "stages" / "note" / sample.id / artifact.path
            assert file_sha256(path) == artifact.sha256
    assert not list((output / ".tmp").iterdir())  # no work folder or trash left behind


def test_a_folder_another_writer_put_in_place(tmp_path: Path) -> None:
    """The same files there: success, and this writer's copy is dropped; other files there
    (an earlier version): swapped out."""
    final = tmp_path / "stages" / "note" / "a"

    def folder(name: str, text: str) -> Path:
        made = tmp_path / ".tmp" / name
        (made / "sub").mkdir(parents=True)
        (made / "sub" / "note.txt").write_text(text)
        return made

    put_folder(folder("first", "same"), final, tmp_path / ".tmp" / "trash-1")
    second = folder("second", "same")
    put_folder(second, final, tmp_path / ".tmp" / "trash-2")
    assert not second.exists() and (final / "sub" / "note.txt").read_text() == "same"
    put_folder(folder("third", "new"), final, tmp_path / ".tmp" / "trash-3")
    assert (final / "sub" / "note.txt").read_text() == "new"
    assert sorted(path.name for path in (tmp_path / ".tmp").iterdir()) == []
