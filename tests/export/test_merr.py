"""MERR files, checked the way Emotion-LLaMA's loader reads them, on a full pipeline run of
the sample clips (stand-in upstream stages, see stand_ins.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from merr_factory.dataset.entry import ExportEntry
from merr_factory.dataset.merr import MerrNameError, select_merr, txt_line
from merr_factory.text import clean_text

from .conftest import ExportRun, copy_clips, run_export, write_export_config

NINE = ["neutral", "angry", "happy", "sad", "worried", "surprise", "fear", "contempt", "doubt"]
COMMON_KEYS = [
    "AU_list",
    "visual_prior_list",
    "audio_prior_list",
    "peak_index",
    "peak_AU_list",
    "pseu_emotion",
    "text",
]


def load_like_emotion_llama(export: Path, stem: str) -> tuple[list[list[str]], dict]:
    """What Emotion-LLaMA's dataset does: split each .txt line on spaces, index the label."""
    with open(export / f"{stem}.txt", encoding="utf-8") as lines:
        rows = [line.strip().split(" ") for line in lines]
    emo2idx = {emotion: index for index, emotion in enumerate(NINE)}
    for row in rows:
        assert isinstance(emo2idx[row[2]], int)  # a KeyError here breaks training
    return rows, json.loads((export / f"{stem}.json").read_text(encoding="utf-8"))


def test_coarse_files_hold_coarse_and_fine_in_loader_shape(export_run: ExportRun) -> None:
    rows, coarse = load_like_emotion_llama(export_run.export, "MERR_coarse_grained")
    names = [row[0] for row in rows]
    # 0004 has no face (no peak), 0006 is rejected: neither is written.
    assert names == ["sample_00000001", "sample_00000002", "sample_00000003", "samplenew_00000005"]
    assert list(coarse) == names
    for name, row in zip(names, rows, strict=True):
        value = coarse[name]
        assert list(value) == [*COMMON_KEYS, "caption"]
        assert value["pseu_emotion"] == row[2]
        assert isinstance(value["peak_index"], str) and value["peak_index"].isdigit()
        assert isinstance(value["audio_prior_list"], str)
        assert len(value["AU_list"]) == len(value["visual_prior_list"])
        assert "\n" not in value["caption"] and "\\n" not in value["caption"]
        assert len(row) == 4 and int(row[1]) > 0 and float(row[3]) == float(row[3])
    assert coarse["sample_00000001"]["AU_list"] == ["AU06", "AU12", "AU14"]
    assert coarse["sample_00000001"]["visual_prior_list"][1] == "lip corner puller"
    assert coarse["sample_00000003"]["pseu_emotion"] == "sad"
    assert rows[2] == ["sample_00000003", rows[2][1], "sad", "-3.0"]


def test_fine_files_are_a_subset_with_reasoning(export_run: ExportRun) -> None:
    rows, fine = load_like_emotion_llama(export_run.export, "MERR_fine_grained")
    _, coarse = load_like_emotion_llama(export_run.export, "MERR_coarse_grained")
    assert [row[0] for row in rows] == ["sample_00000001", "sample_00000002"]
    assert set(fine) <= set(coarse)
    for name, value in fine.items():
        assert list(value) == [*COMMON_KEYS, "smp_reason_caption"]
        reasoning = value["smp_reason_caption"]
        assert reasoning.endswith("This fits the tone.") and "\\n" not in reasoning
        assert value["peak_index"] == coarse[name]["peak_index"]


def test_missing_cues_degrade_cleanly(export_run: ExportRun) -> None:
    _, coarse = load_like_emotion_llama(export_run.export, "MERR_coarse_grained")
    silent = coarse["samplenew_00000005"]  # no audio track
    assert silent["audio_prior_list"] == ""
    assert silent["text"] == ""
    assert coarse["sample_00000001"]["audio_prior_list"] == "speaks in a joyful voice"
    assert coarse["sample_00000002"]["text"] == "我今天非常高兴"  # no English: as spoken
    card = (export_run.export / "README.md").read_text(encoding="utf-8")
    assert "| MERR coarse | no_peak | 1 |" in card


def test_label_outside_the_nine_is_counted_never_written(tmp_path: Path) -> None:
    config = write_export_config(tmp_path, copy_clips(tmp_path))
    run = run_export(config, labels={"sample_00000001": "disgust"})
    rows, coarse = load_like_emotion_llama(run.export, "MERR_coarse_grained")
    assert "sample_00000001" not in coarse
    assert all(row[0] != "sample_00000001" for row in rows)
    card = (run.export / "README.md").read_text(encoding="utf-8")
    assert "| MERR coarse | label_outside_nine | 1 |" in card
    assert "| label outside the nine | disgust | 1 |" in card


