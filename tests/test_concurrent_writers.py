"""Several processes on one output folder (README: "Resume, staleness, crashes").

- one writer per output: a run holds a lock on its output folder; a second run is refused
  at once (exit status 2, one line naming the holder); the lock of a dead run is taken over;
  shard runs over disjoint samples share the output by design;
- if two processes reach the same sample anyway, moving its files into place is safe: 4
  processes forcing the same samples at once, 20 rounds, never fail a sample or stop.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from merr_factory.config import load_config
from merr_factory.run.atomic import put_folder
from merr_factory.run.folders import file_sha256
from merr_factory.run.output_lock import OutputBusy, OutputLock
from merr_factory.run.workspace import open_workspace

from .conftest import linked_clips, run_pipeline
from .writers import write_rounds

WRITERS = 4
ROUNDS = 20
SAMPLES = 24


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
    config = write_config(tmp_path / "c.yaml", linked_clips(tmp_path / "clips", SAMPLES), output)
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


# --- one writer per output -----------------------------------------------------------------


def test_one_lock_per_output_and_shards_share_it(tmp_path: Path) -> None:
    """Locks of one process conflict like those of two (each ``flock`` is its own)."""
    with OutputLock(tmp_path):
        with pytest.raises(
            OutputBusy, match=rf"in use by another merr-build run \(PID {os.getpid()} on "
        ):
            OutputLock(tmp_path).acquire()
        with pytest.raises(OutputBusy, match="in use by a run over all samples"):
            OutputLock(tmp_path, (0, 2)).acquire()
    assert not (tmp_path / ".lock").exists()  # its holder removed it on leaving

    with OutputLock(tmp_path, (0, 2)), OutputLock(tmp_path, (1, 2)):  # together, by design
        with pytest.raises(OutputBusy, match=r"in use by another merr-build run \(shard runs: PID"):
            OutputLock(tmp_path).acquire()
        with pytest.raises(OutputBusy, match="shard 1/2 is already running"):
            OutputLock(tmp_path, (1, 2)).acquire()
        with pytest.raises(OutputBusy, match=r"a shard run of another count .*--shard i/2\)"):
            OutputLock(tmp_path, (0, 3)).acquire()
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # the last one out tidied up
    with OutputLock(tmp_path):  # and the output is free again
        pass


HOLD_LOCK = """
import sys, time
from pathlib import Path
from merr_factory.run.output_lock import OutputLock
lock = OutputLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_the_lock_of_a_dead_run_is_taken_over(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(OutputBusy, match=rf"\(PID {holder.pid} on "):
            OutputLock(tmp_path).acquire()
        holder.send_signal(signal.SIGKILL)  # no chance to let go: the kernel does
    finally:
        holder.wait()
    assert (tmp_path / ".lock").exists()
    with OutputLock(tmp_path):
        assert f'"pid": {os.getpid()}' in (tmp_path / ".lock").read_text()


def merr_build(config: Path, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "merr_factory", "run", "--config", str(config), "--quiet"]
    return subprocess.Popen(
        [*command, "--stages", "ingest,filter", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_run_is_refused_at_once_naming_the_holder(tmp_path: Path) -> None:
    """While a process holds the output, 3 runs started at once each exit with status 2 and
    one line naming it, leaving the output as it was; once it is killed, a run goes ahead."""
    output = tmp_path / "out"
    output.mkdir()
    config = write_config(tmp_path / "c.yaml", linked_clips(tmp_path / "clips", 6), output)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(output)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        before = sorted(output.iterdir())
        runs = [merr_build(config) for _ in range(3)]
        for run in runs:
            _, err = run.communicate(timeout=120)
            assert run.returncode == 2, err
            assert re.fullmatch(
                rf"error: {re.escape(str(output))} is in use by another merr-build run "
                rf"\(PID {holder.pid} on \S+ since \S+: merr-build .+\); one run writes an "
                r"output at a time: wait for it to end, or use another --output\n",
                err,
            ), err
        assert sorted(output.iterdir()) == before  # no log, no resolved config
        holder.send_signal(signal.SIGKILL)
    finally:
        holder.kill()
        holder.wait()
    after = merr_build(config)
    _, err = after.communicate(timeout=300)
    assert after.returncode == 0, err
    assert len(list((output / "stages" / "filter").glob("*.json"))) == 6


def test_runs_started_together_one_writes_the_others_are_refused(tmp_path: Path) -> None:
    """4 real ``merr-build run`` at once on one output: each writes alone (exit 0: it had
    the output to itself) or is refused at once with one line naming the holder (exit 2);
    nothing fails."""
    output = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", linked_clips(tmp_path / "clips", 40), output)
    runs = [merr_build(config) for _ in range(WRITERS)]
    results = [(run.pid, *run.communicate(timeout=300), run.returncode) for run in runs]
    codes = sorted(code for *_, code in results)
    assert set(codes) <= {0, 2} and codes[0] == 0, results
    for _pid, _out, err, code in results:
        if code == 2:
            assert len(err.strip().splitlines()) == 1, err
            holder = re.search(r"in use by another merr-build run \(PID (\d+) on ", err)
            assert holder and int(holder.group(1)) in {pid for pid, *_ in results}, err
    summaries = [json.loads(path.read_text()) for path in (output / "runs").glob("*.json")]
    assert len(summaries) == codes.count(0) and all(s["failed"] == 0 for s in summaries)
    assert len(list((output / "stages" / "filter").glob("*.json"))) == 40
    assert not (output / ".lock").exists()


def test_shard_runs_write_one_output_together(tmp_path: Path) -> None:
    """Both shards hold the output at once and finish (disjoint samples); a run over all
    samples is refused while they are at it."""
    output = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", linked_clips(tmp_path / "clips", 150), output)
    shards = [merr_build(config, "--shard", f"{index}/2") for index in range(2)]
    held = [output / f".lock.shard-{index}-of-2" for index in range(2)]
    deadline = time.monotonic() + 120
    while not all(path.exists() for path in held):  # both shards at work
        assert time.monotonic() < deadline and all(s.poll() is None for s in shards)
        time.sleep(0.01)
    with pytest.raises(OutputBusy, match=r"in use by another merr-build run \(shard runs: PID"):
        OutputLock(output).acquire()
    finished = [shard.communicate(timeout=300) for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0], finished
    assert len(list((output / "stages" / "filter").glob("*.json"))) == 150
    assert sorted(path.name for path in output.glob(".lock*")) == []
