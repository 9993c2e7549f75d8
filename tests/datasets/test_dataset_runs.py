"""A dataset input through the run: the config form, and MELD's broken files to the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from merr_factory.config import ConfigError, load_config
from merr_factory.inputs.datasets.base import DatasetInput
from merr_factory.run.workspace import open_workspace
from tests.conftest import OFFLINE_STAGES, WriteConfig, run_pipeline, stored, tally


def write_config(tmp_path: Path, input: object, **extra: object) -> Path:
    raw = {
        "input": input,
        "output": str(tmp_path / "out"),
        "executor": {"workers": 1},
        "stages": OFFLINE_STAGES,
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_dataset_form_of_input(tmp_path: Path, miniatures: dict[str, Path]) -> None:
    root = str(miniatures["meld"])
    config = load_config(
        write_config(tmp_path, {"dataset": "meld", "root": root, "label_map": {"Disgust": "x"}})
    )
    assert isinstance(config.input, DatasetInput)
    assert config.input.label_map == {"disgust": "x"}
    assert str(config.input) == f"meld dataset at {root}"


@pytest.mark.parametrize(
    ("input", "extra", "message"),
    [
        ({"dataset": "nope", "root": "."}, {}, "input.DatasetInput.dataset"),
        ({"dataset": "meld", "root": "/no/such/dir"}, {}, "input.root: /no/such/dir does not"),
        ({"dataset": "meld", "root": "."}, {"labels": "x.csv"}, "a dataset input reads its own"),
        ({"dataset": "manifest", "root": "."}, {}, "a manifest is a JSONL or CSV file"),
        ({"dataset": "iemocap", "root": ".", "fold": 6}, {}, "fold"),
    ],
)
def test_bad_dataset_inputs_are_one_line(
    tmp_path: Path, input: dict, extra: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_config(write_config(tmp_path, input, **extra))
    assert "\n" not in str(error.value)


def test_meld_with_missing_and_corrupt_files_runs_to_the_end(
    tmp_path: Path, miniatures: dict[str, Path]
) -> None:
    path = write_config(tmp_path, {"dataset": "meld", "root": str(miniatures["meld"])})
    summary = run_pipeline(path, ["ingest", "filter"])
    assert tally(summary, "ingest")["computed"] == 6  # a record for each labelled utterance
    records = stored(tmp_path / "out")
    ingest = {key.split("/")[1][: -len(".json")]: value for key, value in records.items()
              if key.startswith("ingest/")}  # fmt: skip
    missing = ingest["dev_dia110_utt7"]["data"]
    assert missing["probe"]["error"] == "file not found (named by the dataset)"
    corrupt = ingest["train_dia125_utt3"]["data"]
    assert not corrupt["probe"]["readable"]
    assert corrupt["native_label"] == "disgust" and corrupt["label_status"] == "outside_label_set"
    assert "no mapping" in corrupt["excluded"]
    good = ingest["train_dia0_utt1"]["data"]
    assert (good["name"], good["label"], good["native_label"], good["split"]) == (
        "train_dia0_utt1",
        "happy",
        "joy",
        "train",
    )
    assert (good["speaker"], good["transcript"], good["language"]) == ("Monica", "Oh my God!", "en")
    assert good["probe"]["readable"] and good["segment"] is None
    verdicts = {
        key.split("/")[1][: -len(".json")]: value["data"]["keep"]
        for key, value in records.items()
        if key.startswith("filter/")
    }
    assert verdicts["train_dia0_utt1"] and not verdicts["dev_dia110_utt7"]
    assert not verdicts["train_dia125_utt3"]


def test_a_label_csv_run_keeps_its_ingest_fingerprint(write_config: WriteConfig) -> None:
    """Whole files from a folder carry no dataset fields: their records stay as they were."""
    config = load_config(write_config())
    workspace = open_workspace(config)
    sample = workspace.samples[0]
    identity = workspace.stages["ingest"].source_identity(sample, workspace.labels[sample.id])
    assert set(identity["file"]) == {"relpath", "size", "mtime_ns"}
    assert set(identity["label"]) == {"label", "valence"}


def test_given_transcripts_replace_the_asr_model(
    tmp_path: Path, miniatures: dict[str, Path]
) -> None:
    stages = {**OFFLINE_STAGES, "asr": {"backend": "given"}}
    path = write_config(tmp_path, {"dataset": "crema-d", "root": str(miniatures["crema-d"])})
    raw = yaml.safe_load(path.read_text())
    raw["stages"] = stages
    path.write_text(yaml.safe_dump(raw))
    summary = run_pipeline(path, ["ingest", "filter", "audio", "asr"])
    assert tally(summary, "asr")["failed"] == 0
    records = stored(tmp_path / "out")
    given = records["asr/1001_DFA_HAP_HI.json"]["data"]
    assert (given["backend"], given["text"], given["language"], given["text_en"]) == (
        "given",
        "Don't forget a jacket",
        "en",
        "Don't forget a jacket",
    )
    assert "asr/1076_MTI_SAD_XX.json" not in records  # the corrupt clip stopped at the filter


def test_a_manifest_line_without_label_split_or_words_keeps_what_it_gives(
    tmp_path: Path, miniatures: dict[str, Path]
) -> None:
    """Arousal, its scale, the language and the extra columns reach the record on their own."""
    line = {
        "path": str(miniatures["manifest"] / "media" / "other.mp4"),
        "id": "bare",
        "arousal": 0.3,
        "scale": "-1..1",
        "language": "en",
        "session": 4,
    }
    manifest = tmp_path / "bare.jsonl"
    manifest.write_text(json.dumps(line) + "\n")
    run_pipeline(write_config(tmp_path, {"dataset": "manifest", "root": str(manifest)}), ["ingest"])
    ingest = stored(tmp_path / "out")["ingest/bare.json"]["data"]
    assert (ingest["arousal"], ingest["scale"], ingest["language"], ingest["extra"]) == (
        0.3,
        "-1..1",
        "en",
        {"session": "4"},
    )
