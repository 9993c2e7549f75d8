"""Executors: worker processes and Ray give the same records as one in-process worker;
samples flow from stage to stage without waiting for the whole set; shards split a run; a
worker computes ``clips_per_worker`` samples at once, one at a time for stages that are not
thread-safe."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from merr_factory.cli import app
from merr_factory.config import load_config
from merr_factory.executors.processes import WorkerPool
from merr_factory.run.compute import StageHost
from merr_factory.run.records import Record
from merr_factory.run.whole_set import WholeSetStep
from merr_factory.run.workspace import SelectionError, Shard, open_workspace
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings
from merr_factory.stages.label import LabelSettings, LabelStage
from merr_factory.threads import thread_budget

from .conftest import run_pipeline, stored, tally
from .processes import meet, sleep_between

FACTS = RunFacts(label_set=("happy",))


def test_worker_processes_match_one_in_process_worker(write_config, tmp_path: Path) -> None:
    serial = run_pipeline(write_config("a.yaml", output=str(tmp_path / "one")))
    parallel = run_pipeline(
        write_config("b.yaml", output=str(tmp_path / "two"), executor={"workers": 2})
    )
    assert tally(parallel, "filter") == tally(serial, "filter")
    assert stored(tmp_path / "two") == stored(tmp_path / "one")
    assert len(stored(tmp_path / "one")) == 12


class EventStage(Stage[StageSettings]):
    """Notes the order in which (stage, sample) pairs are computed."""

    name = "first"
    summary = "test stage"
    settings_model = StageSettings
    requires = ("filter",)
    events: ClassVar[list[tuple[str, str]]] = []
    lock = threading.Lock()

    def process(self, sample: SampleContext) -> StageResult:
        with self.lock:
            self.events.append((self.name, sample.source.id))
        return StageResult(data={})


class SecondStage(EventStage):
    name = "second"
    requires = ("first",)


def test_samples_flow_to_the_next_stage_without_a_barrier(write_config) -> None:
    path = write_config()
    workspace = open_workspace(load_config(path))
    workspace.stages["first"] = EventStage(StageSettings(), FACTS)
    workspace.stages["second"] = SecondStage(StageSettings(), FACTS)
    EventStage.events.clear()
    run_pipeline(path, ["ingest", "filter", "first", "second"], workspace)
    events = EventStage.events
    assert len(events) == 12
    first_second = events.index(("second", workspace.samples[0].id))
    last_first = events.index(("first", workspace.samples[-1].id))
    assert first_second < last_first  # sample 1 finished before sample 6 began stage "first"


def test_shards_partition_the_samples(write_config) -> None:
    workspace = open_workspace(load_config(write_config()))
    shards = [workspace.select(shard=Shard(index, 3)) for index in range(3)]
    ids = [sample.id for shard in shards for sample in shard]
    assert sorted(ids) == sorted(sample.id for sample in workspace.samples)
    assert len(set(ids)) == len(ids)
    assert Shard.parse("2/3") == Shard(2, 3)
    for bad in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(SelectionError):
            Shard.parse(bad)


def test_shard_option_runs_a_subset(write_config, tmp_path: Path) -> None:
    config = str(write_config())
    runner = CliRunner()
    for index in range(2):
        result = runner.invoke(app, ["run", "--config", config, "--shard", f"{index}/2", "--quiet"])
        assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out" / "stages" / "filter").glob("*.json"))) == 6
    assert len(list((tmp_path / "out" / "runs").glob("*shard0of2*.json"))) == 1
    bad = runner.invoke(app, ["run", "--config", config, "--shard", "2/2"])
    assert bad.exit_code == 2


def test_ray_executor_matches_the_local_executor(write_config, tmp_path: Path, monkeypatch) -> None:
    """A real local Ray (2 CPUs) started by the test; the records must equal the local ones."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    run_pipeline(write_config("local.yaml", output=str(tmp_path / "local")))
    resources = {"ingest": {"num_cpus": 0.5, "actors": 2}, "filter": {"num_cpus": 1}}
    ray_config = write_config(
        "ray.yaml", output=str(tmp_path / "ray"), executor={"kind": "ray", "resources": resources}
    )
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        summary = run_pipeline(ray_config)
    finally:
        ray.shutdown()
    assert tally(summary, "ingest")["computed"] == 6
    assert stored(tmp_path / "ray") == stored(tmp_path / "local")


def test_ray_refuses_more_actors_than_the_cluster_holds(write_config, monkeypatch) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    resources = {"ingest": {"num_cpus": 1, "actors": 2}, "filter": {"num_cpus": 1}}
    config = write_config(executor={"kind": "ray", "resources": resources})
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        with pytest.raises(
            ValueError, match=r"need 3 CPUs \(ingest 2, filter 1\) but the cluster has 2"
        ):
            run_pipeline(config)
    finally:
        ray.shutdown()


class CountFirst(WholeSetStep):
    """A whole-set step over 'first': how many samples it has."""

    name = "count_first"
    reads = "first"

    def compute(self, records: Mapping[str, Record]) -> dict[str, Any]:
        return {sample_id: len(records) for sample_id in records}


class GatherAllStage(EventStage):
    """Reads a whole-set step over 'first', so it waits until 'first' is done for all."""

    name = "second"
    requires = ("first",)

    def whole_set_step(self) -> WholeSetStep | None:
        return CountFirst()


def test_a_stage_that_waits_for_all_starts_after_the_stage_before(write_config) -> None:
    path = write_config()
    workspace = open_workspace(load_config(path))
    workspace.stages["first"] = EventStage(StageSettings(), FACTS)
    workspace.stages["second"] = GatherAllStage(StageSettings(), FACTS)
    EventStage.events.clear()
    summary = run_pipeline(path, ["ingest", "filter", "first", "second"], workspace)
    stages = [stage for stage, _ in EventStage.events]
    assert stages == ["first"] * 6 + ["second"] * 6
    assert tally(summary, "second")["computed"] == 6


