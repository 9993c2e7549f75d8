"""Faults injected on purpose, and what each must lead to (README: "Resume, staleness, crashes").

- a worker process killed mid-sample (SIGKILL): only that sample fails, its record names the
  signal and the stage; it is tried once more in a fresh worker, not forever; the run goes on;
- a worker sent SIGTERM (or SIGINT) goes on: stopping is its parent's business (a job stopped
  by SLURM or systemd gets the signal in every process); workers end with their parent when
  it is killed;
- the output disk full (a 400 KB tmpfs) or made read-only mid-run: the run stops with exit
  status 3 and one line naming the path and the errno, a run summary is written, and a
  re-run once there is room trusts nothing half-written;
- a clip that cannot be read for lack of permission: a failure of kind ``environment``,
  retried on the next run instead of stored as a fact about the clip.
"""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import av
import pytest

from merr_factory.config import load_config
from merr_factory.executors.processes import WorkerPool
from merr_factory.faults import WorkerDied, fault_kind, first_line, output_error
from merr_factory.run.workspace import open_workspace
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings

from .conftest import run_pipeline, stored, tally
from .processes import alive, descendants, wait_until_gone

FACTS = RunFacts(label_set=("happy", "sad"))
VICTIM = "sample_00000002"


def records(output: Path, stage: str) -> dict[str, dict]:
    folder = output / "stages" / stage
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


# --- a worker killed mid-sample -------------------------------------------------------------


class KillSettings(StageSettings):
    victim: str = VICTIM
    attempts_file: str = ""


