"""ingest -> filter -> faces -> peak -> audio -> features through the real runner on the bundled
sample clips (faces by the offline dlib backend).

The encoders are RANDOM-WEIGHT checkpoints of the real architectures (HuBERT, ViT-MAE,
VideoMAE; width 1024, two layers) that ``conftest.feature_models`` writes with
``scripts/make_feature_models.py``: nothing is downloaded, and they are not trained models,
so these tests check shapes, files, determinism and the handling of missing inputs, never
what the features mean.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from merr_factory.artifacts import (
    HUBERT_FRA,
    HUBERT_UTT,
    MAE_FRA,
    MAE_UTT,
    VIDEOMAE_FRA,
    VIDEOMAE_UTT,
)
from merr_factory.backends.faces.frames_csv import read_frames_csv
from tests.conftest import CLIPS, OFFLINE_STAGES, run_pipeline, tally
from tests.features.conftest import features_settings

STAGES = ["ingest", "filter", "faces", "peak", "audio", "features"]
UTT = {"HL-UTT": HUBERT_UTT, "mae_340_UTT": MAE_UTT, "maeV_399_UTT": VIDEOMAE_UTT}
FRA = {"HL-FRA": HUBERT_FRA, "mae_340_FRA": MAE_FRA, "maeV_399_FRA": VIDEOMAE_FRA}
WITH_ALL = ("sample_00000001", "sample_00000002", "sample_00000003")  # face and speech
NO_AUDIO = "samplenew_00000005"  # a face, no audio track
IMAGE = "sample_00000006"  # one JPEG: a face, no sound, no motion
NO_FACE = "samplenew_00000004"  # a title card: the faces stage halts it


def write_config(
    base: Path, clips: Path, output: Path, features: dict[str, Any], clips_per_worker: int = 1
) -> Path:
    config = base / f"{output.name}.yaml"
    config.write_text(yaml.safe_dump({
        "input": str(clips), "labels": str(clips / "labels.csv"), "output": str(output),
        "executor": {"workers": 1, "clips_per_worker": clips_per_worker},
        "stages": {**OFFLINE_STAGES, "features": features},
    }))  # fmt: skip
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, feature_models: dict[str, Path]) -> Path:
    pytest.importorskip("dlib", reason="the dlib faces backend needs merr-factory[faces-dlib]")
    base = tmp_path_factory.mktemp("features-run")
    clips = base / "clips"
    shutil.copytree(CLIPS, clips, ignore=shutil.ignore_patterns("manifest.json"))
    settings = features_settings(feature_models, frame_level=True)
    summary = run_pipeline(write_config(base, clips, base / "out", settings), STAGES)
    assert summary.failed == 0
    assert tally(summary, "features")["computed"] == 5
    assert tally(summary, "features")["excluded"] == 1  # the clip without a face
    return base / "out"


def variant(run: Path, name: str, features: dict[str, Any], clips_per_worker: int = 1):
    """The finished run copied to ``name`` and run again with other features settings
    (only the features stage recomputes); returns (output, summary)."""
    output = run.parent / name
    shutil.copytree(run, output)
    config = write_config(run.parent, run.parent / "clips", output, features, clips_per_worker)
    summary = run_pipeline(config, STAGES)
    assert all(tally(summary, stage)["computed"] == 0 for stage in STAGES[:-1])
    return output, summary


def record(out: Path, sample: str) -> dict:
    return json.loads((out / "stages" / "features" / f"{sample}.json").read_text())


def array(out: Path, sample: str, name: str) -> np.ndarray:
    return np.load(out / "stages" / "features" / sample / name)


def test_three_utterance_features_of_1024_float32(run: Path) -> None:
    for sample in (*WITH_ALL, NO_AUDIO, IMAGE):
        data = record(run, sample)["data"]
        assert data["backend"] == "transformers" and data["device"] == "cpu"
        for name in data["features"]:
            feature = array(run, sample, UTT[name])
            assert feature.shape == (1024,) and feature.dtype == np.float32
            assert np.isfinite(feature).all() and np.abs(feature).sum() > 0
        assert data["dims"] == dict.fromkeys(UTT, 1024)
        assert set(data["models"]) == set(UTT)


def test_file_layout_and_names(run: Path) -> None:
    full = record(run, "sample_00000001")
    assert full["data"]["features"] == ["HL-UTT", "mae_340_UTT", "maeV_399_UTT"]
    assert full["data"]["frame_level"] == ["HL-FRA", "mae_340_FRA", "maeV_399_FRA"]
    assert full["data"]["missing"] == {} and full["data"]["zero_filled"] == []
    names = {artifact["path"] for artifact in full["artifacts"]}
    assert names == {*UTT.values(), *FRA.values()}
    assert names == {path.name for path in (run / "stages/features/sample_00000001").iterdir()}
    assert (HUBERT_UTT, MAE_UTT, VIDEOMAE_UTT) == (
        "HL-UTT.npy",
        "mae_340_UTT.npy",
        "maeV_399_UTT.npy",
    )  # fmt: skip  -- Emotion-LLaMA's folder names: never rename


def test_frame_level_arrays_and_their_means(run: Path) -> None:
    sample = "sample_00000001"
    data = record(run, sample)["data"]
    hubert = array(run, sample, HUBERT_FRA)
    assert hubert.shape[1] == 1024 and abs(hubert.shape[0] - data["audio_seconds"] * 50) <= 2
    mae = array(run, sample, MAE_FRA)
    table = read_frames_csv(run / "stages" / "faces" / sample / "frames.csv")
    with_face = [row.index for row in table if row.box is not None]
    assert data["mae_frames"] == with_face and mae.shape == (len(with_face), 1024)
    videomae = array(run, sample, VIDEOMAE_FRA)
    assert videomae.shape == (8, 1024)  # one 16-frame clip: 8 tubelets of 2 frames
    (clip,) = data["videomae_frames"]
    assert len(clip) == 16 and clip == sorted(clip) and set(clip) <= set(with_face)
    assert clip[0] == with_face[0]  # uniform from the first face frame (MERTools)
    for frames, utt in ((hubert, HUBERT_UTT), (mae, MAE_UTT), (videomae, VIDEOMAE_UTT)):
        np.testing.assert_allclose(array(run, sample, utt), frames.mean(axis=0), rtol=1e-5)


def test_a_clip_without_audio_has_no_hl_utt_and_says_why(run: Path) -> None:
    data = record(run, NO_AUDIO)["data"]
    assert data["features"] == ["mae_340_UTT", "maeV_399_UTT"]
    assert data["missing"]["HL-UTT"]["code"] == "no_audio"
    assert data["audio_seconds"] is None
    assert not (run / "stages" / "features" / NO_AUDIO / HUBERT_UTT).exists()


def test_an_image_has_mae_only_with_reasons_for_the_others(run: Path) -> None:
    data = record(run, IMAGE)["data"]
    assert data["features"] == ["mae_340_UTT"] and data["mae_frames"] == [0]
    assert {name: reason["code"] for name, reason in data["missing"].items()} == {
        "HL-UTT": "no_audio", "maeV_399_UTT": "image"
    }  # fmt: skip
    assert data["videomae_frames"] == []
    assert array(run, IMAGE, MAE_FRA).shape == (1, 1024)


def test_a_clip_without_a_face_is_left_out_with_the_faces_reason(run: Path) -> None:
    assert not (run / "stages" / "features" / f"{NO_FACE}.json").exists()
    faces = json.loads((run / "stages" / "faces" / f"{NO_FACE}.json").read_text())
    assert [reason["code"] for reason in faces["halt"]] == ["few_faces"]


def test_zero_when_missing_writes_zeros_and_recomputes_the_same_features(
    run: Path, feature_models: dict[str, Path]
) -> None:
    """Also the determinism check: the second computation of every feature a sample has
    equals the first, bit for bit."""
    settings = features_settings(feature_models, frame_level=True, zero_when_missing=True)
    out, summary = variant(run, "out-zeros", settings)
    assert tally(summary, "features")["computed"] == 5
    no_audio = record(out, NO_AUDIO)["data"]
    assert no_audio["features"] == list(UTT) and no_audio["zero_filled"] == ["HL-UTT"]
    assert no_audio["missing"]["HL-UTT"]["code"] == "no_audio"
    zeros = array(out, NO_AUDIO, HUBERT_UTT)
    assert zeros.shape == (1024,) and zeros.dtype == np.float32 and not zeros.any()
    assert array(out, NO_AUDIO, HUBERT_FRA).shape == (1, 1024)
    image = record(out, IMAGE)["data"]
    assert image["zero_filled"] == ["HL-UTT", "maeV_399_UTT"]
    assert not array(out, IMAGE, VIDEOMAE_UTT).any()
    for sample in (*WITH_ALL, NO_AUDIO, IMAGE):
        for name in record(run, sample)["data"]["features"]:
            assert np.array_equal(array(out, sample, UTT[name]), array(run, sample, UTT[name]))


def test_a_model_folder_that_does_not_exist_fails_each_sample_with_one_line(
    run: Path, feature_models: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    settings = features_settings(feature_models, hubert_model="/no/such/hubert")
    with caplog.at_level(logging.ERROR, logger="merr_factory"):
        out, summary = variant(run, "out-broken", settings)
    assert tally(summary, "features")["failed"] == 5
    assert caplog.text.count("set-up failed") == 1
    for sample in (*WITH_ALL, NO_AUDIO, IMAGE):
        failure = record(out, sample)
        assert failure["status"] == "failed"
        assert failure["error"]["type"] == "StageSetupError"
        assert failure["error"]["message"] == (
            "features could not be set up: the HuBERT model folder /no/such/hubert does not exist"
        )
        assert failure["artifacts"] == []


def test_two_samples_at_once_share_mae_passes_and_get_the_features_each_got_alone(
    run: Path, feature_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``clips_per_worker: 2`` (one worker, two samples on threads sharing the encoders):
    a pass of MAE (the RANDOM-WEIGHT checkpoint of the real ViT-MAE) held crops of two
    samples, and every sample's MAE and VideoMAE arrays, frame by frame, are what the run
    of one sample at a time gave (to float32 rounding: a batch's make-up moves them)."""
    import hashlib
    import threading

    from merr_factory import batching
    from merr_factory.backends.features.encoders import MaeEncoder
    from merr_factory.stages import features as stage

    def digest(crop: np.ndarray) -> str:
        return hashlib.sha1(crop.tobytes()).hexdigest()

    sample_of_thread: dict[int, str] = {}
    owner: dict[str, str] = {}  # crop -> the sample it was cut from
    passes: list[set[str]] = []
    started = [0]
    both_started = threading.Barrier(2)
    frames_at, square, embed = stage.iter_frames_at, stage.face_square, MaeEncoder.embed

    def first_two_together(path, boxes, segment):  # the first two samples start at once
        sample_of_thread[threading.get_ident()] = path.stem
        started[0] += 1
        if started[0] <= 2:
            both_started.wait(timeout=60)
        yield from frames_at(path, boxes, segment)

    def owned_square(*args):  # crops are cut on their sample's thread
        crop = square(*args)
        owner[digest(crop)] = sample_of_thread[threading.get_ident()]
        return crop

    def recorded(self, crops):
        passes.append({owner[digest(crop)] for crop in crops})
        return embed(self, crops)

    monkeypatch.setattr(stage, "iter_frames_at", first_two_together)
    monkeypatch.setattr(stage, "face_square", owned_square)
    monkeypatch.setattr(MaeEncoder, "embed", recorded)
    monkeypatch.setattr(batching, "MAX_WAIT_S", 30.0)  # a partial pass waits for the other
    settings = features_settings(
        feature_models, encoders=["mae", "videomae"], frame_level=True, batch_size=32
    )
    out, summary = variant(run, "out-together", settings, clips_per_worker=2)
    assert tally(summary, "features")["computed"] == 5
    assert any(len(samples) == 2 for samples in passes)
    for sample in (*WITH_ALL, NO_AUDIO, IMAGE):
        names = record(out, sample)["data"]["features"]
        assert names == [name for name in record(run, sample)["data"]["features"]
                         if name != "HL-UTT"]  # fmt: skip
        for name in names:
            fra = FRA[name.replace("UTT", "FRA")]
            np.testing.assert_allclose(
                array(out, sample, fra), array(run, sample, fra), rtol=1e-5, atol=1e-5
            )
