"""The export entry: what process gathers, and a clear failure when upstream data is wrong."""

from __future__ import annotations

import json
from pathlib import Path

from merr_factory.export.settings import ExportSettings
from merr_factory.export.writer import write_export
from merr_factory.run.store import Store

from .conftest import copy_clips, run_export, write_export_config
from .stand_ins import LabelStandIn


def test_entries_gather_every_stage(tmp_path: Path) -> None:
    run = run_export(write_export_config(tmp_path, copy_clips(tmp_path)))
    record = json.loads((run.output / "stages/export/sample_00000002.json").read_text())
    entry = record["data"]
    assert entry["name"] == "sample_00000002" and entry["tier"] == "fine"
    assert entry["language"] == "zh" and entry["text_en"] is None
    assert entry["transcript"] == "我今天非常高兴"
    assert entry["visual_objective"] == "A person faces the camera in a room."  # one line
    assert entry["peak_frame"]["path"] == "stages/peak/sample_00000002/peak_frame.jpg"
    assert entry["audio_file"]["path"] == "stages/audio/sample_00000002/audio.wav"
    assert entry["models"]["llm"] == "stand-in/test-llm"
    assert entry["valence"] == 2.0


def test_a_renamed_field_upstream_fails_that_sample_loudly(tmp_path: Path, monkeypatch) -> None:
    """A label producer that stores ``tier`` under a new name (as a rename in its model
    would): the export's read of the real model fails that sample, naming the field, where
    a restated view with defaults used to read a default silently."""
    original = LabelStandIn.process

    def renamed(self, sample):
        result = original(self, sample)
        if sample.source.id == "sample_00000003":
            data = result.data.model_dump()
            data["quality_tier"] = data.pop("tier")
            result.data = data
        return result

    monkeypatch.setattr(LabelStandIn, "process", renamed)
    monkeypatch.setattr(LabelStandIn, "output_model", None)  # let it store what it returns
    run = run_export(write_export_config(tmp_path, copy_clips(tmp_path)))
    assert run.tally().failed == 1 and run.tally().computed == 5
    record = json.loads((run.output / "stages/export/sample_00000003.json").read_text())
    assert record["error"]["type"] == "UpstreamDataError"
    assert record["error"]["message"] == (
        "label record does not match LabelData: tier: Field required"
    )
    # The others are exported all the same.
    assert "sample_00000001" in (run.export / "MERR_coarse_grained.txt").read_text()


def test_an_empty_export_still_writes_every_file(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    summary = write_export([], ExportSettings(), Store(tmp_path), folder)
    assert (folder / "MERR_coarse_grained.txt").read_text() == ""
    assert json.loads((folder / "MERR_fine_grained.json").read_text()) == {}
    assert (folder / "merr.parquet").stat().st_size > 0
    # the other formats' 16 files, quality.json and its two plots (no votes: the tone only)
    assert len(summary.files) == 19 and all(path.is_file() for path in summary.files)
    assert json.loads((folder / "quality.json").read_text())["samples"] == 0
    assert (folder / "transcription_en_all.csv").read_text() == "name,sentence\n"