class KillStage(Stage[KillSettings]):
    """Kills its own worker process (SIGKILL, as the OOM killer does) on the victim sample,
    noting each attempt in a file first."""

    name = "killer"
    summary = "test stage"
    settings_model = KillSettings
    requires = ("filter",)

    def process(self, sample: SampleContext) -> StageResult:
        if sample.source.id == self.settings.victim:
            with open(self.settings.attempts_file, "a") as attempts:
                attempts.write(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return StageResult(data={"ok": True})


def test_a_worker_killed_mid_sample_fails_that_sample_only(write_config, tmp_path: Path) -> None:
    path = write_config(executor={"workers": 2})
    workspace = open_workspace(load_config(path))
    attempts = tmp_path / "attempts.txt"
    workspace.stages["killer"] = KillStage(KillSettings(attempts_file=str(attempts)), FACTS)
    summary = run_pipeline(path, ["ingest", "filter", "killer"], workspace)

    assert tally(summary, "killer")["computed"] == 5  # the other samples went on
    assert tally(summary, "killer")["failed"] == 1
    stored_records = records(tmp_path / "out", "killer")
    failure = stored_records.pop(VICTIM)
    assert failure["status"] == "failed"
    assert failure["error"]["type"] == "WorkerDied"
    assert failure["error"]["kind"] == "worker_died"
    assert "killed by SIGKILL during killer" in failure["error"]["message"]
    assert {record["status"] for record in stored_records.values()} == {"done"}
    pids = attempts.read_text().split()
    assert len(pids) == 2  # tried once more in a fresh worker, then given up
    assert pids[0] != pids[1]
    assert summary.stopped is None
    workers = [pid for pid in descendants(os.getpid()) if "spawn_main" in _command(pid)]
    assert workers == []  # the pool's workers, the fresh ones included, ended with the run


_NEIGHBOUR_BUSY = threading.Event()  # in a worker process: another sample is in process


class ShareKillStage(KillStage):
    """``KillStage`` for a worker that holds two samples (thread-safe): the others take a
    while, and the victim kills its worker only once another sample is in ``process`` beside
    it (or after half a second alone), so the first death is shared."""

    def thread_safe(self) -> bool:
        return True

    def process(self, sample: SampleContext) -> StageResult:
        if sample.source.id == self.settings.victim:
            _NEIGHBOUR_BUSY.wait(timeout=0.5 if self._retried() else 20)
            return super().process(sample)
        _NEIGHBOUR_BUSY.set()
        try:
            time.sleep(0.5)
        finally:
            _NEIGHBOUR_BUSY.clear()
        return StageResult(data={"ok": True})

    def _retried(self) -> bool:
        path = Path(self.settings.attempts_file)
        return path.exists() and path.read_text().strip() != ""


def test_a_death_shared_by_two_samples_fails_neither_and_the_killer_alone(
    write_config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Workers holding two samples at once: the victim kills its worker while another sample
    is in process there. Neither is blamed for that death; both are tried again, each in a worker
    of its own: the other succeeds, and the victim fails after killing two workers alone."""
    path = write_config(executor={"workers": 2, "clips_per_worker": 2})
    workspace = open_workspace(load_config(path))
    attempts = tmp_path / "attempts.txt"
    workspace.stages["killer"] = ShareKillStage(KillSettings(attempts_file=str(attempts)), FACTS)
    with caplog.at_level(logging.WARNING, logger="merr_factory"):
        summary = run_pipeline(path, ["ingest", "filter", "killer"], workspace)

    assert tally(summary, "killer")["computed"] == 5
    assert tally(summary, "killer")["failed"] == 1
    stored_records = records(tmp_path / "out", "killer")
    failure = stored_records.pop(VICTIM)
    assert failure["error"]["type"] == "WorkerDied"
    assert "killed by SIGKILL during killer, on each of 2 attempts" in failure["error"]["message"]
    assert {record["status"] for record in stored_records.values()} == {"done"}
    pids = attempts.read_text().split()
    assert len(pids) == 3 and len(set(pids)) == 3  # once shared, then twice alone
    shared = [m for m in caplog.messages if "while holding 2 samples" in m]
    assert len(shared) == 2  # the victim and its neighbour, each tried again alone
    assert sum(VICTIM in message for message in shared) == 1


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_worker_ignores_sigterm_and_a_killed_one_is_replaced() -> None:
    """SIGTERM and SIGINT reach every process of a job SLURM or systemd stops: a worker goes
    on, its parent stops the run and then the workers. Also: a worker's log records reach the
    same-named logger of the parent."""
    collect = _Collect()
    logger = logging.getLogger("merr_factory_test_pool")
    logger.addHandler(collect)
    pool = WorkerPool(multiprocessing.get_context("spawn"), 1, int, forward_logs=logger.name)
    try:
        pool.submit(logging.getLogger(f"{logger.name}.child").warning, "hi %s", "there").result(
            timeout=60
        )
        assert collect.messages == ["hi there"]
        pid = pool.submit(os.getpid).result(timeout=60)  # the worker is up and serving
        held = pool.submit(time.sleep, 1.0)
        time.sleep(0.3)
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGINT)
        assert held.result(timeout=20) is None  # finished all the same
        assert pool.submit(os.getpid).result(timeout=60) == pid
        held = pool.submit(time.sleep, 60)
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerDied, match="was killed by SIGKILL"):
            held.result(timeout=20)
        assert not alive(pid)
        fresh = pool.submit(os.getpid).result(timeout=60)
        assert fresh != pid
    finally:
        pool.shutdown()
        logger.removeHandler(collect)


POOL_THEN_SLEEP = """
import multiprocessing, os, sys, time
from merr_factory.executors.processes import WorkerPool
pool = WorkerPool(multiprocessing.get_context("spawn"), 2, int)
for job in [pool.submit(time.sleep, 0.5) for _ in range(2)]:
    job.result()
print(" ".join(str(pid) for pid in pool.pids()), flush=True)
time.sleep(120)
"""


def test_workers_end_with_their_parent_when_it_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", POOL_THEN_SLEEP], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        workers = {int(pid) for pid in parent.stdout.readline().split()}
        assert len(workers) == 2 and workers <= descendants(parent.pid)
        parent.send_signal(signal.SIGKILL)
    finally:
        parent.wait()
    assert wait_until_gone(workers, limit=5.0) == set()


POOL_ABORTED_WITH_LOCKS = """
import multiprocessing, time
from merr_factory.executors.processes import WorkerPool
from tests.processes import hold_a_named_lock
pool = WorkerPool(multiprocessing.get_context("spawn"), 2, int, slots=2)
pids = {job.result() for job in [pool.submit(hold_a_named_lock) for _ in range(4)]}
held = [pool.submit(time.sleep, 60) for _ in range(2)]
time.sleep(0.3)
started = time.monotonic()
pool.shutdown(abort=True)
print(len(pids), round(time.monotonic() - started, 1), flush=True)
"""


def test_an_aborted_pool_leaves_no_leaked_semaphores() -> None:
    """Workers ended at once (a run stopped) with the semaphores a library made there
    (tqdm's lock): they are unlinked, not reported as leaked by the resource tracker."""
    result = subprocess.run(
        [sys.executable, "-c", POOL_ABORTED_WITH_LOCKS],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    workers, seconds = result.stdout.split()
    assert int(workers) >= 1 and float(seconds) < 2.5  # ended, not awaited
    assert "leaked" not in result.stderr, result.stderr


# --- the output cannot be written ------------------------------------------------------------

AUDIO = ["ingest", "filter", "audio"]  # the audio stage writes a wav per clip: the disk fills


def _mount_tmpfs(folder: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("a tmpfs needs root (the read-only test also runs without)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An output folder on a 400 KB tmpfs (the six sample clips need about 700 KB)."""
    folder = tmp_path / "small"
    folder.mkdir()
    _mount_tmpfs(folder, "400k")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def merr_build(config: Path, stages: list[str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "merr_factory", "run", "--config", str(config), "--quiet"]
    return subprocess.run([*command, "--stages", ",".join(stages)], capture_output=True, text=True)


def test_a_full_output_disk_stops_the_run_with_exit_status_3(
    write_config, small_disk: Path, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    assert merr_build(write_config("ref.yaml", output=str(reference)), AUDIO).returncode == 0
    config = write_config("small.yaml", output=str(small_disk))

    result = merr_build(config, AUDIO)
    assert result.returncode == 3, result.stderr
    said = [line for line in result.stderr.splitlines() if not line.startswith("INFO: ")]
    assert len(said) == 1, result.stderr  # one line, no traceback
    stop = re.fullmatch(
        r"ERROR: cannot write (\S+): No space left on device \(ENOSPC\); "
        r"the run stopped \(exit status 3\)",
        said[0],
    )
    assert stop and Path(stop.group(1)).is_relative_to(small_disk), said[0]
    summary = json.loads(next((small_disk / "runs").glob("*.json")).read_text())
    assert "(ENOSPC)" in summary["stopped"]
    assert "(ENOSPC)" in next((small_disk / "logs").glob("*.log")).read_text()

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    again = merr_build(config, AUDIO)
    assert again.returncode == 0, again.stderr
    assert stored(small_disk) == stored(reference)  # nothing half-written was trusted


class ReadOnlySettings(StageSettings):
    after: int = 2  # samples this stage completes before the output turns read-only
    folder: str = ""
    not_in_fingerprint: ClassVar[frozenset[str]] = frozenset({"after", "folder"})


class ReadOnlyStage(Stage[ReadOnlySettings]):
    """Makes the output read-only mid-run: a remount as root, else a chmod of its folder."""

    name = "note"
    summary = "test stage"
    settings_model = ReadOnlySettings
    requires = ("filter",)
    seen = 0

    def process(self, sample: SampleContext) -> StageResult:
        type(self).seen += 1
        if type(self).seen == self.settings.after + 1:
            _make_read_only(Path(self.settings.folder), read_only=True)
        (sample.workdir / "note.txt").write_text(sample.source.id)
        return StageResult(data={"sample": sample.source.id})


def _make_read_only(folder: Path, read_only: bool) -> None:
    if os.geteuid() == 0:
        option = "remount,ro" if read_only else "remount,rw"
        subprocess.run(["mount", "-o", option, str(folder)], check=True)
    else:
        (folder / "stages" / "note").chmod(0o555 if read_only else 0o755)


@pytest.fixture
def output_folder(tmp_path: Path) -> Iterator[Path]:
    """The output folder: its own tmpfs as root (so it can be remounted read-only)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        _mount_tmpfs(folder, "20m")
    try:
        yield folder
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def test_an_output_made_read_only_mid_run_stops_it(write_config, output_folder: Path) -> None:
    path = write_config(output=str(output_folder))
    stages = ["ingest", "filter", "note"]

    def workspace(after: int = 2):
        ReadOnlyStage.seen = 0
        found = open_workspace(load_config(path))
        settings = ReadOnlySettings(after=after, folder=str(output_folder))
        found.stages["note"] = ReadOnlyStage(settings, FACTS)
        return found

    run_pipeline(path, ["ingest", "filter"], workspace())
    (output_folder / "stages" / "note").mkdir()
    summary = run_pipeline(path, stages, workspace())
    assert summary.stopped is not None
    code = "EROFS" if os.geteuid() == 0 else "EACCES"
    where = re.escape(str(output_folder))
    assert re.fullmatch(rf"cannot write {where}/\S+: .+ \({code}\)", summary.stopped)
    assert tally(summary, "note")["computed"] == 2
    assert len(records(output_folder, "note")) == 2  # the sample in flight left no record

    _make_read_only(output_folder, read_only=False)
    again = run_pipeline(path, stages, workspace(after=len(stages) * 6))
    assert again.stopped is None
    assert tally(again, "note") == {
        "computed": 4,
        "skipped": 2,
        "failed": 0,
        "excluded": 0,
        "blocked": 0,
        "waiting": 0,
    }
    notes = records(output_folder, "note")
    assert {name: record["status"] for name, record in notes.items()} == dict.fromkeys(
        notes, "done"
    )
    assert len(notes) == 6
    for name, record in notes.items():  # every file is whole and belongs to its record
        note = output_folder / "stages" / "note" / name / "note.txt"
        assert note.read_text() == name
        assert record["artifacts"][0]["size"] == len(name)


# --- an input that cannot be read for a reason of the environment --------------------------


def test_a_clip_unreadable_for_lack_of_permission_is_retried_next_run(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root, chmod 000 stops no read: the PermissionError PyAV raises for such a clip is
    injected where the clip is opened."""
    real_open = av.open
    victim = "sample_00000003"

    def open_or_deny(file, *args, **kwargs):
        if Path(str(file)).stem == victim:
            raise av.error.PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    path = write_config()
    monkeypatch.setattr(av, "open", open_or_deny)
    first = run_pipeline(path)
    assert tally(first, "ingest")["failed"] == 1
    assert tally(first, "filter")["blocked"] == 1
    failure = records(tmp_path / "out", "ingest")[victim]
    assert failure["error"]["type"] == "PermissionError"
    assert failure["error"]["kind"] == "environment"

    monkeypatch.setattr(av, "open", real_open)  # the permission is back (chmod 644)
    second = run_pipeline(path)
    assert tally(second, "ingest")["computed"] == 1 and tally(second, "ingest")["skipped"] == 5
    probe = records(tmp_path / "out", "ingest")[victim]["data"]["probe"]
    assert probe["readable"] is True
    assert tally(second, "filter")["computed"] == 1


def test_which_os_errors_are_the_outputs(tmp_path: Path) -> None:
    """Told apart by errno and path: the output's stop the run, the others fail a sample."""
    output = tmp_path / "out"
    workdir = output / ".tmp" / "faces-a-1"
    workdir.mkdir(parents=True)
    clip = str(tmp_path / "clips" / "a.mp4")
    full = OSError(errno.ENOSPC, "No space left on device")  # a stream: no file name
    stopped = output_error(full, output, workdir)
    assert stopped is not None and str(stopped).endswith("No space left on device (ENOSPC)")
    denied = PermissionError(errno.EACCES, "Permission denied", str(workdir / "frames.csv"))
    assert output_error(denied, output, workdir) is not None
    # a tool that wrote no file in a work folder still there: that sample's failure
    missing = FileNotFoundError(errno.ENOENT, "No such file", str(workdir / "frames.csv"))
    assert output_error(missing, output, workdir) is None
    # reading the input: a failure of the environment, retried next run
    unreadable = PermissionError(errno.EACCES, "Permission denied", clip)
    assert output_error(unreadable, output, workdir) is None
    assert fault_kind(unreadable) == "environment"
    wrapped = ValueError("cannot decode")
    wrapped.__cause__ = unreadable
    assert fault_kind(wrapped) == "environment"
    assert fault_kind(ValueError("not a media file")) == "data"
    workdir.rmdir()  # the work folder vanished under the run
    assert output_error(missing, output, workdir) is not None


def test_an_error_in_one_line_is_its_first_line_with_words_or_its_class_name() -> None:
    text = "\n  \n  bad header  \nTraceback (most recent call last)"
    assert first_line(ValueError(text)) == "bad header"
    assert first_line(OSError(errno.ENOENT, "No such file", "/x")) == "[Errno 2] No such file: '/x'"
    assert first_line(RuntimeError("  \n\t")) == "RuntimeError"
    assert first_line(KeyError()) == "KeyError"
