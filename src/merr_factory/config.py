"""The run configuration: one YAML file, validated before any work starts."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from merr_factory.executors.settings import ExecutorSettings
from merr_factory.inputs.datasets.base import DatasetInput
from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.registry import STAGES
from merr_factory.run.folders import is_url
from merr_factory.stages.base import StageSettings

log = logging.getLogger(__name__)

PATH_OVERRIDES = ("input", "labels", "output")
# Option names that carry credentials: refused in storage_options, which is saved with outputs.
SECRET_WORDS = re.compile(r"key|secret|token|password|credential|sas_", re.I)


class ConfigError(ValueError):
    """The configuration cannot be used; the message is one line naming field and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _stages_model() -> type[BaseModel]:
    """One field per registered stage, typed by that stage's own settings model."""
    fields: dict[str, Any] = {
        stage.name: (stage.settings_model, Field(default_factory=stage.settings_model))
        for stage in STAGES
    }
    model = create_model("StagesSettings", __base__=_Strict, **fields)
    model.__doc__ = "Settings per stage; each stage's own model says what it accepts."
    return model


StagesSettings = _stages_model()


class EstimateSettings(_Strict):
    """What ``merr-build estimate`` needs beyond the run's own settings: the pilot's size and
    the LLM's prices (a hosted API's list prices; none: the cost is not printed)."""

    pilot_samples: int = Field(
        default=10, ge=1, description="samples the pilot runs (spread over the input)"
    )
    prompt_price_per_million: float | None = Field(
        default=None, ge=0, description="price of a million prompt (input) tokens, any currency"
    )
    completion_price_per_million: float | None = Field(
        default=None, ge=0, description="price of a million completion (output) tokens"
    )


class Config(_Strict):
    """A whole run: where the clips are, where outputs go, and every stage's settings."""

    input: Path | DatasetInput = Field(
        description="folder of clips (searched recursively) or a list file; or a dataset in "
        "its own layout: {dataset: NAME, root: DIR} (docs/users/datasets.md)"
    )
    labels: Path | None = Field(
        default=None, description="label CSV: name,discrete,valence (not with a dataset input)"
    )
    output: Path = Field(
        description="local folder for the outputs; with output_url, for logs and work files only"
    )
    output_url: str | None = Field(
        default=None,
        description="write records, files and the export here instead: an fsspec URL "
        "(s3://bucket/run, gs://..., az://...) that every worker can reach",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="options for the output_url's filesystem (endpoint_url, region, ...); "
        "credentials come from the environment, never from this file",
    )
    file_cache_gb: float = Field(
        default=10.0,
        gt=0,
        description="output_url: local copies of stage files kept at most (least recent go)",
    )
    label_set: list[str] = Field(default_factory=lambda: list(MERR_LABELS), min_length=1)
    stages: StagesSettings = Field(default_factory=StagesSettings)  # type: ignore[valid-type]
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    estimate: EstimateSettings = Field(default_factory=EstimateSettings)

    @field_validator("output", mode="before")
    @classmethod
    def _output_is_a_folder(cls, value: Any) -> Any:
        if isinstance(value, str) and is_url(value):
            raise ValueError(
                "output is a local folder; put a URL in output_url "
                "(output then keeps logs and work files)"
            )
        return value

    @field_validator("output_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not is_url(value):
            raise ValueError("output_url must be a URL like s3://bucket/run")
        return value

    @field_validator("storage_options")
    @classmethod
    def _no_secrets(cls, options: dict[str, Any]) -> dict[str, Any]:
        secrets = sorted(_secret_keys(options))
        if secrets:
            raise ValueError(
                f"{', '.join(secrets)}: credentials must come from the environment "
                "(e.g. AWS_ACCESS_KEY_ID, GOOGLE_APPLICATION_CREDENTIALS), not the config"
            )
        return options

    @field_validator("label_set")
    @classmethod
    def _clean_labels(cls, labels: list[str]) -> list[str]:
        cleaned = [label.strip().lower() for label in labels]
        if any(not label for label in cleaned):
            raise ValueError("labels must not be empty")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("labels must be unique")
        return cleaned


def load_config(path: Path, overrides: dict[str, Path | None] | None = None) -> Config:
    """Read, override and validate a config file; raises ConfigError with a one-line reason."""
    raw = _read_yaml(path)
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = str(value)
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{path}: {_describe(error)}") from None
    _check_paths(path, config)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file ({error.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the config must be a mapping of settings, not a {type(raw).__name__}"
        )
    return raw


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as one line: ``field.path: problem (got value)``."""
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting (check its spelling)"
        value = item.get("input")
        shown = (
            ""
            if item["type"] in ("missing", "extra_forbidden") or isinstance(value, dict)
            else f" (got {value!r})"
        )
        parts.append(f"{location}: {message}{shown}")
    return "; ".join(parts)


def _check_paths(path: Path, config: Config) -> None:
    if isinstance(config.input, DatasetInput):
        _check_dataset(path, config)
    elif not config.input.exists():
        raise ConfigError(f"{path}: input: {config.input} does not exist")
    if config.labels is not None and not config.labels.is_file():
        raise ConfigError(f"{path}: labels: {config.labels} is not a file")
    if config.output.exists() and not config.output.is_dir():
        raise ConfigError(f"{path}: output: {config.output} exists and is not a folder")


def _check_dataset(path: Path, config: Config) -> None:
    """A dataset brings its own labels; its root must be there."""
    assert isinstance(config.input, DatasetInput)
    if config.labels is not None:
        raise ConfigError(f"{path}: labels: a dataset input reads its own labels; remove labels")
    if not config.input.root.exists():
        raise ConfigError(f"{path}: input.root: {config.input.root} does not exist")
    if config.input.dataset == "manifest" and not config.input.root.is_file():
        raise ConfigError(f"{path}: input.root: a manifest is a JSONL or CSV file")


def _secret_keys(options: dict[str, Any], prefix: str = "") -> list[str]:
    """Names of credential options, nested ones (``client_kwargs.aws_secret_access_key``) too."""
    found = []
    for key, value in options.items():
        name = f"{prefix}{key}"
        if SECRET_WORDS.search(str(key)):
            found.append(name)
        elif isinstance(value, dict):
            found += _secret_keys(value, f"{name}.")
    return found


def stage_settings(config: Config, name: str) -> StageSettings:
    """The settings of stage ``name`` in ``config``."""
    return getattr(config.stages, name)


def config_as_yaml(config: Config) -> str:
    """The resolved configuration as YAML, to store beside the outputs it made."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
