"""The command line, driven as a user would (in process through typer, and one real subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from merr_factory import cli
from merr_factory.cli import app
from merr_factory.config import load_config
from merr_factory.registry import STAGE_NAMES
from merr_factory.run.output_lock import OutputLock
from merr_factory.run.pipeline import Runner, RunOptions, StopRequest
from merr_factory.run.workspace import open_workspace

CORE = ("--stages", "ingest,filter")  # tests of the command line itself need no models


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_help_lists_run_status_and_every_stage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "merr_factory", "--help"], capture_output=True, text=True, check=True
    )
    for name in ("run", "status", "init", "evaluate", *STAGE_NAMES):
        assert f" {name} " in result.stdout


def test_unknown_stage_in_stages_option(write_config) -> None:
    result = invoke("run", "--config", str(write_config()), "--stages", "ingest,peek")
    assert result.exit_code == 2
    assert "unknown stage 'peek'" in result.output


def test_run_writes_records_summary_log_and_resolved_config(write_config, tmp_path: Path) -> None:
    """The whole pipeline on the sample clips with the offline models, end to end."""
    result = invoke("run", "--config", str(write_config()), "--quiet")
    assert result.exit_code == 0, result.output
    assert "6 samples" in result.output and "ok" in result.output
    out = tmp_path / "out"
    assert len(list((out / "stages" / "filter").glob("*.json"))) == 6
    (summary_file,) = (out / "runs").glob("*.json")
    summary = json.loads(summary_file.read_text())
    assert [stage["stage"] for stage in summary["stages"]] == list(STAGE_NAMES)
    assert summary["stages"][0]["computed"] == 6
    assert summary["failed"] == 0
    (log_file,) = (out / "logs").glob("*.log")
    assert "6 samples from" in log_file.read_text()
    assert f"stages: {', '.join(STAGE_NAMES)}" in log_file.read_text()
    coarse = json.loads((out / "export" / "MERR_coarse_grained.json").read_text())
    assert coarse and all(entry["pseu_emotion"] for entry in coarse.values())
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["stages"]["filter"]["decode_check"] == "packets"
    assert "sample/s" not in result.output  # --quiet: no progress bars


def test_stage_command_runs_that_stage_only(write_config, tmp_path: Path) -> None:
    result = invoke("ingest", "--config", str(write_config()), "--quiet", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out" / "stages" / "ingest").glob("*.json"))) == 2
    assert not (tmp_path / "out" / "stages" / "filter").exists()


def test_path_options_override_the_config(write_config, clips: Path, tmp_path: Path) -> None:
    config = write_config(input=str(tmp_path / "not-there"), output=str(tmp_path / "unused"))
    subset = tmp_path / "subset"
    subset.mkdir()
    (subset / "a.avi").write_bytes((clips / "sample_00000003.avi").read_bytes())
    labels = tmp_path / "l.csv"
    labels.write_text("name,label\na,sad\n")
    result = invoke(
        "run",
        "--config",
        str(config),
        "--input",
        str(subset),
        "--labels",
        str(labels),
        "--output",
        str(tmp_path / "elsewhere"),
        "--quiet",
        *CORE,
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "elsewhere" / "stages" / "ingest" / "a.json").read_text())
    assert record["data"]["label"] == "sad"
    assert not (tmp_path / "unused").exists()


def test_failures_give_exit_status_1_and_are_counted(write_config, monkeypatch) -> None:
    from merr_factory.stages import filter as filter_stage

    real = filter_stage.check_decodable

    def flaky(path: Path, mode, segment=None):
        if path.stem == "sample_00000001":
            raise MemoryError("out of memory while decoding")
        return real(path, mode, segment)

    monkeypatch.setattr(filter_stage, "check_decodable", flaky)
    result = invoke("run", "--config", str(write_config()), "--quiet", *CORE)
    assert result.exit_code == 1
    assert "with failures" in result.output
    status = invoke("status", "--config", str(write_config()))
    assert "filter failed (1): MemoryError: out of memory while decoding" in status.output


def test_status_table(write_config) -> None:
    config = str(write_config(stages={"filter": {"require_audio": True}}))
    before = invoke("status", "--config", config)
    assert before.exit_code == 0
    assert _row(before.output, "ingest") == ["ingest", "0", "0", "0", "6", "0", "0"]
    invoke("run", "--config", config, "--quiet", *CORE)
    after = invoke("status", "--config", config)
    assert _row(after.output, "ingest") == ["ingest", "6", "0", "0", "0", "0", "0"]
    assert _row(after.output, "filter") == ["filter", "6", "0", "0", "0", "0", "0"]
    assert _row(after.output, "asr") == ["asr", "0", "0", "0", "5", "0", "1"]
    assert "filter dropped: no_audio 1" in after.output


def _line(output: str, stage: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(stage + " "))


def _row(output: str, stage: str) -> list[str]:
    return _line(output, stage).split()


def test_a_refused_run_leaves_the_output_as_it_was(write_config, tmp_path: Path) -> None:
    """An unknown sample id or a bad label file is refused (exit 2) before anything is
    written: no output folder for a new output, and an existing resolved config untouched."""
    out = tmp_path / "out"
    result = invoke("run", "--config", str(write_config()), *CORE, "--samples", "bogus_id")
    assert result.exit_code == 2 and "no such sample: bogus_id" in result.output
    assert not out.exists()

    assert invoke("run", "--config", str(write_config()), *CORE, "--quiet").exit_code == 0
    resolved = (out / "config.resolved.yaml").read_text()
    logs = sorted((out / "logs").iterdir())
    other = write_config("other.yaml", stages={"filter": {"min_duration": 2.5}})
    result = invoke("run", "--config", str(other), *CORE, "--samples", "bogus_id")
    assert result.exit_code == 2
    assert (out / "config.resolved.yaml").read_text() == resolved
    assert sorted((out / "logs").iterdir()) == logs


def test_a_bad_label_file_creates_no_output_folder(write_config, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_bytes(b"\xff\xfe not a label table")
    result = invoke("run", "--config", str(write_config(labels=str(labels))), *CORE)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()


def test_a_second_signal_leaves_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first SIGTERM or SIGINT asks the run to stop; a second one ends the process at
    once (exit status 128 + its number). The handlers are the run's only."""
    left: list[int] = []
    monkeypatch.setattr(os, "_exit", left.append)
    before = signal.getsignal(signal.SIGINT)
    stop = StopRequest()
    with cli._stopping_on_signals(stop):
        signal.raise_signal(signal.SIGTERM)
        assert (stop.reason, left) == ("SIGTERM", [])
        signal.raise_signal(signal.SIGINT)
        assert left == [130]
    assert signal.getsignal(signal.SIGINT) is before


