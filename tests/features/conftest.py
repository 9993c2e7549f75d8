"""Fixtures for the features stage: small random-weight checkpoints of the three encoders.

The checkpoints are made here by ``scripts/make_feature_models.py`` (imported, not run as a
command): the real transformers architectures (HuBERT, ViT-MAE, VideoMAE) at the large
models' width (1024) with two layers and RANDOM weights, seeded. Nothing is downloaded, and
they are not trained models: the features they give only test the plumbing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "make_feature_models.py"


def load_script():
    spec = importlib.util.spec_from_file_location("make_feature_models", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def feature_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"hubert" | "mae" | "videomae": folder} of random-weight placeholder checkpoints."""
    pytest.importorskip("torch", reason="the features stage needs merr-factory[features]")
    pytest.importorskip("transformers", reason="the features stage needs merr-factory[features]")
    folder = tmp_path_factory.mktemp("feature-models")
    return load_script().make_feature_models(folder, seed=0, layers=2)


def features_settings(models: dict[str, Path], **overrides) -> dict:
    """The stage's settings for the placeholder checkpoints."""
    return {
        "backend": "transformers",
        "hubert_model": str(models["hubert"]),
        "mae_model": str(models["mae"]),
        "videomae_model": str(models["videomae"]),
        "device": "cpu",
        **overrides,
    }
