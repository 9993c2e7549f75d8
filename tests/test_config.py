"""Config loading: valid files load, bad ones fail before any work with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from merr_factory.cli import app
from merr_factory.config import ConfigError, load_config
from merr_factory.knowledge.emotions import MERR_LABELS

REPO = Path(__file__).parent.parent


def test_sample_config_loads_with_defaults() -> None:
    config = load_config(REPO / "configs" / "sample.yaml")
    assert config.input == Path("tests/data/clips")
    assert config.label_set == list(MERR_LABELS)
    assert config.stages.filter.decode_check == "packets"


def test_minimal_config_gets_defaults(write_config) -> None:
    config = load_config(write_config())
    assert config.stages.ingest.on_duplicate_id == "rename"
    assert ".avi" in config.stages.ingest.video_extensions
    assert config.executor.workers == 1


def test_extensions_are_normalised(write_config) -> None:
    path = write_config(stages={"ingest": {"video_extensions": ["MP4", " .Avi"]}})
    assert load_config(path).stages.ingest.video_extensions == [".avi", ".mp4"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"stages": {"filter": {"min_duration": "long"}}}, "stages.filter.min_duration"),
        ({"stages": {"filter": {"min_duraton": 1}}}, "stages.filter.min_duraton: unknown setting"),
        ({"stages": {"filter": {"decode_check": "all"}}}, "stages.filter.decode_check"),
        ({"executor": {"workers": 0}}, "executor.workers"),
        ({"label_set": ["happy", "Happy"]}, "label_set: Value error, labels must be unique"),
        ({"colour": "blue"}, "colour: unknown setting"),
    ],
)
def test_bad_values_name_the_field(write_config, overrides, expected) -> None:
    path = write_config(**overrides)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert expected in message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_missing_required_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"input": str(tmp_path)}))
    with pytest.raises(ConfigError, match="output: Field required"):
        load_config(path)


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("input: a\noutput: [unclosed\nlabels: x\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+"):
        load_config(path)


def test_missing_input_folder(write_config, tmp_path: Path) -> None:
    path = write_config(input=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"input: .*nowhere does not exist"):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_path_overrides_replace_config_paths(write_config, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    config = load_config(
        write_config(), {"input": other, "labels": None, "output": tmp_path / "o2"}
    )
    assert config.input == other
    assert config.output == tmp_path / "o2"
    assert config.labels is not None  # not overridden


def test_cli_bad_config_exits_2_with_one_line(write_config) -> None:
    path = write_config(stages={"filter": {"min_width": -3}})
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "stages.filter.min_width" in lines[0]
    assert not (Path(yaml.safe_load(path.read_text())["output"])).exists()  # no work was done


def test_init_writes_a_config_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "merr.yaml"
    result = CliRunner().invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    raw = yaml.safe_load(target.read_text())
    (tmp_path / "data" / "clips").mkdir(parents=True)
    (tmp_path / "data" / "labels.csv").write_text("name,discrete,valence\n")
    raw["input"] = str(tmp_path / raw["input"])
    raw["labels"] = str(tmp_path / raw["labels"])
    target.write_text(yaml.safe_dump(raw))
    config = load_config(target)
    assert config.stages.filter.min_duration == 1.0
    again = CliRunner().invoke(app, ["init", str(target)])
    assert again.exit_code == 2
    assert "exists" in again.output
