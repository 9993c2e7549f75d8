"""Each adapter on its dataset's miniature: the samples, labels, transcripts, splits and
segments it yields, and one problem line (file, line, reason) for each broken case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from merr_factory.inputs.datasets import ADAPTERS, DatasetRead, read_dataset
from merr_factory.inputs.datasets.base import DatasetInput
from merr_factory.inputs.labels import LabelRow
from merr_factory.inputs.segment import Segment
from merr_factory.knowledge.emotions import MERR_LABELS


def read(name: str, root: Path, **settings: Any) -> DatasetRead:
    return read_dataset(DatasetInput(dataset=name, root=root, **settings), tuple(MERR_LABELS))


def rows(found: DatasetRead) -> dict[str, LabelRow]:
    assert [source.id for source in found.samples] == sorted(found.labels)
    return found.labels


def problem(found: DatasetRead, text: str) -> str:
    """The one problem line that holds ``text``."""
    matches = [line for line in found.problems if text in line]
    assert len(matches) == 1, found.problems
    return matches[0]


def test_every_dataset_has_an_adapter_and_a_miniature(miniatures: dict[str, Path]) -> None:
    assert set(ADAPTERS) == set(DatasetInput.model_fields["dataset"].annotation.__args__)
    assert set(ADAPTERS) <= set(miniatures)


def test_mer2023(miniatures: dict[str, Path]) -> None:
    found = read("mer2023", miniatures["mer2023"])
    labels = rows(found)
    assert {key: (row.label, row.valence, row.split) for key, row in labels.items()} == {
        "sample_00000001": ("happy", 2.5, "train"),
        "sample_00000003": ("sad", None, "train"),  # valence 'x': reported, left empty
        "sample_00000009": ("angry", -2.0, "train"),  # its clip is missing
        "samplenew_00000004": (None, None, "train"),  # no label row: unlabelled
        "sample_00000002": ("worried", -1.0, "test1"),
        "sample_00000007": ("surprise", None, "test3"),  # test3 has no valence column
    }
    sources = {source.id: source for source in found.samples}
    assert sources["sample_00000003"].relpath == "train/sample_00000003.avi"  # any extension
    assert sources["sample_00000009"].missing and not sources["sample_00000001"].missing
    assert labels["sample_00000001"].scale == "-5..5"
    assert problem(found, "valence 'x'").startswith(f"{miniatures['mer2023']}/train-label.csv:3:")
    assert "train-label.csv:4: no media file sample_00000009" in problem(found, "00000009")


def test_mer2024(miniatures: dict[str, Path]) -> None:
    labels = rows(read("mer2024", miniatures["mer2024"]))
    assert {key: (row.label, row.split) for key, row in labels.items()} == {
        "sample_00000001": ("happy", "train"),
        "sample_00000003": ("sad", "train"),
        "samplenew3_00000004": (None, "test"),
    }


@pytest.mark.parametrize("name", ["mer2025", "mer2026"])
def test_mer2025_and_2026(miniatures: dict[str, Path], name: str) -> None:
    found = read(name, miniatures[name])
    labels = rows(found)
    # MER2026 spells happiness / worry: normalised to the MER words
    assert labels["sample_00000001"].label == "happy"
    assert labels["sample_00000002"].label == "worried"
    assert labels["sample_00000001"].text == "We finally won"
    assert labels["sample_00000001"].extra == {
        "text_zh": "我们终于赢了",
        "openset": "happy, excited",
    }
    assert labels["sample_00000002"].text is None  # empty / NaN subtitle cells
    assert (labels["samplenew3_00000004"].split, labels["samplenew3_00000005"].split) == (
        "test",
        "unlabelled",
    )
    # the test labels MERTools reads with with_gt (MER2026's miniature has them)
    assert labels["samplenew3_00000004"].label == ("sad" if name == "mer2026" else None)


@pytest.mark.parametrize("name", ["mer2025", "mer2026"])
def test_mer_open_set_cells_are_read_as_mertools_reads_them(
    miniatures: dict[str, Path], name: str
) -> None:
    found = read(name, miniatures[name])
    extras = {key: row.extra.get("openset") for key, row in rows(found).items()}
    assert extras == {
        "sample_00000001": "happy, excited",  # the human words, not the automatic 'joyful'
        "sample_00000002": "worried, tired",  # [Worried, tired]: bare words in brackets
        "samplenew3_00000004": "calm",  # only the automatic file names it
        "samplenew3_00000005": None,  # an empty cell: no words, and no problem
    }
    assert not [line for line in found.problems if "openset" in line]


def test_meld(miniatures: dict[str, Path]) -> None:
    found = read("meld", miniatures["meld"])
    labels = rows(found)
    # ids restart per split: the split is part of the sample id
    assert set(labels) == {
        "train_dia0_utt0",
        "train_dia0_utt1",
        "train_dia125_utt3",
        "dev_dia0_utt0",
        "dev_dia110_utt7",
        "test_dia0_utt0",
    }
    first = labels["train_dia0_utt0"]
    assert (first.native, first.label, first.speaker, first.split) == (
        "neutral",
        "neutral",
        "Chandler",
        "train",
    )
    # UTF-8 with CRLF line ends
    assert first.text == "also I was the point person on my company\u2019s transition"
    assert (labels["train_dia0_utt1"].native, labels["train_dia0_utt1"].label) == ("joy", "happy")
    assert labels["dev_dia110_utt7"].label == "sad"
    disgust = labels["train_dia125_utt3"]
    assert disgust.native == "disgust" and "no mapping" in (disgust.excluded or "")
    sources = {source.id: source for source in found.samples}
    assert sources["dev_dia110_utt7"].missing  # a record still, its ingest says why
    assert sources["test_dia0_utt0"].relpath.endswith("output_repeated_splits_test/dia0_utt0.mp4")
    assert "dev_sent_emo.csv:3: no clip dia110_utt7.mp4" in problem(found, "dia110_utt7")
    assert "train_sent_emo.csv:5: Dialogue_ID 'x'" in problem(found, "Dialogue_ID")


def test_meld_clips_in_mertools_renamed_folders(tmp_path: Path) -> None:
    """MERTools' preprocess/meld.py reads the clips from train/, dev/ and test/."""
    header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID\r\n"
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}_sent_emo.csv").write_text(
            header + "1,Hi.,Ross,joy,positive,0,0\r\n", newline=""
        )
        (tmp_path / split).mkdir()
        (tmp_path / split / "dia0_utt0.mp4").write_bytes(b"")
    found = read("meld", tmp_path)
    sources = {source.id: source for source in found.samples}
    assert {key: source.relpath for key, source in sources.items()} == {
        "train_dia0_utt0": "train/dia0_utt0.mp4",
        "dev_dia0_utt0": "dev/dia0_utt0.mp4",
        "test_dia0_utt0": "test/dia0_utt0.mp4",
    }
    assert not any(source.missing for source in sources.values()) and not found.problems


