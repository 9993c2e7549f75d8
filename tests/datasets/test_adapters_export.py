"""Every dataset adapter on its miniature, through the whole run to the export, read by the
programs that consume it.

What is under test is the adapter (ids, splits, native labels, extras, the label map and its
exclusions), the segment cutting (a time range of a file becomes a clip of its own) and the
export (MERR files, Parquet with its splits, LLaMA-Factory's ``dataset_info.json``, the
dataset card's Hugging Face configs). The transcript is the real asr stage's ``given``
backend (the dataset's own words); the other model stages are the export tests' stand-ins
(``tests/export/stand_ins.py``): they write real records and real artifacts from the clips
(the segment's range where the sample is one) with test cues, and give a pseudo-label where
the test names one (what the label stage's agreement would give a sample its dataset left
unlabelled). Each miniature runs once per module; the checks share the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from merr_factory.config import load_config
from merr_factory.inputs.datasets import ADAPTERS
from merr_factory.inputs.sample_ids import safe_sample_id
from merr_factory.media.audio import read_wav_mono
from merr_factory.media.transcode import count_frames
from merr_factory.run.workspace import open_workspace
from merr_factory.text import clean_text
from tests.conftest import run_pipeline
from tests.consumers import llama_factory
from tests.consumers.emotion_llama import FeatureFaceDataset
from tests.export.conftest import ExportRun
from tests.export.stand_ins import ALL_STAGES, with_stand_ins

pytest.importorskip("cv2", reason="Emotion-LLaMA reads frame 0 with OpenCV (the dev extra)")
pytest.importorskip("pandas", reason="Emotion-LLaMA reads the transcript CSV with pandas")

Fate = Literal["merr", "excluded", "dropped", "unlabelled"]


@dataclass(frozen=True)
class Sample:
    """What one sample of a miniature must become. ``split`` is the Hugging Face split (the
    adapter's split, ``train`` when it gives none); ``fate``: in the MERR files, excluded by
    the label map (with its reason), dropped by the filter (missing or corrupt file), or
    left without a label; ``segment``: the duration of the time range it is."""

    split: str
    native: str | None
    fate: Fate = "merr"
    label: str | None = None  # the run's label, when it is not the native word
    segment: float | None = None
    extra: dict[str, str] | None = None  # the extras the Parquet row carries (None: no check)


@dataclass(frozen=True)
class Case:
    miniature: str  # the key of the ``miniatures`` fixture
    samples: dict[str, Sample]
    dataset: str = ""  # the adapter, when it is not the miniature's name
    file: str | None = None  # the manifest file under the miniature
    label_map: dict[str, str | None] = field(default_factory=dict)
    pseudo: dict[str, str] = field(default_factory=dict)  # the label stage's pseudo-labels

    def expected_label(self, sample_id: str) -> str | None:
        sample = self.samples[sample_id]
        return self.pseudo.get(sample_id) or sample.label or sample.native


MER2025 = {
    "sample_00000001": Sample(
        "train", "happy", extra={"text_zh": "我们终于赢了", "openset": "happy, excited"}
    ),
    "sample_00000002": Sample("train", "worried", extra={"openset": "worried, tired"}),
    "samplenew3_00000004": Sample("test", None),
    "samplenew3_00000005": Sample("unlabelled", None, "unlabelled"),
}
MOSEI = safe_sample_id("-3g5yACwYnA_1"), safe_sample_id("-3g5yACwYnA_2")

CASES: dict[str, Case] = {
    "mer2023": Case(
        "mer2023",
        {
            "sample_00000001": Sample("train", "happy"),
            "sample_00000003": Sample("train", "sad"),  # .avi
            "sample_00000009": Sample("train", "angry", "dropped"),  # no clip
            "samplenew_00000004": Sample("train", None, "unlabelled"),
            "sample_00000002": Sample("test1", "worried"),
            "sample_00000007": Sample("test3", "surprise"),
        },
    ),
    "mer2024": Case(
        "mer2024",
        {
            "sample_00000001": Sample("train", "happy"),
            "sample_00000003": Sample("train", "sad"),
            "samplenew3_00000004": Sample("test", None),
        },
        pseudo={"samplenew3_00000004": "neutral"},
    ),
    "mer2025": Case("mer2025", MER2025, pseudo={"samplenew3_00000004": "surprise"}),
    "mer2026": Case(
        "mer2026",
        {
            **MER2025,
            "sample_00000001": Sample(
                "train",
                "happiness",
                label="happy",
                extra={"text_zh": "我们终于赢了", "openset": "happy, excited"},
            ),
            "sample_00000002": Sample(
                "train", "worry", label="worried", extra={"openset": "worried, tired"}
            ),
            # the test labels MERTools reads with with_gt=True (track1_test.csv)
            "samplenew3_00000004": Sample("test", "sad"),
        },
    ),
    "meld": Case(
        "meld",
        {
            "train_dia0_utt0": Sample("train", "neutral"),
            "train_dia0_utt1": Sample(
                "train",
                "joy",
                label="happy",
                extra={"sentiment": "positive", "episode_time": "0:16:21,940-0:16:23,442"},
            ),
            "train_dia125_utt3": Sample("train", "disgust", "dropped"),  # corrupt
            "dev_dia0_utt0": Sample("dev", "surprise"),
            "dev_dia110_utt7": Sample("dev", "sadness", "dropped"),  # missing
            "test_dia0_utt0": Sample("test", "fear"),
        },
    ),
    "iemocap": Case(
        "iemocap",
        {
            "Ses01F_impro01_F000": Sample(
                "train", "neu", label="neutral", segment=3.5, extra={"dominance": "2.5000"}
            ),
            "Ses01F_impro01_M000": Sample("train", "exc", label="happy", segment=2.8),
            "Ses01F_impro01_F001": Sample("train", "xxx", "excluded", segment=1.9),
            "Ses05M_script01_1_F000": Sample("test", "fru", label="angry", segment=2.0),
        },
        label_map={"fru": "angry"},
    ),
    "crema-d": Case(
        "crema-d",
        {
            "1001_DFA_HAP_HI": Sample("train", "hap", label="happy", extra={"intensity": "high"}),
            "1001_IEO_NEU_XX": Sample("train", "neu", label="neutral"),
            "1064_IEO_DIS_MD": Sample("train", "dis", "excluded"),
            "1076_MTI_SAD_XX": Sample("train", "sad", "dropped"),  # corrupt
        },
    ),
    "ravdess": Case(
        "ravdess",
        {
            "01-01-03-01-01-01-01": Sample("train", "happy"),
            "02-01-05-02-02-01-01": Sample(
                "train",
                "angry",
                extra={
                    "modality": "video-only",
                    "vocal": "speech",
                    "intensity": "strong",
                    "repetition": "1",
                },
            ),  # no sound
            "01-01-02-01-01-01-02": Sample("train", "calm", "excluded"),
        },
    ),
    "dfew": Case(
        "dfew",
        {
            "dfew_00001": Sample("train", "happy"),
            "dfew_00002": Sample("train", "disgust", "excluded"),
            "dfew_00003": Sample("test", "neutral"),
            "dfew_00099": Sample("test", "sad", "dropped"),  # no clip
        },
    ),
    "mafw": Case(
        "mafw",
        {
            "mafw_00025": Sample("train", "happiness", label="happy"),
            "mafw_00026": Sample("train", "helplessness", "excluded", extra={}),
            "mafw_00027": Sample("test", "anxiety", label="worried"),
        },
    ),
    "mafw-mapped": Case(  # a word the default map leaves out, mapped in by the config
        "mafw",
        {
            "mafw_00025": Sample("train", "happiness", label="happy", extra={}),
            "mafw_00026": Sample("train", "helplessness", label="sad", extra={}),
            "mafw_00027": Sample("test", "anxiety", label="worried"),
        },
        label_map={"helplessness": "sad"},
    ),
    "cmu-mosei": Case(
        "cmu-mosei",
        {
            MOSEI[0]: Sample("train", None, extra={"sentiment": "positive"}),
            MOSEI[1]: Sample("dev", None, extra={"sentiment": "negative"}),
            safe_sample_id("-3g5yACwYnA_3"): Sample("test", None, "dropped"),  # no clip
            safe_sample_id("../etc_1"): Sample("test", None, "dropped"),  # outside the root
        },
        pseudo={MOSEI[0]: "happy", MOSEI[1]: "sad"},
    ),
    "cmu-mosei-raw": Case(
        "cmu-mosei-raw",
        {
            "zk2jTlAtvSU_0": Sample("train", None, segment=2.0),
            "zk2jTlAtvSU_1": Sample("train", None, segment=2.5),
        },
        dataset="cmu-mosei",
        pseudo={"zk2jTlAtvSU_0": "surprise", "zk2jTlAtvSU_1": "happy"},
    ),
    "ch-sims": Case(
        "ch-sims",
        {"video_0001_0001": Sample("train", None, extra={"sentiment": "positive"})},
        pseudo={"video_0001_0001": "happy"},
    ),
    "manifest-jsonl": Case(
        "manifest",
        {
            "talk_500": Sample("train", "happy", segment=2.0, extra={"session": "3"}),
            "talk_2500": Sample("dev", "joy", "excluded", segment=1.5),
            "other": Sample("test", "sad", extra={}),
            "gone": Sample("train", "sad", "dropped"),
        },
        file="manifest.jsonl",
    ),
    "manifest-csv": Case(
        "manifest",
        {"talk_0": Sample("train", "happy", segment=2.0), "other": Sample("test", "sad")},
        file="manifest.csv",
    ),
    "manifest-one-split": Case(  # an evaluation set: its one split keeps its name
        "manifest",
        {
            "talk_0": Sample("test", "happy", segment=2.0),
            "other": Sample("test", "sad"),
            "talk_3000": Sample("test", "sad", segment=110 / 24 - 3.0),  # to the file's end
        },
        file="manifest-test.jsonl",
    ),
}


def test_every_adapter_runs_here() -> None:
    assert {case.dataset or case.miniature for case in CASES.values()} == set(ADAPTERS)


@dataclass
class DatasetRun:
    case: Case
    run: ExportRun
    root: Path

    @property
    def export(self) -> Path:
        return self.run.export

    def record(self, stage: str, sample_id: str) -> dict[str, Any] | None:
        path = self.run.output / "stages" / stage / f"{sample_id}.json"
        return json.loads(path.read_text())["data"] if path.is_file() else None

    def ids(self, *fates: Fate) -> list[str]:
        return sorted(key for key, sample in self.case.samples.items() if sample.fate in fates)

    def merr_names(self, grain: str = "coarse") -> list[str]:
        text = (self.export / f"MERR_{grain}_grained.txt").read_text()
        return [line.split(" ")[0] for line in text.splitlines()]

    def parquet(self, file: str = "merr.parquet") -> dict[str, dict[str, Any]]:
        return {row["sample_id"]: row for row in pq.read_table(self.export / file).to_pylist()}


@pytest.fixture(scope="module", params=list(CASES))
def dataset_run(
    request: pytest.FixtureRequest,
    miniatures: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> DatasetRun:
    case = CASES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    source = miniatures[case.miniature]
    raw = {
        "input": {
            "dataset": case.dataset or case.miniature,
            "root": str(source / case.file if case.file else source),
            "label_map": case.label_map,
        },
        "output": str(root / "out"),
        "executor": {"workers": 1},
        "stages": {"asr": {"backend": "given"}},
    }
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    tiers = {key: "fine" for key, sample in case.samples.items() if sample.fate == "merr"}
    loaded = load_config(config)
    workspace = open_workspace(loaded)
    given = workspace.stages["asr"]  # the real stage: the dataset's own words, no model
    with_stand_ins(workspace, tiers, case.pseudo).stages["asr"] = given
    summary = run_pipeline(loaded, ALL_STAGES, workspace)
    return DatasetRun(case, ExportRun(config=config, output=loaded.output, summary=summary), root)


def test_every_sample_has_its_ingest_record_and_only_broken_files_are_dropped(
    dataset_run: DatasetRun,
) -> None:
    case = dataset_run.case
    for sample_id, sample in case.samples.items():
        ingest = dataset_run.record("ingest", sample_id)
        assert ingest is not None, sample_id
        assert (ingest["split"] or "train", ingest["native_label"]) == (
            sample.split,
            sample.native,
        ), sample_id
        kept = dataset_run.record("filter", sample_id)
        assert kept is not None and kept["keep"] == (sample.fate != "dropped"), sample_id
    found = {path.stem for path in (dataset_run.run.output / "stages" / "ingest").glob("*.json")}
    assert found == set(case.samples)
    tallies = dataset_run.run.summary.tallies
    assert {tally.stage: tally.failed + tally.blocked for tally in tallies if tally.failed
            or tally.blocked} == {}  # fmt: skip
    assert dataset_run.run.tally("export").final == "written"


def test_the_merr_files_hold_the_labelled_samples_and_emotion_llama_loads_them(
    dataset_run: DatasetRun,
) -> None:
    export = dataset_run.export
    expected = dataset_run.ids("merr")
    assert sorted(dataset_run.merr_names("coarse")) == expected
    assert sorted(dataset_run.merr_names("fine")) == expected
    coarse = json.loads((export / "MERR_coarse_grained.json").read_text())
    assert sorted(coarse) == expected
    for line in (export / "MERR_coarse_grained.txt").read_text().splitlines():
        name, _, label, _ = line.split(" ")
        assert label == dataset_run.case.expected_label(name) == coarse[name]["pseu_emotion"]
        ingest = dataset_run.record("ingest", name)
        assert ingest is not None  # the words the dataset gives are the MERR text
        assert coarse[name]["text"] == clean_text(ingest["transcript"] or ""), name
    for ann, tasks in (
        ("MERR_coarse_grained.txt", ("emotion", "reason")),
        ("MERR_fine_grained.txt", ("emotion", "reason", "reason_v2")),
    ):
        dataset = FeatureFaceDataset(str(export / "videos"), str(export / ann))
        assert len(dataset) == len(expected)
        for index in range(len(dataset)):
            for task in tasks:
                item = dataset.item(index, task)
                assert item["video_features"].shape == (3, 1024)
                assert item["image"].ndim == 3 and item["image"].shape[2] == 3
                assert isinstance(item["sentence"], str) and item["sentence"] != "nan"
                assert item["answer"] and f"[{task}]" in item["instruction_input"]


def test_parquet_rows_carry_the_adapter_s_split_native_label_and_extras(
    dataset_run: DatasetRun,
) -> None:
    case = dataset_run.case
    rows = dataset_run.parquet()
    assert sorted(rows) == dataset_run.ids("merr")
    for sample_id, row in rows.items():
        sample = case.samples[sample_id]
        assert (row["split"], row["native_label"], row["label"]) == (
            sample.split,
            sample.native,
            case.expected_label(sample_id),
        ), sample_id
        if sample.extra is not None:
            assert json.loads(row["extra"] or "{}") == sample.extra, sample_id
        assert row["in_merr_coarse"] and row["in_merr_fine"]
        assert (dataset_run.export / row["video"]).is_file()
    splits = sorted({row["split"] for row in rows.values()})
    per_split = sorted(path.name for path in dataset_run.export.glob("merr-*.parquet"))
    if splits == ["train"]:  # no split given: merr.parquet is the train split
        assert per_split == []
    else:
        assert per_split == [f"merr-{split}.parquet" for split in splits]
        for split in splits:
            chosen = dataset_run.parquet(f"merr-{split}.parquet")
            assert sorted(chosen) == sorted(key for key, row in rows.items()
                                            if row["split"] == split)  # fmt: skip


def test_llama_factory_loads_every_dataset_info_entry(dataset_run: DatasetRun) -> None:
    export = dataset_run.export
    info = json.loads((export / "dataset_info.json").read_text())
    rows = dataset_run.parquet()
    splits = sorted({row["split"] for row in rows.values()})
    (name,) = [entry for entry in info if entry == "merr"]
    expected = {name} | ({f"{name}_{split}" for split in splits} if len(splits) > 1 else set())
    assert set(info) == expected
    for entry, settings in info.items():
        records = json.loads((export / settings["file_name"]).read_text())
        split = entry[len(name) + 1 :]
        assert len(records) == sum(1 for row in rows.values() if split in ("", row["split"]))
        for record in records:
            converted = llama_factory.convert(record, settings, str(export))
            llama_factory.check_for_template(converted, "qwen2_omni")


def test_hugging_face_datasets_loads_the_card_s_configs(
    dataset_run: DatasetRun, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets", reason="the 'export' extra is not installed")
    card = (dataset_run.export / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    rows = dataset_run.parquet()
    for config in front["configs"]:
        loaded = datasets.load_dataset(
            str(dataset_run.export), config["config_name"], cache_dir=str(tmp_path / "hf")
        )
        assert set(loaded) == {row["split"] for row in rows.values()}
        for split, table in loaded.items():
            assert sorted(table["sample_id"]) == sorted(
                key for key, row in rows.items() if row["split"] == split
            )


def test_excluded_samples_are_left_out_with_their_reason(dataset_run: DatasetRun) -> None:
    export = dataset_run.export
    merr = set(dataset_run.merr_names())
    rows = dataset_run.parquet()
    chunks = "".join(path.read_text() for path in sorted((export / "report").glob("rows-*.js")))
    for sample_id in dataset_run.ids("excluded", "unlabelled"):
        assert sample_id not in merr and sample_id not in rows
        entry = dataset_run.record("export", sample_id)
        assert entry is not None and entry["tier"] == "rejected", sample_id
        if dataset_run.case.samples[sample_id].fate == "unlabelled":
            continue
        ingest = dataset_run.record("ingest", sample_id)
        assert ingest is not None and ingest["label_status"] == "outside_label_set"
        assert ingest["excluded"] and "no mapping" in ingest["excluded"]
        reason = entry["reasons"][0]
        assert reason["code"] == "outside_label_set"
        assert reason["message"].startswith(ingest["excluded"])
        assert json.dumps(reason["message"], ensure_ascii=False) in chunks  # the report's row
        sample = dataset_run.case.samples[sample_id]
        assert entry["native_label"] == sample.native
        if sample.extra is not None:
            assert entry["extra"] == sample.extra
    for sample_id in dataset_run.ids("dropped"):
        assert dataset_run.record("export", sample_id) is None


def probe(path: Path) -> tuple[float, float | None]:
    """A clip's video duration (frames / rate) and its sound's duration (None: no sound)."""
    with av.open(str(path)) as clip:
        video = clip.streams.video[0]
        frames = sum(1 for packet in clip.demux(video) if packet.size)
        duration = frames / float(video.average_rate or video.guessed_rate)
    with av.open(str(path)) as clip:
        if not clip.streams.audio:
            return duration, None
        sound = clip.streams.audio[0]
        samples = sum(frame.samples for frame in clip.decode(sound))
        return duration, samples / sound.rate


def test_a_segment_is_exported_as_its_cut(dataset_run: DatasetRun) -> None:
    export = dataset_run.export
    rows = dataset_run.parquet()
    lines = {
        line.split(" ")[0]: int(line.split(" ")[1])
        for line in (export / "MERR_coarse_grained.txt").read_text().splitlines()
    }
    segments = {
        key: sample.segment
        for key, sample in dataset_run.case.samples.items()
        if sample.segment and sample.fate == "merr"
    }
    if not segments:
        pytest.skip("no segment samples in this dataset")
    for sample_id, seconds in segments.items():
        row = rows[sample_id]
        assert row["video"] == f"videos/{sample_id}.mp4"
        clip = export / row["video"]
        video, sound = probe(clip)
        assert video == pytest.approx(seconds, abs=0.05), sample_id
        assert sound is not None and sound == pytest.approx(seconds, abs=0.1), sample_id
        assert lines[sample_id] == count_frames(clip)
        assert row["duration"] == pytest.approx(seconds, abs=0.05)
        pcm, rate = read_wav_mono(export / row["audio"])
        assert len(pcm) / rate == pytest.approx(seconds, abs=0.05)
        with av.open(str(clip)) as reader:
            first = next(reader.decode(video=0)).to_ndarray(format="rgb24")
        assert first.shape[:2] == (row["height"], row["width"]) and np.any(first)
