"""The dataset miniatures, built once per session by ``scripts/make_dataset_miniatures.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "make_dataset_miniatures.py"


def load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_dataset_miniatures", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def miniatures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every miniature's root by name (``cmu-mosei-raw`` is MOSEI's raw form)."""
    return load_builder().build(tmp_path_factory.mktemp("datasets"))