def test_meld_label_map_override(miniatures: dict[str, Path]) -> None:
    labels = rows(read("meld", miniatures["meld"], label_map={"Disgust": "angry", "joy": None}))
    assert labels["train_dia125_utt3"].label == "angry"
    assert labels["train_dia125_utt3"].excluded is None
    joy = labels["train_dia0_utt1"]
    assert joy.label == "joy" and "excluded by the label map" in (joy.excluded or "")


def test_iemocap(miniatures: dict[str, Path]) -> None:
    found = read("iemocap", miniatures["iemocap"])
    labels = rows(found)
    sources = {source.id: source for source in found.samples}
    assert set(labels) == {
        "Ses01F_impro01_F000",
        "Ses01F_impro01_M000",
        "Ses01F_impro01_F001",
        "Ses05M_script01_1_F000",
    }
    # the speaker's half: left when the speaker's letter is the session's, else right
    assert sources["Ses01F_impro01_F000"].segment == Segment(0.5, 4.0, (0.0, 0.0, 0.5, 1.0))
    assert sources["Ses01F_impro01_M000"].segment == Segment(4.7, 7.5, (0.5, 0.0, 0.5, 1.0))
    assert sources["Ses05M_script01_1_F000"].segment == Segment(1.0, 3.0, (0.5, 0.0, 0.5, 1.0))
    assert sources["Ses01F_impro01_F000"].relpath == "Session1/dialog/avi/DivX/Ses01F_impro01.avi"
    neutral, excited = labels["Ses01F_impro01_F000"], labels["Ses01F_impro01_M000"]
    assert (neutral.label, neutral.valence, neutral.arousal, neutral.scale) == (
        "neutral",
        2.5,
        2.5,
        "1..5",
    )
    assert (excited.native, excited.label, excited.speaker) == ("exc", "happy", "Ses01_M")
    assert excited.text == "Do you have your forms?"
    assert labels["Ses01F_impro01_F001"].excluded  # xxx: kept, excluded with a reason
    assert labels["Ses05M_script01_1_F000"].native == "fru"
    # leave-one-session-out: session 5 is the default test fold
    assert {row.split for key, row in labels.items() if key.startswith("Ses01")} == {"train"}
    assert labels["Ses05M_script01_1_F000"].split == "test"
    assert read("iemocap", miniatures["iemocap"], fold=1).labels["Ses01F_impro01_F000"].split == (
        "test"
    )
    assert "Ses01F_impro01.txt:12: time range 7.0-6.0 s is reversed" in problem(found, "reversed")
    assert "Ses01F_impro01.txt:13: malformed summary line" in problem(found, "malformed")
    assert "F001 starts at 6.0 s" not in "\n".join(found.problems)  # other speaker: no overlap


