"""The sample run (configs/sample.yaml, what `make demo` runs) end to end, and its export read
by Emotion-LLaMA's dataset and LLaMA-Factory's checks (re-implemented in tests/consumers/).

Every model is real and offline: dlib, Silero VAD, Praat, openSMILE, faster-whisper tiny.en,
SmolLM2 through llama.cpp; the feature encoders are random-weight checkpoints of the real
architectures that the test makes (scripts/make_feature_models.py), as `make demo` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from merr_factory.config import load_config
from merr_factory.workspace import open_workspace
from tests.conftest import CLIPS, run_pipeline
from tests.consumers import llama_factory
from tests.consumers.emotion_llama import FeatureFaceDataset

REPO = Path(__file__).parents[2]
for module, extra in (("llama_cpp", "llm-llamacpp"), ("faster_whisper", "asr-faster-whisper"),
                      ("dlib", "faces-dlib"), ("cv2", "dev"), ("pandas", "dev")):  # fmt: skip
    pytest.importorskip(module, reason=f"the sample run needs merr-factory[{extra}]")


@pytest.fixture(scope="module")
def sample_export(feature_models: dict[str, Path], tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample-run")
    raw = yaml.safe_load((REPO / "configs" / "sample.yaml").read_text())
    raw.update(input=str(CLIPS), labels=str(CLIPS / "labels.csv"), output=str(root / "out"))
    raw["stages"]["features"].update(
        hubert_model=str(feature_models["hubert"]),
        mae_model=str(feature_models["mae"]),
        videomae_model=str(feature_models["videomae"]),
    )
    config = root / "sample.yaml"
    config.write_text(yaml.safe_dump(raw))
    loaded = load_config(config)
    summary = run_pipeline(loaded, [stage for stage in open_workspace(loaded).stages])
    assert summary.failed == 0
    return root / "out" / "export"


@pytest.mark.parametrize(
    ("ann", "tasks"),
    [
        ("MERR_coarse_grained.txt", ("emotion", "reason")),
        ("MERR_fine_grained.txt", ("emotion", "reason", "reason_v2")),
    ],
)
def test_emotion_llama_loads_the_sample_export(sample_export: Path, ann: str, tasks) -> None:
    dataset = FeatureFaceDataset(str(sample_export / "videos"), str(sample_export / ann))
    assert len(dataset) >= 1  # the fine file is never empty in the demo
    for index in range(len(dataset)):
        for task in tasks:
            item = dataset.item(index, task)
            assert item["video_features"].shape == (3, 1024)
            assert isinstance(item["sentence"], str) and item["answer"]


def test_llama_factory_loads_the_sample_export(sample_export: Path) -> None:
    records = json.loads((sample_export / "merr_sharegpt.json").read_text())
    info = next(iter(json.loads((sample_export / "dataset_info.json").read_text()).values()))
    assert records
    for record in records:
        converted = llama_factory.convert(record, info, str(sample_export))
        llama_factory.check_for_template(converted, "qwen2_omni")


def test_the_sample_export_says_its_features_are_placeholders(sample_export: Path) -> None:
    summary = json.loads((sample_export / "features.json").read_text())
    assert summary["note"].startswith("PLACEHOLDERS")
    assert "PLACEHOLDERS" in (sample_export / "README.md").read_text()


def test_the_face_expression_source_votes_in_the_sample_run(sample_export: Path) -> None:
    """fer's expression model (its real weights, shipped: no network) runs in the sample run's
    faces stage and its vote reaches the label records."""
    labels = sample_export.parent / "stages" / "label"
    votes = {path.stem: json.loads(path.read_text())["data"]["votes"]
             for path in labels.glob("*.json")}  # fmt: skip
    assert votes["sample_00000001"]["face_expression"] == "happy"
    assert votes["sample_00000003"]["face_expression"] == "sad"
    assert "samplenew_00000004" not in votes  # no face: halted at faces
