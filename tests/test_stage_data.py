"""Stage outputs: one model per stage, declared by the stage and read by every consumer."""

from __future__ import annotations

import pytest

from merr_factory.llm.cues import Cues
from merr_factory.registry import STAGES
from merr_factory.run.records import Record
from merr_factory.stage_data import StageOutput, UpstreamDataError, VisualData, read_output
from merr_factory.stages.base import SampleContext

from .llm.conftest import HAPPY_VISUAL


def test_every_stage_declares_its_output_model() -> None:
    for stage in STAGES:
        model = stage.output_model
        assert model is not None and issubclass(model, StageOutput), stage.name
        assert model.stage == stage.name


def visual_record(data: dict) -> Record:
    return Record(stage="visual", sample="s1", status="done", fingerprint="f", data=data)


def context(records: dict[str, Record], tmp_path) -> SampleContext:
    return SampleContext(
        source=None,  # type: ignore[arg-type]  # not read by ``input``
        label=None,
        upstream=records,
        workdir_path=tmp_path,
        store=None,  # type: ignore[arg-type]
    )


def test_a_renamed_field_fails_the_consumer_loudly(tmp_path) -> None:
    """The visual stage stores ``AU_list`` under another name (as a rename of the model's
    field would): the LLM cues refuse the record, naming the field, instead of reading an
    empty list as the old restated views did."""
    renamed = dict(HAPPY_VISUAL)
    renamed["au_list"] = renamed.pop("AU_list")
    sample = context({"visual": visual_record(renamed)}, tmp_path)
    with pytest.raises(UpstreamDataError, match=r"^visual record does not match VisualData: "):
        Cues.of(sample)
    with pytest.raises(UpstreamDataError, match="AU_list: Field required"):
        read_output({"visual": visual_record(renamed)}, VisualData)


def test_an_upstream_output_is_validated_once_per_sample(tmp_path, monkeypatch) -> None:
    sample = context({"visual": visual_record(dict(HAPPY_VISUAL))}, tmp_path)
    calls = []
    original = VisualData.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls, data, *args, **kwargs):
        calls.append(cls)
        return original(cls, data, *args, **kwargs)

    monkeypatch.setattr(VisualData, "model_validate", classmethod(counting))
    first = sample.input(VisualData)
    assert sample.input(VisualData) is first and Cues.of(sample).visual is first
    assert len(calls) == 1
    assert first.AU_list == ["AU06", "AU12"]


def test_a_missing_upstream_stage_is_none_or_a_clear_error(tmp_path) -> None:
    sample = context({}, tmp_path)
    assert sample.input_or_none(VisualData) is None
    with pytest.raises(KeyError, match="no visual output upstream"):
        sample.input(VisualData)
