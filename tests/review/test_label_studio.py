"""Label Studio for teams: ``review --to label-studio`` writes a config and tasks Label
Studio took; ``--from label-studio`` reads a real Label Studio export (made by
``scripts/make_label_studio_fixture.py``, see ``data/README.md``) into the decisions."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from typer.testing import CliRunner

from merr_factory.cli import app
from merr_factory.config import load_config
from merr_factory.curation.review_log import REVIEW_DIR, read_log, read_reviews
from merr_factory.review.app import export_entries, review_workspace
from merr_factory.review.label_studio import read_export

EXPORT = Path(__file__).parent / "data" / "label_studio_export.json"
USER = "label-studio-1"  # the fixture's one Label Studio user


def review(config: Path, *arguments: str) -> str:
    result = CliRunner().invoke(app, ["review", "--config", str(config), *arguments])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_tasks_carry_the_sample_and_the_machine_answers(exported: Path, tmp_path: Path):
    folder = tmp_path / "ls"
    review(exported, "--to", "label-studio", str(folder))
    loaded = load_config(exported)
    entries = {e.sample_id: e for e in export_entries(review_workspace(loaded))}
    tasks = json.loads((folder / "tasks.json").read_text("utf-8"))
    assert sorted(task["data"]["sample_id"] for task in tasks) == sorted(entries)
    config = ElementTree.fromstring((folder / "label_config.xml").read_text("utf-8"))
    label_control = config.find("Choices[@name='label']")
    assert [c.get("value") for c in label_control] == list(loaded.label_set)
    for task in tasks:
        entry = entries[task["data"]["sample_id"]]
        predicted = {r["from_name"]: r["value"] for r in task["predictions"][0]["result"]}
        assert predicted["label"] == {"choices": [entry.label]}
        assert task["data"]["cues"].startswith(f"label: {entry.label} ")
        video = task["data"]["video"].removeprefix("/data/local-files/?d=")
        assert (folder / video).read_bytes()[4:8] == b"ftyp"  # the playable copy
    # The tasks the fixture's Label Studio imported are the ones written now.
    exported_data = {
        task["data"]["sample_id"]: task["data"] for task in json.loads(EXPORT.read_text())
    }
    for task in tasks:
        assert exported_data[task["data"]["sample_id"]] == task["data"]


def test_a_real_export_becomes_the_same_decisions(exported: Path) -> None:
    output = load_config(exported).output
    printed = review(exported, "--from", "label-studio", str(EXPORT))
    # 4 annotations not cancelled: accept, reject, relabel, accept with 2 edited texts.
    assert "read 4 annotations" in printed and f"{USER} 6" in printed
    reviews = read_reviews(output / REVIEW_DIR).by_annotator[USER]
    assert (reviews["sample_00000001"].verdict, reviews["sample_00000001"].label) == (
        "accept", "happy"
    )  # fmt: skip
    assert reviews["sample_00000002"].verdict == "reject"
    assert (reviews["sample_00000003"].verdict, reviews["sample_00000003"].label) == (
        "accept", "neutral"
    )  # fmt: skip
    edited = reviews["sample_00000006"]
    assert edited.reasoning == "She smiles broadly and her voice lifts: happy."
    assert edited.transcript == "I can't believe it." and edited.label == "happy"
    assert "samplenew_00000004" not in reviews and "samplenew_00000005" not in reviews
    actions = [(d.sample_id, d.action) for d in read_log(output / REVIEW_DIR / f"{USER}.jsonl")]
    assert ("sample_00000003", "relabel") in actions and ("sample_00000001", "accept") in actions
    # Read again: nothing new is written.
    assert "none new" in review(exported, "--from", "label-studio", str(EXPORT))
    assert len(read_log(output / REVIEW_DIR / f"{USER}.jsonl")) == len(actions)


def test_labels_outside_the_set_and_unknown_samples_are_skipped(
    exported: Path, tmp_path: Path
) -> None:
    tasks = json.loads(EXPORT.read_text("utf-8"))
    tasks[0]["annotations"][0]["result"][0]["value"]["choices"] = ["disgust"]
    tasks[1]["data"]["sample_id"] = "not_a_sample"
    broken = tmp_path / "export.json"
    broken.write_text(json.dumps(tasks))
    entries = {e.sample_id: e for e in export_entries(review_workspace(load_config(exported)))}
    done = read_export(broken, tmp_path / "review", entries, ("happy", "sad", "neutral"))
    assert any("'disgust' is not in label_set" in problem for problem in done.problems)
    assert any("not_a_sample" in problem for problem in done.problems)
    reviews = read_reviews(tmp_path / "review").by_annotator[USER]
    assert set(reviews) == {"sample_00000003", "sample_00000006"}