def test_link_loops_in_the_input_are_warnings_naming_them(
    write_config, clips: Path, tmp_path: Path
) -> None:
    (clips / "loop.mp4").symlink_to("loop.mp4")
    (clips / "a.mp4").symlink_to("b.mp4")
    (clips / "b.mp4").symlink_to("a.mp4")
    config = str(write_config())
    result = invoke("run", "--config", config, "--quiet", *CORE)
    assert result.exit_code == 0, result.output
    for name in ("loop.mp4", "a.mp4", "b.mp4"):
        assert f"{clips / name}: cannot read (Too many levels of symbolic links)" in result.output
    assert "Traceback" not in result.output
    status = invoke("status", "--config", config)
    assert status.exit_code == 0 and "loop.mp4: cannot read" in status.output


def test_a_failed_discovery_leaves_an_unused_output_as_it_was(
    write_config, clips: Path, tmp_path: Path
) -> None:
    """A list file that is not UTF-8: one line, exit status 2, no output folder (no logs/);
    a label file in UTF-16 without a byte order mark: the same, and no raw NUL printed."""
    listing = tmp_path / "list.txt"
    listing.write_text("clips/sample_00000001.mp4\n", encoding="utf-16-le")
    result = invoke("run", "--config", str(write_config(input=str(listing))), *CORE)
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {listing}: not a UTF-8 text file: it holds NUL bytes " + (
        "(UTF-16 without a byte order mark, or not text at all); save it as UTF-8\n"
    )
    labels = tmp_path / "labels-utf16.csv"
    labels.write_text((clips / "labels.csv").read_text(), encoding="utf-16-le")
    result = invoke("run", "--config", str(write_config(labels=str(labels))), *CORE)
    assert result.exit_code == 2, result.output
    assert "\x00" not in result.output and len(result.output.splitlines()) == 1
    assert "not a UTF-8 text file: it holds NUL bytes" in result.output
    assert not (tmp_path / "out").exists()


def test_a_run_that_crashes_before_starting_leaves_no_output(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong while the inputs are read, the output is left as it was."""

    def broken(config):
        raise RuntimeError("an input problem nobody foresaw")

    monkeypatch.setattr(cli, "open_workspace", broken)
    result = invoke("run", "--config", str(write_config()), *CORE)
    assert isinstance(result.exception, RuntimeError)
    assert not (tmp_path / "out").exists()


def test_report_is_refused_while_a_run_writes_the_output(write_config, tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    with OutputLock(output):
        result = invoke("report", "--config", str(write_config()))
    assert result.exit_code == 2, result.output
    assert f"error: {output} is in use by another merr-build run (PID {os.getpid()}" in (
        result.output
    )
    assert sorted(path.name for path in output.iterdir()) == []


def test_a_run_stopped_before_it_began_computes_nothing(write_config, tmp_path: Path) -> None:
    config = load_config(write_config(executor={"workers": 2}))
    summary = Runner(
        open_workspace(config),
        RunOptions(stages=["ingest", "filter"], progress=False),
        StopRequest("SIGTERM"),
    ).run()
    assert (summary.stopped, summary.signal) == ("SIGTERM", "SIGTERM")
    assert [tally.computed for tally in summary.tallies] == [0, 0]
    assert not (tmp_path / "out" / "stages").exists()