def test_a_clip_name_collision_fails_the_export_and_overwrites_nothing(tmp_path: Path) -> None:
    clips = copy_clips(tmp_path)
    (clips / "more").mkdir()
    (clips / "sample_00000001.mp4").rename(clips / "more" / "sample_00000001.mp4")
    (clips / "sample_00000002.mp4").rename(clips / "sample_00000001.mp4")
    run = run_export(write_export_config(tmp_path, clips))
    export = next(tally for tally in run.summary.tallies if tally.stage == "export")
    assert export.final == "failed"
    assert export.errors == {"MerrNameError": 1}
    assert not run.export.exists()


def entry(name: str, **fields: object) -> ExportEntry:
    base: dict[str, object] = {
        "sample_id": name,
        "name": name,
        "source": f"{name}.mp4",
        "kind": "video",
        "duration": 2.0,
        "fps": 25.0,
        "frame_count": None,
        "width": 640,
        "height": 360,
        "video_path": f"/clips/{name}.mp4",
        "ingest_label": "happy",
        "label": "happy",
        "label_source": "csv",
        "valence": None,
        "tier": "coarse",
        "peak_index": 3,
        "AU_list": ["AU12"],
        "visual_prior_list": ["lip corner puller"],
    }
    return ExportEntry.model_validate(base | fields)


def test_selection_rules() -> None:
    sets = select_merr(
        [
            entry("b"),
            entry("a", tier="fine", smp_reason_caption="why"),
            entry("c", tier="fine"),  # no reasoning: coarse only
            entry("d", label="unknown"),
            entry("e", peak_index=None),
            entry("f", AU_list=["AU12", "AU06"]),
            entry("g g", sample_id="g_g-1234abcd"),
            entry("h", tier="rejected"),
            entry("i", kind="image"),
        ]
    )
    assert [item.name for item in sets.coarse] == ["a", "b", "c"]
    assert [item.name for item in sets.fine] == ["a"]
    skipped = {(skip.sample_id, skip.file): skip.code for skip in sets.skipped}
    assert skipped == {
        ("c", "fine"): "no_reasoning",
        ("d", "coarse"): "label_outside_nine",
        ("e", "coarse"): "no_peak",
        ("f", "coarse"): "misaligned_aus",
        ("g_g-1234abcd", "coarse"): "unsafe_name",
        ("i", "coarse"): "not_a_clip",
    }


def test_formats_can_be_chosen_and_clips_left_in_place(tmp_path: Path) -> None:
    clips = copy_clips(tmp_path)
    settings = {"formats": ["sharegpt", "merr"], "link_videos": False, "link_audio": False}
    run = run_export(write_export_config(tmp_path, clips, export=settings))
    names = sorted(path.name for path in run.export.iterdir())
    assert names == [
        "HL-UTT",
        "MERR_coarse_grained.json",
        "MERR_coarse_grained.txt",
        "MERR_fine_grained.json",
        "MERR_fine_grained.txt",
        "dataset_info.json",
        "features.json",
        "maeV_399_UTT",
        "mae_340_UTT",
        "merr_sharegpt.json",
        "transcription_en_all.csv",
    ]
    records = json.loads((run.export / "merr_sharegpt.json").read_text())
    videos = [record["videos"][0] for record in records]
    assert videos[0] == str((clips / "sample_00000001.mp4").resolve())
    assert all(Path(video).is_file() for video in videos)
    audios = [record["audios"] for record in records]
    assert [len(files) for files in audios] == [1, 1, 1, 0]  # samplenew_00000005: no audio
    assert all(Path(files[0]).is_absolute() and Path(files[0]).is_file() for files in audios[:3])


def test_collision_is_an_error_naming_both_samples() -> None:
    with pytest.raises(MerrNameError, match="'x' and 'x-2' share the clip name 'x'"):
        select_merr([entry("x"), entry("x", sample_id="x-2")])


def test_txt_line_frame_count_and_unknown_valence() -> None:
    assert txt_line(entry("a")) == "a 50 happy 0.0"  # 2.0 s x 25 fps, valence unknown
    line = txt_line(entry("a", label="surprise", frame_count=22, valence=-0.61232674))
    assert line == "a 22 surprise -0.61232674"


def test_clean_text_removes_real_and_literal_line_breaks() -> None:
    assert clean_text("one\\ntwo\nthree\r\n four\\t five") == "one two three four five"
    assert clean_text(None) == ""


def test_a_clip_missing_a_feature_is_left_out_when_features_are_on() -> None:
    """Emotion-LLaMA's ``get()`` opens all three feature files of every listed clip."""
    npy = {"path": "x.npy", "sha256": "0" * 64}
    three = {name: npy for name in ("HL-UTT", "mae_340_UTT", "maeV_399_UTT")}
    on = {name: "m" for name in three}
    sets = select_merr(
        [
            entry("a", features=three, feature_models=on),
            entry(
                "b", features={k: v for k, v in three.items() if k != "HL-UTT"}, feature_models=on
            ),
            entry("c"),  # the features stage is off: the MERR files do not depend on it
        ]
    )
    assert [item.name for item in sets.coarse] == ["a", "c"]
    (skip,) = sets.skipped
    assert (skip.sample_id, skip.code) == ("b", "missing_features")
    assert "HL-UTT" in skip.message