def test_a_stage_without_a_whole_set_step_does_not_wait() -> None:
    """The barrier derives from the whole-set step: the label stage waits only when it
    de-duplicates."""
    assert GatherAllStage(StageSettings(), FACTS).waits_for_all()
    assert not EventStage(StageSettings(), FACTS).waits_for_all()
    assert LabelStage(LabelSettings(deduplicate=True), FACTS).waits_for_all()
    assert not LabelStage(LabelSettings(deduplicate=False), FACTS).waits_for_all()


class ThreadBudgetStage(Stage[StageSettings]):
    """Reports the thread budget its worker process gives numeric libraries."""

    name = "threads"
    summary = "test stage"
    settings_model = StageSettings
    requires = ("filter",)

    def process(self, sample: SampleContext) -> StageResult:
        omp = os.environ.get("OMP_NUM_THREADS")
        return StageResult(data={"budget": thread_budget(), "omp": omp, "pid": os.getpid()})


def test_each_worker_process_gets_the_thread_budget(write_config, tmp_path: Path) -> None:
    path = write_config(executor={"workers": 2, "threads_per_worker": 3})
    workspace = open_workspace(load_config(path))
    workspace.stages["threads"] = ThreadBudgetStage(StageSettings(), FACTS)
    run_pipeline(path, ["ingest", "filter", "threads"], workspace)
    data = [
        record["data"]
        for key, record in stored(tmp_path / "out").items()
        if key.startswith("threads/")
    ]
    assert len(data) >= 4
    assert {item["budget"] for item in data} == {3}
    assert {item["omp"] for item in data} == {"3"}
    assert os.getpid() not in {item["pid"] for item in data}


class SlowSetupStage(EventStage):
    """A stage whose models take ``delay`` seconds to load."""

    delay = 0.0

    def setup(self) -> None:
        time.sleep(self.delay)


@pytest.mark.parametrize(("delay", "noted"), [(0.6, True), (0.0, False)])
def test_a_slow_set_up_gets_one_note_and_its_time(caplog, delay: float, noted: bool) -> None:
    stage = SlowSetupStage(StageSettings(), FACTS)
    stage.delay = delay
    host = StageHost(stage, slow_note_s=0.2)
    with caplog.at_level(logging.INFO, logger="merr_factory"):
        host._set_up()
        host._set_up()  # once per worker: the second call loads nothing
    notes = [r.getMessage() for r in caplog.records if r.name == "merr_factory.run.compute"]
    if noted:
        assert notes[0] == "first: loading its models in this worker (first use)..."
        ready = re.fullmatch(r"first: ready after (\d+\.\d) s", notes[1])
        assert ready and float(ready.group(1)) >= 0.6
        assert len(notes) == 2
    else:
        assert notes == []


class TogetherStage(Stage[StageSettings]):
    """Thread-safe: each sample waits in ``process`` until two others are there too, so it
    finishes only if the worker computes three samples at once."""

    name = "together"
    summary = "test stage"
    settings_model = StageSettings
    requires = ("filter",)
    meeting = threading.Barrier(3)

    def thread_safe(self) -> bool:
        return True

    def process(self, sample: SampleContext) -> StageResult:
        self.meeting.wait(timeout=20)
        return StageResult(data={})


class OneAtATimeStage(Stage[StageSettings]):
    """Not declared thread-safe: notes how many samples are in ``process`` at once, and on
    which threads."""

    name = "alone"
    summary = "test stage"
    settings_model = StageSettings
    requires = ("together",)
    lock = threading.Lock()
    inside = 0
    most_inside = 0
    threads: ClassVar[set[str]] = set()

    def process(self, sample: SampleContext) -> StageResult:
        cls = type(self)
        with cls.lock:
            cls.inside += 1
            cls.most_inside = max(cls.most_inside, cls.inside)
            cls.threads.add(threading.current_thread().name)
        time.sleep(0.05)
        with cls.lock:
            cls.inside -= 1
        return StageResult(data={})


def test_one_worker_computes_clips_per_worker_samples_at_once(write_config) -> None:
    """``workers: 1``, ``clips_per_worker: 3``: a thread-safe stage has three samples in
    ``process`` at once on the worker's threads; a stage that is not thread-safe, given the
    same threads, has one at a time."""
    path = write_config(executor={"workers": 1, "clips_per_worker": 3})
    workspace = open_workspace(load_config(path))
    workspace.stages["together"] = TogetherStage(StageSettings(), FACTS)
    workspace.stages["alone"] = OneAtATimeStage(StageSettings(), FACTS)
    summary = run_pipeline(path, ["ingest", "filter", "together", "alone"], workspace)
    assert tally(summary, "together")["computed"] == 6  # three by three
    assert tally(summary, "alone")["computed"] == 6
    assert OneAtATimeStage.most_inside == 1
    assert len(OneAtATimeStage.threads) > 1  # several threads ran it, one at a time


def test_a_worker_process_computes_slots_jobs_at_once() -> None:
    """Two jobs that each wait for the other finish in one worker process with two slots;
    a job ``alone`` waits until the worker holds nothing else."""
    pool = WorkerPool(multiprocessing.get_context("spawn"), 1, int, slots=2)
    try:
        first, second = pool.submit(meet), pool.submit(meet)
        assert first.result(timeout=60) == second.result(timeout=60)
        running = pool.submit(sleep_between, 0.5)
        alone = pool.submit(sleep_between, 0.0, alone=True)
        assert alone.result(timeout=60)[0] >= running.result(timeout=60)[1]
    finally:
        pool.shutdown()
