"""Fixtures for the export tests: a full pipeline run on the sample clips with stand-ins."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from merr_factory.config import load_config
from merr_factory.run.pipeline import RunSummary, StageTally
from merr_factory.run.workspace import open_workspace
from tests.conftest import CLIPS, run_pipeline

from .stand_ins import ALL_STAGES, with_stand_ins


@dataclass
class ExportRun:
    config: Path
    output: Path
    summary: RunSummary

    @property
    def export(self) -> Path:
        return self.output / "export"

    def tally(self, stage: str = "export") -> StageTally:
        return next(tally for tally in self.summary.tallies if tally.stage == stage)


def write_export_config(root: Path, clips: Path, **stage_settings: Any) -> Path:
    raw: dict[str, Any] = {
        "input": str(clips),
        "labels": str(clips / "labels.csv"),
        "output": str(root / "out"),
        "executor": {"workers": 1},
    }
    if stage_settings:
        raw["stages"] = stage_settings
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def copy_clips(root: Path) -> Path:
    target = root / "clips"
    shutil.copytree(CLIPS, target, ignore=shutil.ignore_patterns("manifest.json"))
    return target


def run_export(
    config: Path,
    tiers: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    stages: list[str] | None = None,
    **options: Any,
) -> ExportRun:
    loaded = load_config(config)
    workspace = with_stand_ins(open_workspace(loaded), tiers, labels)
    summary = run_pipeline(loaded, stages or ALL_STAGES, workspace, **options)
    return ExportRun(config=config, output=loaded.output, summary=summary)


@pytest.fixture(scope="module")
def export_run(tmp_path_factory: pytest.TempPathFactory) -> ExportRun:
    """One full run, shared by the read-only tests of a module."""
    root = tmp_path_factory.mktemp("export")
    return run_export(write_export_config(root, copy_clips(root)))
