"""The quality report in the export (quality.json, the card's and the report's "Quality"
section, its plots) and ``merr-build evaluate``, on a full run of the sample clips with
stand-in upstream stages (their votes, tones and reasonings are test input: stand_ins.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import merr_factory.cli as cli
from merr_factory.quality.report import QUALITY_FILE, QualityReport
from merr_factory.run.workspace import open_workspace

from .conftest import ExportRun, copy_clips, run_export, write_export_config
from .stand_ins import ALL_STAGES, with_stand_ins


def records(output: Path, stage: str) -> dict[str, dict]:
    folder = output / "stages" / stage
    return {path.stem: json.loads(path.read_text())["data"] for path in folder.glob("*.json")}


def test_quality_json_matches_the_records(export_run: ExportRun) -> None:
    report = QualityReport.model_validate_json(
        (export_run.export / QUALITY_FILE).read_text("utf-8")
    )
    labels = records(export_run.output, "label")
    ingest = records(export_run.output, "ingest")
    assert report.samples == len(labels)
    labelled = [sample for sample in labels if ingest[sample]["label"] is not None]
    assert report.csv_labelled == len(labelled)
    for item in report.agreement:
        assert sum(map(sum, item.confusion)) == item.compared <= item.reference_samples
        if item.space == "label":
            pairs = [
                (ingest[s]["label"], labels[s]["votes"][item.source])
                for s in labelled
                if labels[s]["votes"].get(item.source) is not None
            ]
            assert item.compared == len(pairs)
            assert item.correct == sum(a == b for a, b in pairs)
    assert {item.source for item in report.agreement} == {
        "au_rule", "llm", "face_expression", "tone_valence"
    }  # fmt: skip
    fine = json.loads((export_run.export / "MERR_fine_grained.json").read_text("utf-8"))
    assert report.fine.records == len(fine)
    words = sorted(len(value["smp_reason_caption"].split()) for value in fine.values())
    assert report.fine.reasoning_words is not None
    assert (report.fine.reasoning_words.min, report.fine.reasoning_words.max) == (
        words[0],
        words[-1],
    )


def test_the_stand_in_reasoning_fails_the_absent_modality_checks(export_run: ExportRun) -> None:
    """The stand-in reasoning names "the words" and "the tone" whatever the clip: the image
    (sample_00000006) and the clip without audio (samplenew_00000005) have neither."""
    report = QualityReport.model_validate_json(
        (export_run.export / QUALITY_FILE).read_text("utf-8")
    )
    checks = {check.name: check for check in report.grounding.checks}
    expected = ["sample_00000006", "samplenew_00000005"]
    assert checks["voice_without_audio"].examples == expected
    assert checks["words_without_speech"].examples == expected
    assert checks["mentions_a_present_cue"].failed == 0


def test_card_and_report_show_the_quality_section(export_run: ExportRun) -> None:
    card = (export_run.export / "README.md").read_text("utf-8")
    section = card.split("## Quality", 1)[1].split("## Files", 1)[0]
    assert "| au_rule |" in section and "Cohen's kappa" in section
    assert "| voice_without_audio |" in section and "3,052 of 3,135" in section
    images = re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", section, flags=re.MULTILINE)
    assert len(images) == 5
    assert all((export_run.export / image).is_file() for image in images)
    page = (export_run.export / "report.html").read_text("utf-8")
    assert '<details id="quality">' in page and "quality_au_by_label.png" in page
    assert "__QUALITY__" not in page


def test_evaluate_writes_the_export_s_report_from_the_records(tmp_path: Path, monkeypatch) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path))
    run = run_export(config)
    monkeypatch.setattr(
        cli, "open_workspace", lambda loaded: with_stand_ins(open_workspace(loaded))
    )
    result = CliRunner().invoke(cli.app, ["evaluate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    written = run.output / QUALITY_FILE
    assert result.output.strip().splitlines()[-1].endswith(str(written))
    assert "Label sources against the CSV label" in result.output
    assert written.read_bytes() == (run.export / QUALITY_FILE).read_bytes()


def test_evaluate_says_why_when_nothing_is_ready(tmp_path: Path) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path))
    result = CliRunner().invoke(cli.app, ["evaluate", "--config", str(config)])
    assert result.exit_code == 2
    assert "nothing to evaluate: none of the 6 samples has a current label record" in result.output
    assert not (tmp_path / "out" / QUALITY_FILE).exists()


@pytest.mark.parametrize("formats", [["merr", "card", "report"]])
def test_without_the_quality_format_nothing_of_it_is_written(tmp_path: Path, formats) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path), export={"formats": formats})
    run = run_export(config, stages=ALL_STAGES)
    assert not (run.export / QUALITY_FILE).exists()
    assert "## Quality" not in (run.export / "README.md").read_text("utf-8")
    assert '<details id="quality">' not in (run.export / "report.html").read_text("utf-8")
