"""Training formats, Parquet, curation CSV, card and plots, on a full run of the sample clips."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from merr_factory.curation.decisions import COLUMNS, curation_text, read_curation_csv
from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.stages.label import LabelSettings, LabelStage
from tests.llm.test_label import FACTS, codes, decide, ingest, synth

from .conftest import ExportRun

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_sharegpt_placeholders_match_media_lists(export_run: ExportRun) -> None:
    export = export_run.export
    records = json.loads((export / "merr_sharegpt.json").read_text(encoding="utf-8"))
    assert len(records) == 4  # the MERR coarse set
    with_audio = 0
    for record in records:
        user, assistant = record["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"].count("<video>") == len(record["videos"]) == 1
        assert user["content"].count("<audio>") == len(record["audios"])
        with_audio += len(record["audios"])
        for path in record["videos"] + record["audios"]:
            assert not Path(path).is_absolute() and (export / path).is_file()
        assert re.search(r"So the emotion is: (happy|sad|worried)\.$", assistant["content"])
    assert with_audio == 3  # samplenew_00000005 has no audio track: no <audio>, no list entry
    info = json.loads((export / "dataset_info.json").read_text())
    assert info["merr"]["file_name"] == "merr_sharegpt.json"
    assert info["merr"]["formatting"] == "sharegpt"
    assert info["merr"]["columns"] == {
        "messages": "messages",
        "videos": "videos",
        "audios": "audios",
    }


def test_instruction_pairs_cover_the_four_tasks(export_run: ExportRun) -> None:
    pairs = json.loads((export_run.export / "emotion_llama_instructions.json").read_text())
    by_task: dict[str, list[dict]] = {}
    for pair in pairs:
        by_task.setdefault(pair["task"], []).append(pair)
    assert {task: len(items) for task, items in by_task.items()} == {
        "emotion": 4,
        "reason": 4,
        "reason_v2": 2,
        "caption": 4,
    }
    for pair in pairs:
        assert pair["instruction"].startswith("<video><VideoHere></video> <feature>")
        assert f"[{pair['task']}]" in pair["instruction"]
    first = by_task["emotion"][0]
    assert first["video"] == "sample_00000001" and first["answer"] == "happy"
    assert "won the game" in first["instruction"]
    sentence = first["instruction"].split("The person in video says: ")[1].split(".  [")[0]
    transcripts = (export_run.export / "transcription_en_all.csv").read_text()
    assert f"sample_00000001,{sentence}" in transcripts or f'sample_00000001,"{sentence}"' in (
        transcripts
    )
    coarse = json.loads((export_run.export / "MERR_coarse_grained.json").read_text())
    fine = json.loads((export_run.export / "MERR_fine_grained.json").read_text())
    for pair in by_task["reason"] + by_task["caption"]:
        assert pair["answer"] == coarse[pair["video"]]["caption"]
    for pair in by_task["reason_v2"]:
        assert pair["answer"] == fine[pair["video"]]["smp_reason_caption"]


def test_parquet_loads_with_hugging_face_datasets(export_run: ExportRun, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="the 'export' extra is not installed")
    export = export_run.export
    loaded = datasets.load_dataset(
        "parquet",
        data_files=str(export / "merr.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded.num_rows == 5  # one row per coarse or fine sample
    rows = {row["sample_id"]: row for row in loaded}
    first = rows["sample_00000001"]
    assert first["tier"] == "fine" and first["label"] == "happy" and first["in_merr_fine"]
    assert first["AU_list"] == ["AU06", "AU12", "AU14"]
    assert first["language"] == "en" and first["asr_model"] == "stand-in/test-asr"
    assert (export / first["peak_frame"]).read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    assert (export / first["audio"]).read_bytes()[:4] == b"RIFF"
    assert rows["samplenew_00000004"]["peak_frame"] is None  # no face, no frame
    assert not rows["samplenew_00000004"]["in_merr_coarse"]
    assert rows["sample_00000003"]["reasons"] == [
        {"code": "not_reviewed", "message": "reasoning not checked"}
    ]
    assert "sample_00000006" not in rows  # rejected


def test_curation_csv_round_trips(export_run: ExportRun) -> None:
    path = export_run.export / "curation.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf" + b",".join(c.encode() for c in COLUMNS) + b"\r\n")
    table = read_curation_csv(path)
    assert table.problems == []
    rows = list(table.rows.values())
    assert [row.id for row in rows] == sorted(row.id for row in rows)
    assert len(rows) == 6 and {row.accept for row in rows} == {""}
    first = rows[0]
    assert (first.id, first.label, first.tier) == ("sample_00000001", "happy", "fine")
    assert first.transcript.startswith("I cannot believe")
    assert curation_text(rows).encode("utf-8-sig") == raw  # read back, written again: same


def test_the_exported_curation_csv_edited_drives_the_label_stage(
    export_run: ExportRun, tmp_path: Path
) -> None:
    """What the export writes, a person edits (a spreadsheet's UTF-8 CSV save) and the label
    stage reads back: a rejection, an acceptance with a corrected label, an untouched row."""
    with (export_run.export / "curation.csv").open(encoding="utf-8-sig", newline="") as handle:
        header, *lines = list(csv.reader(handle))
    at = {name: index for index, name in enumerate(header)}
    rejected, relabelled, untouched = (line[at["id"]] for line in lines[:3])
    new_label = "sad" if lines[1][at["label"]] != "sad" else "happy"
    assert new_label in MERR_LABELS
    lines[0][at["accept"]] = "no"
    lines[1][at["label"]], lines[1][at["accept"]] = new_label.capitalize(), "Yes"
    edited = tmp_path / "edited.csv"
    with edited.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([header, *lines])

    settings = LabelSettings(curation_csv=edited)
    out = decide(tmp_path, sample_id=rejected, settings=settings)
    assert out.tier == "rejected" and codes(out) == ["curated_out"]
    fixed = decide(tmp_path, sample_id=relabelled, settings=settings, synthesize=synth(new_label))
    assert (fixed.label, fixed.label_source, fixed.tier) == (new_label, "curation", "fine")
    written = lines[2][at["label"]] or None  # what the label stage had decided: no change
    upstream = {"ingest_data": ingest(written), "synthesize": synth(written)}
    same = decide(tmp_path, sample_id=untouched, settings=settings, **upstream)
    assert same == decide(tmp_path, sample_id=untouched, settings=LabelSettings(), **upstream)
    assert same.label == written and same.label_source != "curation"
    stage = LabelStage(settings, FACTS)
    assert stage.curation_row(untouched).accept == ""
    assert stage.curation_row(untouched).label == lines[2][at["label"]]
    assert read_curation_csv(edited).problems == []


def test_card_front_matter_and_statistics(export_run: ExportRun) -> None:
    yaml = pytest.importorskip("yaml")
    card = (export_run.export / "README.md").read_text(encoding="utf-8")
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["language"] == ["en", "zh"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"][0]["data_files"][0]["path"] == "merr.parquet"
    assert "| happy | 2 | 2 |" in body and "| sad | 1 | 0 |" in body
    assert "| **total** | 4 | 2 |" in body
    assert "| AU25 | 0 | 4 |" in body  # in no rule, at every peak
    assert "| joyful | 2 |" in body and "| no speech | 1 |" in body
    assert "| au_rule_disagrees | 1 |" in body
    assert "| llm | stand-in/test-llm | 6 |" in body
    assert "| prompt_version | v1 | 6 |" in body


def test_plots_are_pngs(export_run: ExportRun) -> None:
    pytest.importorskip("matplotlib", reason="the 'export' extra is not installed")
    plots = export_run.export / "plots"
    names = sorted(path.name for path in plots.iterdir())
    assert names == [
        "au_frequency.png",
        "durations.png",
        "labels.png",
        "quality_au_by_label.png",
        "quality_confusion_au_rule.png",
        "quality_confusion_face_expression.png",
        "quality_confusion_llm.png",
        "quality_confusion_tone_valence.png",
    ]
    for name in names:
        data = (plots / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000
        assert b"Software" not in data and b"matplotlib" not in data.lower()