def test_iemocap_summary_separators_as_speechbrain_reads_them(tmp_path: Path) -> None:
    """SpeechBrain's pattern takes runs of spaces around the times' hyphen and of commas
    and spaces between V, A and D; a time with two points is a problem, not a crash."""
    evaluation = tmp_path / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro02.txt"
    evaluation.parent.mkdir(parents=True)
    evaluation.write_text(
        "[1.0000 -2.5000]\tSes01F_impro02_F000\tsad\t[2.0000,2.5000,  3.0000]\n"
        "[3.0000  -  4.0000]\tSes01F_impro02_M000\tang\t[1.5000, 4.0000, 4.0000]\n"
        "[5.0.1 - 6.0000]\tSes01F_impro02_F001\tneu\t[2.5000, 2.5000, 2.5000]\n"
    )
    found = read("iemocap", tmp_path)
    sources = {source.id: source for source in found.samples}
    assert sources["Ses01F_impro02_F000"].segment == Segment(1.0, 2.5, (0.0, 0.0, 0.5, 1.0))
    assert sources["Ses01F_impro02_M000"].segment == Segment(3.0, 4.0, (0.5, 0.0, 0.5, 1.0))
    first = found.labels["Ses01F_impro02_F000"]
    assert (first.valence, first.arousal, first.extra) == (2.0, 2.5, {"dominance": "3.0000"})
    assert "Ses01F_impro02.txt:3: malformed summary line" in problem(found, "malformed")


def test_crema_d(miniatures: dict[str, Path]) -> None:
    found = read("crema-d", miniatures["crema-d"])
    labels = rows(found)
    assert set(labels) == {
        "1001_DFA_HAP_HI",
        "1001_IEO_NEU_XX",
        "1064_IEO_DIS_MD",
        "1076_MTI_SAD_XX",
    }
    happy = labels["1001_DFA_HAP_HI"]
    assert (happy.label, happy.text, happy.speaker, happy.extra) == (
        "happy",
        "Don't forget a jacket",
        "1001",
        {"intensity": "high"},
    )
    assert labels["1064_IEO_DIS_MD"].excluded
    assert "1002_XYZ_HAP_HI.flv: name is not" in problem(found, "1002_XYZ")


def test_ravdess(miniatures: dict[str, Path]) -> None:
    found = read("ravdess", miniatures["ravdess"])
    labels = rows(found)
    assert set(labels) == {"01-01-03-01-01-01-01", "02-01-05-02-02-01-01", "01-01-02-01-01-01-02"}
    video_only = labels["02-01-05-02-02-01-01"]
    assert (video_only.label, video_only.text, video_only.speaker) == (
        "angry",
        "Dogs are sitting by the door",
        "Actor_01",
    )
    assert video_only.extra["modality"] == "video-only"
    assert labels["01-01-03-01-01-01-01"].extra["repetition"] == "1"
    # the sixth field is the repetition, 01 or 02 (RAVDESS's naming convention)
    assert "01-01-04-01-01-03-02.mp4: name is not" in problem(found, "-03-02.mp4")
    assert labels["01-01-02-01-01-01-02"].native == "calm"
    assert labels["01-01-02-01-01-01-02"].excluded
    assert "01-01-09-01-01-01-02.mp4: name is not" in problem(found, "-09-")


