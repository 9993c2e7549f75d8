"""synthesize and label in the real runner, on the sample clips, with upstream cue stages
(contract-shaped test input) and a real LLM: SmolLM2-135M-Instruct in process (llamacpp).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="needs the llm-llamacpp extra (llama-cpp-python)")

from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.llm.prompts import PROMPT_NAMES

from ..conftest import run_pipeline, tally
from .conftest import DEFAULT_CUES, LLM_STAGES, llm_workspace

CUED = set(DEFAULT_CUES)  # samples with cues; the others have none at all

LLM = {"backend": "llamacpp", "max_tokens": 200, "concurrency": 2}


def records(output: Path, stage: str) -> dict[str, dict]:
    folder = output / "stages" / stage
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def metrics(summary, stage: str) -> dict[str, float]:
    return dict(next(item for item in summary.tallies if item.stage == stage).metrics)


@pytest.fixture
def first_run(write_config, tmp_path: Path, gguf: Path):
    path = write_config(stages={"synthesize": {"llm": LLM, "judge": True}})
    summary = run_pipeline(path, LLM_STAGES, workspace=llm_workspace(path))
    return path, summary, tmp_path / "out"


def test_synthesize_and_label_records_follow_the_contract(first_run) -> None:
    _, summary, out = first_run
    kept = [s for s, r in records(out, "filter").items() if r["data"]["keep"]]
    assert tally(summary, "synthesize")["computed"] == len(kept) > 0
    assert tally(summary, "synthesize")["failed"] == 0
    synth = records(out, "synthesize")
    asked = [sample_id for sample_id in kept if sample_id in CUED]
    for sample_id in asked:
        data = synth[sample_id]["data"]
        assert data["open_label"] in MERR_LABELS
        assert data["open_reasoning"]
        assert data["llm"]["backend"] == "llamacpp"
        assert data["llm"]["model"].startswith("SmolLM2-135M-Instruct.Q4_1.gguf")
        assert data["llm"]["prompt_version"]
        cost = synth[sample_id]["provenance"]  # beside the data, outside its hash
        assert "usage" not in data and "calls" not in data
        assert set(cost["usage"]) >= {"prompt_tokens", "completion_tokens", "calls", "seconds"}
        assert "\n" not in data["caption"]
    for sample_id in asked:  # the judge ran on every MERR reasoning
        data, cost = synth[sample_id]["data"], synth[sample_id]["provenance"]
        assert isinstance(data["judge_accepts"], bool) and data["judge_reason"]
        purposes = [call["purpose"] for call in cost["calls"]]
        assert purposes == ["merr_reasoning", "judge", "open_prediction"]
        assert (
            sum(call["prompt_tokens"] for call in cost["calls"]) == (cost["usage"]["prompt_tokens"])
        )
        assert all(call["seconds"] > 0 or call["cache_hits"] for call in cost["calls"])
    happy = synth["sample_00000001"]["data"]
    assert happy["caption"].endswith("Saying: I finally passed the exam!")
    assert happy["reasoning_label"] == "happy" and happy["smp_reason_caption"]
    quiet = synth["sample_00000003"]["data"]  # sad face, no audio, no speech
    assert "Saying" not in quiet["caption"] and {"tone", "speech"} <= set(quiet["missing_cues"])
    for sample_id in set(kept) - CUED:  # no cue at all: the LLM is not asked to make one up
        data = synth[sample_id]["data"]
        assert data["caption"] == "" and data["open_label"] is None
        assert synth[sample_id]["provenance"]["usage"]["calls"] == 0
        assert data["notes"][0].startswith("LLM not asked")
    labels = records(out, "label")
    assert set(labels) == set(kept)
    for sample_id, record in labels.items():
        data = record["data"]
        assert data["tier"] in ("coarse", "fine", "rejected")
        assert data["label"] is None or data["label"] in MERR_LABELS
        if data["tier"] != "fine":
            assert data["reasons"], sample_id  # every non-fine sample says why
    assert labels["sample_00000003"]["data"]["label"] == "sad"
    assert labels["sample_00000003"]["data"]["au_rule_agrees"] is True
    assert labels["sample_00000003"]["data"]["valence"] == -3.0


def test_usage_is_summed_per_stage_and_matches_the_records(first_run) -> None:
    _, summary, out = first_run
    totals = metrics(summary, "synthesize")
    synth = [r["provenance"]["usage"] for r in records(out, "synthesize").values()]
    assert totals["calls"] == sum(u["calls"] for u in synth) >= len(CUED)
    assert totals["prompt_tokens"] == sum(u["prompt_tokens"] for u in synth) > 0
    assert totals["completion_tokens"] > 0 and totals["llm_seconds"] > 0


def test_resume_cache_and_staleness(first_run, write_config, tmp_path: Path) -> None:
    path, _, out = first_run
    again = run_pipeline(path, LLM_STAGES, workspace=llm_workspace(path))
    assert tally(again, "synthesize")["computed"] == 0 and tally(again, "label")["computed"] == 0

    hashes = {s: r["data_hash"] for s, r in records(out, "synthesize").items()}
    forced = run_pipeline(path, ["synthesize"], workspace=llm_workspace(path), force=True)
    totals = metrics(forced, "synthesize")
    assert totals["calls"] == 0 and totals["cache_hits"] > 0  # replies came from the cache
    # Answered from the cache: the same data, so nothing downstream is stale (the cost,
    # seconds and cache hits, changed, but it lives beside the data, outside its hash).
    assert {s: r["data_hash"] for s, r in records(out, "synthesize").items()} == hashes
    after = run_pipeline(path, LLM_STAGES, workspace=llm_workspace(path))
    assert tally(after, "label")["computed"] == 0

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    from merr_factory.llm.prompts import load_prompts

    shipped = load_prompts()
    for name in PROMPT_NAMES:
        (prompts / f"{name}.txt").write_text(shipped.texts[name], encoding="utf-8")
    edited = shipped.texts["merr_reasoning"].replace("two to four", "two or three")
    (prompts / "merr_reasoning.txt").write_text(edited, encoding="utf-8")
    changed = write_config(
        "changed.yaml",
        stages={"synthesize": {"llm": LLM, "judge": True, "prompts_dir": str(prompts)}},
    )
    rerun = run_pipeline(changed, LLM_STAGES, workspace=llm_workspace(changed))
    computed = tally(rerun, "synthesize")["computed"]
    assert computed == len(records(out, "synthesize"))  # prompt text change: all stale
    totals = metrics(rerun, "synthesize")
    assert totals["calls"] >= len(CUED)  # MERR prompts changed: asked again
    # open prompts unchanged: from the cache (a judge prompt too, if a reasoning repeated)
    assert totals["cache_hits"] >= len(CUED)
    shutil.rmtree(prompts)


def test_a_missing_model_fails_each_sample_with_a_clear_error(write_config, tmp_path) -> None:
    path = write_config(
        stages={"synthesize": {"llm": {"backend": "llamacpp", "model_path": "/no/model.gguf"}}}
    )
    summary = run_pipeline(path, LLM_STAGES, workspace=llm_workspace(path))
    kept = [s for s, r in records(tmp_path / "out", "filter").items() if r["data"]["keep"]]
    assert tally(summary, "synthesize")["failed"] == len(kept)
    assert tally(summary, "label")["blocked"] == len(kept)
    for record in records(tmp_path / "out", "synthesize").values():
        assert record["status"] == "failed"
        assert record["error"]["type"] == "StageSetupError"
        assert record["error"]["message"] == (
            "synthesize could not be set up: "
            "cannot load the LLM: llamacpp: model_path /no/model.gguf is not a file"
        )
