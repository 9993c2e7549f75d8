"""A dataset's split, native label and extras through the export (stand-in stages)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from tests.conftest import CLIPS
from tests.export.conftest import run_export

SPLITS = {
    "sample_00000001": "train",
    "sample_00000002": "test",
    "sample_00000003": "train",
    "samplenew_00000004": "dev",
    "samplenew_00000005": "test",
}


def test_splits_reach_parquet_card_and_dataset_info(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    lines = [
        {
            "id": name,
            "path": str(next(CLIPS.glob(f"{name}.*"))),
            "label": "happy",
            "split": split,
            "speaker": "s1",
            "openset": "['joyful', 'proud']" if name == "sample_00000001" else None,
        }
        for name, split in SPLITS.items()
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "input": {"dataset": "manifest", "root": str(manifest)},
                "output": str(tmp_path / "out"),
                "executor": {"workers": 1},
            }
        )
    )
    run = run_export(config)
    export = run.export
    table = pq.read_table(export / "merr.parquet").to_pylist()
    by_id = {row["sample_id"]: row for row in table}
    assert {name: row["split"] for name, row in by_id.items()} == SPLITS
    assert by_id["sample_00000001"]["extra"] == "{\"openset\": \"['joyful', 'proud']\"}"
    assert by_id["sample_00000001"]["native_label"] == "happy"
    assert by_id["sample_00000001"]["speaker"] == "s1"
    for split in ("train", "dev", "test"):
        rows = pq.read_table(export / f"merr-{split}.parquet").to_pylist()
        assert sorted(row["sample_id"] for row in rows) == sorted(
            name for name, chosen in SPLITS.items() if chosen == split
        )
    card = (export / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["configs"][0]["data_files"] == [
        {"split": split, "path": f"merr-{split}.parquet"} for split in ("dev", "test", "train")
    ]
    # LLaMA-Factory: one entry for all conversations (MERR's coarse set), one per split
    in_sharegpt: dict[str, int] = {}
    for row in table:
        if row["in_merr_coarse"]:
            in_sharegpt[row["split"]] = in_sharegpt.get(row["split"], 0) + 1
    assert len(in_sharegpt) > 1
    info = json.loads((export / "dataset_info.json").read_text())
    name = next(iter(info))
    assert set(info) == {name} | {f"{name}_{split}" for split in in_sharegpt}
    for split, count in in_sharegpt.items():
        records = json.loads((export / info[f"{name}_{split}"]["file_name"]).read_text())
        assert len(records) == count