def test_dfew_folds(miniatures: dict[str, Path]) -> None:
    found = read("dfew", miniatures["dfew"])
    labels = rows(found)
    assert {key: (row.label, row.split) for key, row in labels.items()} == {
        "dfew_00001": ("happy", "train"),
        "dfew_00002": ("disgust", "train"),
        "dfew_00003": ("neutral", "test"),
        "dfew_00099": ("sad", "test"),
    }
    assert "set_1.csv:3: no clip 00099.mp4" in problem(found, "00099")
    assert "set_1.csv:4: video_name 'x'" in problem(found, "video_name")
    second = rows(read("dfew", miniatures["dfew"], fold=2))
    assert {key: (row.label, row.split) for key, row in second.items()} == {
        "dfew_00003": ("angry", "train"),
        "dfew_00001": ("happy", "test"),
    }


def test_dfew_split_folders_as_the_readme_spells_them(tmp_path: Path) -> None:
    """The DFEW README names EmoLabel_DataSplit/train(single_labeled) (an underscore)."""
    for split, row in (("train", "1,4"), ("test", "2,7")):
        folder = tmp_path / "EmoLabel_DataSplit" / f"{split}(single_labeled)"
        folder.mkdir(parents=True)
        (folder / "set_1.csv").write_text(f"video_name,label\n{row}\n")
    labels = read("dfew", tmp_path).labels
    assert {key: (row.label, row.split) for key, row in labels.items()} == {
        "dfew_00001": ("angry", "train"),
        "dfew_00002": ("fear", "test"),
    }


def test_mafw(miniatures: dict[str, Path]) -> None:
    found = read("mafw", miniatures["mafw"])
    labels = rows(found)
    assert (labels["mafw_00025"].label, labels["mafw_00025"].split) == ("happy", "train")
    assert (labels["mafw_00027"].native, labels["mafw_00027"].label) == ("anxiety", "worried")
    unmapped = labels["mafw_00026"]  # one of MAFW's 11 words that the default map leaves out
    assert unmapped.native == "helplessness" and unmapped.excluded and unmapped.extra == {}
    assert "test.txt:2: not '<clip>.mp4 <label>'" in problem(found, "broken line")


def test_a_mafw_compound_label_is_kept_as_an_extra(tmp_path: Path) -> None:
    """Not in MAFW's single-label split files, but kept and excluded should one appear."""
    split = tmp_path / "split" / "single" / "no_caption" / "set_1"
    split.mkdir(parents=True)
    (split / "train.txt").write_text("00026.mp4 anger_disgust\n")
    (split / "test.txt").write_text("")
    compound = rows(read("mafw", tmp_path))["mafw_00026"]
    assert compound.extra == {"compound": "anger_disgust"} and compound.excluded
    mapped = rows(read("mafw", tmp_path, label_map={"anger_disgust": "angry"}))["mafw_00026"]
    assert mapped.label == "angry" and not mapped.excluded


def test_cmu_mosei_mmsa(miniatures: dict[str, Path]) -> None:
    found = read("cmu-mosei", miniatures["cmu-mosei"])
    labels = rows(found)
    by_text = {row.text: row for row in labels.values()}
    won = by_text["We finally won"]
    assert (won.label, won.valence, won.scale, won.split, won.extra) == (
        None,
        2.0,
        "-3..3",
        "train",
        {"sentiment": "positive"},
    )
    assert by_text["It is over"].split == "dev"  # MMSA's "valid"
    # a cell that names a folder outside the root is never opened
    escape = next(source for source in found.samples if labels[source.id].text == "Escape")
    assert escape.missing and ".." not in escape.relpath
    assert "label.csv:5: no clip Raw/../etc/1.mp4" in problem(found, "../etc")


def test_cmu_mosei_raw_segments(miniatures: dict[str, Path]) -> None:
    found = read("cmu-mosei", miniatures["cmu-mosei-raw"])
    sources = {source.id: source for source in found.samples}
    assert sources["zk2jTlAtvSU_1"].segment == Segment(2.0, 4.5)
    assert found.labels["zk2jTlAtvSU_1"].text == "we finally won"
    assert "zk2jTlAtvSU.txt:3: times 'x'" in problem(found, "times")


