"""Runs that write one output from several processes at once (``test_concurrent_writers.py``),
importable by the processes a test starts: a light stage that writes files, and a loop of
forced runs that meet the other processes' at the start of every round."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from merr_factory.config import load_config
from merr_factory.run.pipeline import Runner, RunOptions
from merr_factory.run.workspace import open_workspace
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings


class NoteSettings(StageSettings):
    pass


class NoteStage(Stage[NoteSettings]):
    """Writes two small files per sample, one in a subfolder: its result is the same in
    every process (so a folder another writer put in place is this one's too)."""

    name = "note"
    summary = "test stage"
    settings_model = NoteSettings
    requires = ("ingest",)

    def thread_safe(self) -> bool:
        return True

    def process(self, sample: SampleContext) -> StageResult:
        (sample.workdir / "note.txt").write_text(sample.source.id)
        (sample.workdir / "more").mkdir()
        (sample.workdir / "more" / "note.txt").write_text(sample.source.id * 40)
        return StageResult(data={"sample": sample.source.id})


def write_rounds(config: str, rounds: int, meeting: Any, report: str) -> None:
    """``rounds`` forced runs of the note stage (no output lock: as if two runs reached the
    same samples anyway), each started with the other processes (``meeting``: a barrier);
    one JSON line per round in ``report``."""
    workspace = open_workspace(load_config(Path(config)))
    workspace.stages["note"] = NoteStage(NoteSettings(), RunFacts(label_set=("happy",)))
    for number in range(rounds):
        meeting.wait(timeout=120)
        try:
            summary = Runner(
                workspace, RunOptions(stages=["note"], force=True, progress=False)
            ).run()
            tally = summary.tallies[0]
            line = {
                "round": number,
                "computed": tally.computed,
                "failed": tally.failed,
                "errors": dict(tally.errors),
                "stopped": summary.stopped,
            }
        except Exception as error:  # reported: the test fails on it
            line = {"round": number, "crashed": f"{type(error).__name__}: {error}"}
        with open(report, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"pid": os.getpid(), **line}) + "\n")
