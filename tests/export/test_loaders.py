"""The export, read by the programs that consume it: Emotion-LLaMA's training dataset and
LLaMA-Factory's ShareGPT reading, re-implemented from their public code (tests/consumers/).
Every exported sample must load, for every task and both ShareGPT variants."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import av
import numpy as np
import pytest

from merr_factory.dataset.merr import MerrSets
from merr_factory.export.transcripts import misread_names, transcripts_text
from merr_factory.export.writer import _warn_misread_names
from merr_factory.media.transcode import count_frames
from tests.consumers import llama_factory
from tests.consumers.emotion_llama import FeatureFaceDataset

from .conftest import ExportRun, copy_clips, run_export, write_export_config
from .stand_ins import DEFAULT_TIERS
from .test_merr import entry

pytest.importorskip("cv2", reason="Emotion-LLaMA reads frame 0 with OpenCV (the dev extra)")
pytest.importorskip("pandas", reason="Emotion-LLaMA reads the transcript CSV with pandas")

MKV_CLIP = "samplenew_00000009"


def write_mkv_clip(path: Path, frames: int = 30) -> None:
    """A small Matroska clip (MPEG-4 video): a container Emotion-LLaMA cannot open by name."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for index in range(frames):
            picture = np.full((240, 320, 3), (index * 7) % 255, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def loader_run(tmp_path_factory: pytest.TempPathFactory) -> ExportRun:
    root = tmp_path_factory.mktemp("loaders")
    clips = copy_clips(root)
    write_mkv_clip(clips / f"{MKV_CLIP}.mkv")
    with (clips / "labels.csv").open("a") as labels:
        labels.write(f"{MKV_CLIP},surprise,1.0\n")
    return run_export(write_export_config(root, clips), tiers={**DEFAULT_TIERS, MKV_CLIP: "coarse"})


@pytest.mark.parametrize(
    ("ann", "tasks"),
    [
        ("MERR_coarse_grained.txt", ("emotion", "reason")),
        ("MERR_fine_grained.txt", ("emotion", "reason", "reason_v2")),
    ],
)
def test_emotion_llama_loads_every_sample_for_every_task(
    loader_run: ExportRun, ann: str, tasks: tuple[str, ...]
) -> None:
    export = loader_run.export
    dataset = FeatureFaceDataset(str(export / "videos"), str(export / ann))
    assert len(dataset) > 0
    for index in range(len(dataset)):
        for task in tasks:
            item = dataset.item(index, task)
            assert item["video_features"].shape == (3, 1024)
            assert item["video_features"].dtype == np.float32
            assert item["image"].ndim == 3 and item["image"].shape[2] == 3
            assert isinstance(item["sentence"], str) and item["sentence"] != "nan"
            assert isinstance(item["answer"], str) and item["answer"]
            assert f"[{task}]" in item["instruction_input"]


def test_every_exported_name_has_a_clip_emotion_llama_opens(loader_run: ExportRun) -> None:
    export = loader_run.export
    assert (export / "MERR_fine_grained.txt").read_text().strip()  # never an empty fine file
    for line in (export / "MERR_coarse_grained.txt").read_text().splitlines():
        name = line.split(" ")[0]
        clip = export / "videos" / f"{name}.mp4"
        clip = clip if clip.is_file() else clip.with_suffix(".avi")
        assert FeatureFaceDataset.extract_frame(str(clip)).ndim == 3, name


def test_a_clip_in_another_container_is_re_encoded_frame_for_frame(loader_run: ExportRun):
    export = loader_run.export
    assert not list((export / "videos").glob(f"{MKV_CLIP}.mkv"))
    assert count_frames(export / "videos" / f"{MKV_CLIP}.mp4") == 30
    line = next(
        line
        for line in (export / "MERR_coarse_grained.txt").read_text().splitlines()
        if line.startswith(MKV_CLIP)
    )
    assert line == f"{MKV_CLIP} 30 surprise 1.0"


def test_the_transcript_csv_has_a_sentence_for_every_exported_name(loader_run: ExportRun):
    import pandas as pd

    export = loader_run.export
    table = pd.read_csv(export / "transcription_en_all.csv")
    names = [line.split(" ")[0] for line in (export / "MERR_coarse_grained.txt").open()]
    assert sorted(table["name"]) == sorted(names)
    assert table["sentence"].notna().all()
    assert (table.loc[table["name"] == MKV_CLIP, "sentence"] == "(no speech)").all()


@pytest.mark.parametrize(
    "names",
    [
        ["00001", "00003"],  # DFEW's and MAFW's clip names: read as 1 and 3
        ["00001", "clip_2"],  # one name with a letter keeps the column as text
        ["1e5", "2.5"],
        ["True", "False"],
        ["NA", "clip_1"],
        ["a", "b"],
    ],
)
def test_the_names_pandas_misreads_are_said(
    names: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    import pandas as pd

    entries = [entry(name) for name in names]
    table = pd.read_csv(io.StringIO(transcripts_text(entries)))
    read = zip(sorted(names), table["name"], strict=True)
    misread = [name for name, back in read if back != name]
    assert sorted(misread_names(names)) == misread
    with caplog.at_level(logging.WARNING):
        _warn_misread_names(MerrSets(coarse=entries))
    warned = [record.getMessage() for record in caplog.records]
    assert bool(warned) == bool(misread)
    if misread:
        assert warned[0].startswith(f"export: pandas reads {len(misread)} MERR name(s)")


def test_instructions_use_emotion_llama_s_frame_and_questions(loader_run: ExportRun) -> None:
    pairs = json.loads((loader_run.export / "emotion_llama_instructions.json").read_text())
    tasks = {pair["task"] for pair in pairs}
    assert tasks == {"emotion", "reason", "reason_v2", "caption"}
    emotion = next(pair for pair in pairs if pair["task"] == "emotion")
    assert emotion["instruction"].endswith(
        "[emotion] Please determine which emotion label in the video represents: happy, sad, "
        "neutral, angry, worried, surprise, fear, contempt, doubt. "
    )
    assert emotion["instruction"].startswith(
        "<video><VideoHere></video> <feature><FeatureHere></feature> The person in video says: "
    )
    assert ".  [emotion] " in emotion["instruction"]  # the upstream format's two spaces


def sharegpt(export: Path) -> tuple[list[dict], dict]:
    records = json.loads((export / "merr_sharegpt.json").read_text())
    info = json.loads((export / "dataset_info.json").read_text())
    return records, next(iter(info.values()))


def test_llama_factory_reads_the_video_and_audio_variant_with_omni_templates(
    loader_run: ExportRun,
) -> None:
    records, info = sharegpt(loader_run.export)
    assert "audios" in info["columns"]
    for record in records:
        converted = llama_factory.convert(record, info, str(loader_run.export))
        for template in ("qwen2_omni", "qwen3_omni", "minicpm_o"):
            llama_factory.check_for_template(converted, template)
    with_audio = [r for r in records if r["audios"]]
    assert with_audio  # and a video template refuses them: why the video variant exists
    converted = llama_factory.convert(with_audio[0], info, str(loader_run.export))
    with pytest.raises(llama_factory.DatasetError, match="does not support audio input"):
        llama_factory.check_for_template(converted, "qwen2_vl")


def test_llama_factory_reads_the_video_variant_with_video_templates(tmp_path: Path) -> None:
    clips = copy_clips(tmp_path)
    run = run_export(write_export_config(tmp_path, clips, export={"sharegpt_media": "video"}))
    records, info = sharegpt(run.export)
    assert "audios" not in info["columns"] and records
    assert not (run.export / "audio").exists()
    for record in records:
        assert "audios" not in record and "<audio>" not in record["messages"][0]["content"]
        converted = llama_factory.convert(record, info, str(run.export))
        for template in ("qwen2_vl", "llava_next_video", "qwen2_omni"):
            llama_factory.check_for_template(converted, template)


def test_features_json_names_the_models_and_placeholders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader_run: ExportRun
) -> None:
    summary = json.loads((loader_run.export / "features.json").read_text())
    names = (loader_run.export / "MERR_coarse_grained.txt").read_text().splitlines()
    for item in summary["features"].values():
        assert item["samples"] == len(names) and item["models"] == ["stand-in"]
        assert item["placeholder"] is False
    assert "note" not in summary

    from .stand_ins import FeaturesStandIn

    original = FeaturesStandIn.process

    def placeholder(self, sample):
        result = original(self, sample)
        result.data.placeholders = list(result.data.features)
        return result

    monkeypatch.setattr(FeaturesStandIn, "process", placeholder)
    run = run_export(write_export_config(tmp_path, copy_clips(tmp_path)))
    summary = json.loads((run.export / "features.json").read_text())
    assert summary["note"].startswith("PLACEHOLDERS")
    assert all(item["placeholder"] for item in summary["features"].values())
    assert "PLACEHOLDERS: made by random-weight models" in (run.export / "README.md").read_text()
    assert "PLACEHOLDERS: made by random-weight models" in (run.export / "report.html").read_text()