def test_ch_sims(miniatures: dict[str, Path]) -> None:
    labels = rows(read("ch-sims", miniatures["ch-sims"]))
    row = labels["video_0001_0001"]
    assert (row.text, row.language, row.valence, row.scale) == ("我们终于赢了", "zh", 0.8, "-1..1")


def test_ch_sims_as_mmsa_distributes_it(tmp_path: Path) -> None:
    """CH-SIMS (v1) from MMSA: label.csv with MMSA-FET's columns; its annotation word and
    unimodal scores kept; a bare clip number finds the zero-padded file (MERTools' sims.py)."""
    (tmp_path / "Raw" / "video_0001").mkdir(parents=True)
    (tmp_path / "Raw" / "video_0001" / "0001.mp4").write_bytes(b"")
    (tmp_path / "label.csv").write_text(
        "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"
        "video_0001,1,不太好,-0.6,-0.8,-0.4,-0.6,Negative,valid\n",
        encoding="utf-8",
    )
    found = read("ch-sims", tmp_path)
    row = rows(found)["video_0001_1"]
    assert (row.valence, row.scale, row.split, row.language) == (-0.6, "-1..1", "dev", "zh")
    assert row.extra == {
        "sentiment": "negative",
        "label_t": "-0.8",
        "label_a": "-0.4",
        "label_v": "-0.6",
    }
    assert found.samples[0].relpath == "Raw/video_0001/0001.mp4" and not found.problems


def test_manifest_jsonl(miniatures: dict[str, Path]) -> None:
    found = read("manifest", miniatures["manifest"] / "manifest.jsonl")
    labels = rows(found)
    sources = {source.id: source for source in found.samples}
    assert set(labels) == {"talk_500", "talk_2500", "other", "gone"}
    assert sources["talk_500"].segment == Segment(0.5, 2.5)
    assert sources["talk_2500"].segment == Segment(2.5, 4.0)  # start + duration
    first = labels["talk_500"]
    assert (first.label, first.valence, first.arousal, first.scale, first.speaker) == (
        "happy",
        0.7,
        0.4,
        "-1..1",
        "s1",
    )
    assert (first.text, first.language, first.split, first.extra) == (
        "I cannot",
        "en",
        "train",
        {"session": "3"},
    )
    assert labels["talk_2500"].excluded  # "joy" is not a label of the run, nor mapped
    assert sources["gone"].missing
    assert "manifest.jsonl:4: not JSON" in problem(found, "not JSON")
    assert "manifest.jsonl:5: time range 3.0-1.0 s is reversed" in problem(found, "reversed")


def test_manifest_csv(miniatures: dict[str, Path]) -> None:
    found = read("manifest", miniatures["manifest"] / "manifest.csv")
    sources = {source.id: source for source in found.samples}
    assert set(sources) == {"talk_0", "other"}
    assert sources["talk_0"].segment == Segment(0.0, 2.0) and sources["other"].segment is None
    assert found.labels["talk_0"].text == "I cannot believe"


def test_overlapping_segments_of_one_speaker_are_reported(tmp_path: Path) -> None:
    media = tmp_path / "talk.mp4"
    media.write_bytes(b"")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"path": "talk.mp4", "start": 0, "end": 2, "speaker": "a"}\n'
        '{"path": "talk.mp4", "start": 1, "end": 3, "speaker": "a"}\n'
        '{"path": "talk.mp4", "start": 1, "end": 3, "speaker": "b", "id": "b1"}\n'
        '{"path": "talk.mp4", "start": 1, "end": 3, "speaker": "b"}\n'
    )
    found = read("manifest", manifest)
    assert len(found.samples) == 3  # both overlapping ones kept; the same id again is not
    assert "m.jsonl:2: talk_1000 starts at 1.0 s, before talk_0 ends" in problem(found, "before")
    assert "m.jsonl:4: sample talk_1000 again (first at" in problem(found, "again")


def test_a_missing_root_or_label_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    found = read("meld", tmp_path)
    assert found.samples == []
    assert len(found.problems) == 3 and all("sent_emo.csv" in line for line in found.problems)
