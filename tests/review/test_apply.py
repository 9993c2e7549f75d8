"""People's review decisions through the real label stage into the export: a human label
wins, edited texts replace the machine's, a rejected sample leaves the MERR files, checked
samples are marked and written as their own MERR files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from merr_factory.config import load_config
from merr_factory.curation.review_log import REVIEW_DIR, DecisionLog
from merr_factory.run.workspace import open_workspace
from merr_factory.stages.base import RunFacts
from merr_factory.stages.label import LabelSettings, LabelStage
from tests.conftest import run_pipeline
from tests.export.conftest import copy_clips, write_export_config
from tests.export.stand_ins import ALL_STAGES, FACTS, with_stand_ins


def run_with_real_label(config: Path):
    loaded = load_config(config)
    workspace = with_stand_ins(open_workspace(loaded))
    facts = RunFacts(label_set=FACTS.label_set, review_folder=loaded.output / REVIEW_DIR)
    settings = LabelSettings(fine_llm_check="none", deduplicate=False)
    workspace.stages["label"] = LabelStage(settings, facts)
    run_pipeline(loaded, ALL_STAGES, workspace)
    return loaded.output / "export"


def merr(folder: Path, stem: str) -> dict:
    return json.loads((folder / f"{stem}.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("review")
    config = write_export_config(root, copy_clips(root), export={"formats": ["merr", "parquet"]})
    before = run_with_real_label(config)
    coarse = merr(before, "MERR_coarse_grained")
    assert {"sample_00000001", "sample_00000002", "sample_00000003"} <= set(coarse)
    assert not (before / "human_checked").exists()
    log = DecisionLog(root / "out" / REVIEW_DIR, "ann")
    log.append("sample_00000001", "reject")
    log.append("sample_00000002", "relabel", label="worried")
    log.append("sample_00000003", "accept", label=coarse["sample_00000003"]["pseu_emotion"])
    log.append("sample_00000003", "edit", reasoning="Edited <b>by</b> a person.")
    log.append("sample_00000003", "edit", transcript="Corrected words.")
    return root, run_with_real_label(config)


def test_the_export_applies_the_decisions(reviewed: tuple[Path, Path]) -> None:
    _, export = reviewed
    coarse, fine = merr(export, "MERR_coarse_grained"), merr(export, "MERR_fine_grained")
    assert "sample_00000001" not in coarse and "sample_00000001" not in fine
    assert coarse["sample_00000002"]["pseu_emotion"] == "worried"
    assert fine["sample_00000003"]["smp_reason_caption"] == "Edited <b>by</b> a person."
    assert fine["sample_00000003"]["text"] == "Corrected words."
    txt = (export / "MERR_coarse_grained.txt").read_text("utf-8")
    assert "sample_00000002 " in txt and " worried " in txt and "sample_00000001 " not in txt


def test_checked_samples_are_marked_and_written_as_their_own_files(
    reviewed: tuple[Path, Path],
) -> None:
    _, export = reviewed
    subset = export / "human_checked"
    assert set(merr(subset, "MERR_coarse_grained")) == {"sample_00000002", "sample_00000003"}
    assert set(merr(subset, "MERR_fine_grained")) == {"sample_00000002", "sample_00000003"}
    lines = (subset / "MERR_fine_grained.txt").read_text("utf-8").splitlines()
    assert [line.split()[0] for line in lines] == ["sample_00000002", "sample_00000003"]
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(export / "merr.parquet").to_pylist()
    checked = {row["sample_id"]: row["human_checked"] for row in table}
    assert checked["sample_00000002"] and checked["sample_00000003"]
    assert sum(checked.values()) == 2 and "sample_00000001" not in checked


def test_an_undo_brings_the_machine_back(reviewed: tuple[Path, Path]) -> None:
    root, _ = reviewed
    log = DecisionLog(root / "out" / REVIEW_DIR, "ann")
    log.undo()
    log.undo()
    log.undo()  # the accept and both edits of sample 3
    export = run_with_real_label(root / "config.yaml")
    fine = merr(export, "MERR_fine_grained")
    assert fine.get("sample_00000003", {}).get("text") != "Corrected words."
    subset = merr(export / "human_checked", "MERR_coarse_grained")
    assert set(subset) == {"sample_00000002"}
