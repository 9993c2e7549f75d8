"""configs/recipes/: every recipe is a valid config whose backends and settings resolve; the
one whose models exist offline here (cpu-offline) runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from merr_factory.config import load_config
from merr_factory.preflight.doctor import PACKAGES, backends, endpoints, models
from merr_factory.run.workspace import open_workspace
from tests.conftest import CLIPS, run_pipeline, tally

RECIPES = Path(__file__).parents[2] / "configs" / "recipes"
NAMES = ["merr-faithful", "gpu-node", "hosted-api", "cpu-offline"]


def test_the_four_recipes_are_there() -> None:
    assert sorted(path.stem for path in RECIPES.glob("*.yaml")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_recipe_loads_and_every_backend_and_setting_resolves(name: str, tmp_path: Path) -> None:
    path = RECIPES / f"{name}.yaml"
    assert path.read_text().startswith("# Recipe: ")  # each says what it is for
    overrides = {"input": CLIPS, "labels": CLIPS / "labels.csv", "output": tmp_path}
    config = load_config(path, overrides)
    workspace = open_workspace(config)  # every stage built from its settings
    for stage in workspace.stages.values():
        assert stage.identity()  # models, prompts and settings resolve to an identity
    assert all(item in PACKAGES for item in backends(config))
    for _, url, model, key_env in endpoints(config):
        assert url.startswith("http") and model
        assert key_env is None or key_env.isupper()  # a variable's name, never a key
    assert "sk-" not in path.read_text()
    if name != "cpu-offline":
        assert models(config) or endpoints(config)  # real models, named


def test_the_cpu_offline_recipe_runs(feature_models: dict[str, Path], tmp_path: Path) -> None:
    raw = yaml.safe_load((RECIPES / "cpu-offline.yaml").read_text())
    raw.update(input=str(CLIPS), labels=str(CLIPS / "labels.csv"), output=str(tmp_path / "out"))
    raw["stages"]["features"].update(
        hubert_model=str(feature_models["hubert"]),
        mae_model=str(feature_models["mae"]),
        videomae_model=str(feature_models["videomae"]),
    )
    raw["executor"] = {"workers": 1}
    config = tmp_path / "cpu-offline.yaml"
    config.write_text(yaml.safe_dump(raw))
    loaded = load_config(config)
    stages = list(open_workspace(loaded).stages)
    summary = run_pipeline(loaded, stages, sample_ids=["sample_00000001", "sample_00000006"])
    assert summary.failed == 0 and tally(summary, "export")["computed"] >= 1
    assert (tmp_path / "out" / "export" / "MERR_coarse_grained.json").is_file()
