"""``merr-build estimate``: the pilot's samples are spread over the input, the projection's
arithmetic follows the executor (slots shared by CPU-bound stages, LLM calls beside them, Ray's
pools side by side), and end to end the pilot's records are the real run's: the run after it
computes only the other samples, and doctor's disk check reads the measured bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from merr_factory.cli import app
from merr_factory.config import EstimateSettings
from merr_factory.executors.settings import ExecutorSettings, StageResources
from merr_factory.preflight.doctor import bytes_per_sample
from merr_factory.preflight.estimate import (
    CPU,
    IO,
    WHOLE_SET,
    StageCost,
    parallelism,
    pilot_ids,
    project,
    steady_seconds,
)
from merr_factory.run.records import Record

NO_PRICES = EstimateSettings()


def test_the_pilot_is_spread_over_the_sorted_input() -> None:
    ids = [f"clip_{index:03d}" for index in reversed(range(100))]
    assert pilot_ids(ids, 4) == ["clip_012", "clip_037", "clip_062", "clip_087"]
    assert pilot_ids(ids[-3:], 10) == ["clip_000", "clip_001", "clip_002"]
    ten = pilot_ids(ids[-11:], 10)
    assert len(set(ten)) == 10 and ten[0] == "clip_000" and ten[-1] == "clip_010"


STAGES = [
    StageCost("faces", CPU, 2, seconds=2.0, bytes=1000.0),
    StageCost("asr", CPU, 2, seconds=1.0, bytes=500.0),
    StageCost("synthesize", IO, 4, 6.0, 300.0, prompt_tokens=600.0, completion_tokens=40.0),
    StageCost("export", WHOLE_SET, 1, seconds=0.01, bytes=200.0),
]


def test_local_cpu_stages_share_the_slots_and_llm_calls_run_beside_them() -> None:
    two = ExecutorSettings(workers=2)
    # CPU: (2 + 1) s x 100 / 2 slots = 150 s; LLM: 6 s x 100 / 4 in flight = 150 s, overlapped
    projection = project(STAGES, 100, two, set_up_s=10.0, prices=NO_PRICES)
    assert projection.wall_s == pytest.approx(10.0 + 150.0 + 0.01 * 100)
    assert projection.disk_bytes == 2000 * 100
    assert (projection.prompt_tokens, projection.completion_tokens) == (60_000, 4_000)
    assert projection.cost is None
    # one worker: the CPU-bound stages take twice as long and now set the pace
    one = project(STAGES, 100, ExecutorSettings(workers=1), 10.0, NO_PRICES)
    assert one.wall_s == pytest.approx(10.0 + 300.0 + 1.0)
    # fewer samples than slots: nothing waits, every sample at once
    assert project(STAGES, 1, two, 0.0, NO_PRICES).wall_s == pytest.approx(6.0 + 0.01)


def test_ray_pools_run_side_by_side_and_prices_give_the_cost() -> None:
    ray = ExecutorSettings(kind="ray", resources={"faces": StageResources(actors=4)})
    stages = [
        StageCost("faces", CPU, parallelism(ray, "faces", 1)[1], seconds=2.0, bytes=0.0),
        StageCost("asr", CPU, parallelism(ray, "asr", 1)[1], seconds=1.0, bytes=0.0),
        StageCost("synthesize", IO, parallelism(ray, "synthesize", 8)[1], 6.0, 0.0, 1e3, 1e2),
    ]
    assert [stage.parallel for stage in stages] == [4, 1, 8]
    prices = EstimateSettings(prompt_price_per_million=0.5, completion_price_per_million=2.0)
    projection = project(stages, 1000, ray, set_up_s=0.0, prices=prices)
    assert projection.wall_s == pytest.approx(1000.0)  # asr's one actor: the slowest pool
    assert projection.cost == pytest.approx(1e6 * 0.5 / 1e6 + 1e5 * 2.0 / 1e6)


def test_a_workers_first_use_of_a_stage_is_not_a_samples_cost() -> None:
    def record(seconds: float, first_use: bool = False) -> Record:
        return Record(
            stage="audio", sample="s", status="done", fingerprint="f",
            seconds=seconds, first_use=first_use,
        )  # fmt: skip

    # two workers loaded the stage's models on their first sample (2 s); warm, 0.1 s a sample
    pilot = [record(2.0, True), record(2.1, True), *(record(0.1) for _ in range(8))]
    assert steady_seconds(pilot) == pytest.approx(0.1)
    # only first uses (a pilot no larger than the workers): their mean, the best there is
    assert steady_seconds(pilot[:2]) == pytest.approx(2.05)
    assert steady_seconds([]) == 0.0


def test_nothing_to_run_costs_nothing() -> None:
    projection = project(STAGES, 0, ExecutorSettings(workers=2), 30.0, NO_PRICES)
    assert (projection.wall_s, projection.disk_bytes, projection.prompt_tokens) == (0, 0, 0)


def test_estimate_end_to_end_and_the_run_reuses_the_pilot(write_config, tmp_path: Path) -> None:
    pytest.importorskip("openai", reason="needs the llm-openai extra (pip install openai)")
    from tests.llm.conftest import ScriptedServer, chat_reply

    def answer(number: int, body: dict) -> tuple[int, dict, float]:
        schema = body["response_format"]["json_schema"]["schema"]["properties"]
        reply = {"reasoning": "The raised cheeks and the bright voice show joy."}
        reply = {"label": "happy", **reply} if "label" in schema else reply
        return 200, chat_reply(json.dumps(reply), prompt_tokens=100, completion_tokens=7), 0.0

    with ScriptedServer(answer) as server:
        llm = {"backend": "openai", "model": "scripted", "base_url": server.base_url}
        config = write_config(
            stages={"synthesize": {"llm": {**llm, "cache": False, "concurrency": 2}}},
            estimate={"prompt_price_per_million": 1.0, "completion_price_per_million": 10.0},
        )
        cli = CliRunner()
        done = cli.invoke(app, ["estimate", "--config", str(config), "--pilot", "2", "-q"])
        assert done.exit_code == 0, done.output
        pilot_requests = len(server.requests)
        made = {sample: created(tmp_path / "out", sample) for sample in PILOT}
        rerun = cli.invoke(app, ["run", "--config", str(config), "--quiet"])
        assert rerun.exit_code in (0, 1), rerun.output
    output = tmp_path / "out"
    result = json.loads((output / "estimate.json").read_text())
    assert result["pilot"] == PILOT
    assert result["input_samples"] == 6
    stages = {stage["stage"]: stage for stage in result["stages"]}
    synthesize = stages["synthesize"]
    assert synthesize["lane"] == "io" and synthesize["parallel"] == 2
    # every request of the pilot, 107 tokens each, spread over its 2 samples
    assert synthesize["prompt_tokens"] + synthesize["completion_tokens"] == pytest.approx(
        pilot_requests * 107 / 2
    )
    assert stages["faces"]["seconds"] > 0 and stages["faces"]["bytes"] > 0
    # one worker: its first sample of each stage is marked as the stage's first use
    faces_records = [json.loads((output / "stages/faces" / f"{s}.json").read_text()) for s in PILOT]
    assert sorted(record["first_use"] for record in faces_records) == [False, True]
    assert stages["export (whole set)"]["lane"] == "whole-set"
    assert stages["export (whole set)"]["bytes"] > 0
    whole = result["whole_input"]
    assert whole["prompt_tokens"] == pytest.approx(pilot_requests * 100 / 2 * 6)
    assert whole["cost"] == pytest.approx(
        (whole["prompt_tokens"] + 10 * whole["completion_tokens"]) / 1e6
    )
    assert whole["wall_s"] > result["after_pilot"]["wall_s"] > 0
    assert "synthesize" in done.output and "whole input (6 samples" in done.output
    assert bytes_per_sample(output) == (result["bytes_per_sample"], "measured by estimate")
    # the run computed no stage of a pilot sample again: their records are the pilot's
    # (but for the steps that look at the whole set, which it changed: ``WHOLE_SET_STAGES``)
    assert {sample: created(output, sample) for sample in PILOT} == made
    summary = json.loads(max((output / "runs").glob("*.json")).read_text())
    faces = next(tally for tally in summary["stages"] if tally["stage"] == "faces")
    assert faces["skipped"] == 2 and faces["computed"] + faces["failed"] >= 1


# the label's de-duplication and the export's entries depend on every sample: the run's
# other samples may change them (milliseconds each: the costly stages are not redone)
WHOLE_SET_STAGES = ("label", "export")
PILOT = ["sample_00000002", "samplenew_00000004"]  # 2 of the 6 sample clips, sorted, spread


def created(output: Path, sample: str) -> dict[str, str]:
    """When each stage's record of ``sample`` was made."""
    records = sorted((output / "stages").glob(f"*/{sample}.json"))
    return {
        path.parent.name: json.loads(path.read_text())["created_at"]
        for path in records
        if path.parent.name not in WHOLE_SET_STAGES
    }
