"""The README stays a quick start, and the docs site's configuration reference covers every key.

The reference page is generated at docs build time by ``docs/hooks/config_reference.py``; its
generator is called here directly, so no MkDocs build is needed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from merr_factory.config import Config
from merr_factory.registry import STAGES

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 260


def _load_hook():
    path = REPO / "docs" / "hooks" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("merr_docs_config_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> str:
    return _load_hook().reference_markdown()


def test_readme_is_a_quick_start():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): "
        "move the details to a page under docs/"
    )


def test_reference_has_every_top_level_key(reference: str):
    missing = [name for name in Config.model_fields if f"| `{name}` |" not in reference]
    assert not missing, f"top-level keys missing from the configuration reference: {missing}"


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.name)
def test_reference_has_every_key_of_each_stage(reference: str, stage):
    section = f"stages.{stage.name}"
    assert f"{{#stages-{stage.name}}}" in reference, f"no section for {section}"
    missing = [
        name
        for name in stage.settings_model.model_fields
        if f"| `{section}.{name}` |" not in reference
    ]
    assert not missing, f"{section}: keys missing from the configuration reference: {missing}"
