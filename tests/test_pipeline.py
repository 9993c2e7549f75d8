"""The runner: resume, staleness, failure records, atomic results, and run options.

Two small stages defined here (``note`` writes a file, ``boom`` fails for one sample) stand in
for the later stages, so the runner is tested on real records without any model.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from merr_factory.config import load_config
from merr_factory.reports.run_report import render_summary
from merr_factory.reports.status import collect_status
from merr_factory.run.planning import Planner, State
from merr_factory.run.store import Store
from merr_factory.run.workspace import SelectionError, Shard, open_workspace
from merr_factory.stage_data import IngestData, StageOutput
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings

from .conftest import run_pipeline, tally

FACTS = RunFacts(label_set=("happy", "sad"))


class NoteSettings(StageSettings):
    greeting: str = "hello"
    batch_size: int = 4
    not_in_fingerprint: ClassVar[frozenset[str]] = frozenset({"batch_size"})


class NoteData(StageOutput):
    """What the test stage "note" stores."""

    stage: ClassVar[str] = "note"
    text: str


class NoteStage(Stage[NoteSettings]):
    """Writes a small file from the ingest probe: a stage with an artifact."""

    name = "note"
    summary = "test stage"
    settings_model = NoteSettings
    output_model = NoteData
    requires = ("filter",)
    calls: ClassVar[list[str]] = []

    def process(self, sample: SampleContext) -> StageResult:
        NoteStage.calls.append(sample.source.id)
        probe = sample.input(IngestData).probe
        text = f"{self.settings.greeting} {probe.width}x{probe.height}\n"
        (sample.workdir / "note.txt").write_text(text)
        return StageResult(data=NoteData(text=text.strip()))


class BoomStage(Stage[StageSettings]):
    """Fails on one sample, to show a failure never stops the others."""

    name = "boom"
    summary = "test stage"
    settings_model = StageSettings
    requires = ("note",)

    def process(self, sample: SampleContext) -> StageResult:
        if sample.source.id == "sample_00000002":
            raise RuntimeError("simulated model crash\nsecond line")
        return StageResult(data={"ok": True})


def workspace_with_test_stages(config_path: Path, greeting: str = "hello", batch_size: int = 4):
    workspace = open_workspace(load_config(config_path))
    settings = NoteSettings(greeting=greeting, batch_size=batch_size)
    workspace.stages["note"] = NoteStage(settings, FACTS)
    workspace.stages["boom"] = BoomStage(StageSettings(), FACTS)
    return workspace


ALL = ["ingest", "filter", "note", "boom"]


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    NoteStage.calls.clear()


def records(output: Path, stage: str) -> dict[str, dict]:
    folder = output / "stages" / stage
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def test_first_run_computes_everything_then_resume_skips(write_config) -> None:
    path = write_config()
    first = run_pipeline(path)
    assert tally(first, "ingest")["computed"] == 6
    assert tally(first, "filter")["computed"] == 6
    second = run_pipeline(path)
    assert tally(second, "ingest") == dict.fromkeys(tally(second, "ingest"), 0) | {"skipped": 6}
    assert tally(second, "filter")["skipped"] == 6


def test_ingest_records_hold_probe_and_label(write_config, tmp_path: Path) -> None:
    run_pipeline(write_config())
    ingest = records(tmp_path / "out", "ingest")
    assert set(ingest) == {
        "sample_00000001",
        "sample_00000002",
        "sample_00000003",
        "samplenew_00000004",
        "samplenew_00000005",
        "sample_00000006",
    }
    first = ingest["sample_00000001"]
    assert first["status"] == "done"
    assert first["data"]["label"] == "happy"
    assert first["data"]["valence"] == 2.5
    assert first["data"]["label_status"] == "labelled"
    assert first["data"]["probe"]["audio"]["codec"] == "aac"
    assert ingest["samplenew_00000005"]["data"]["probe"]["audio"] is None
    assert ingest["sample_00000006"]["data"]["kind"] == "image"


def test_changing_a_filter_setting_recomputes_filter_and_later_only(write_config) -> None:
    path = write_config()
    run_pipeline(path, ALL, workspace_with_test_stages(path))
    changed = write_config(stages={"filter": {"min_width": 100}})  # same verdicts
    summary = run_pipeline(changed, ALL, workspace_with_test_stages(changed))
    assert tally(summary, "ingest")["skipped"] == 6
    assert tally(summary, "filter")["computed"] == 6
    # The filter's verdicts did not change, so what follows sees the same inputs: kept.
    assert tally(summary, "note")["skipped"] == 6
    stricter = write_config(stages={"filter": {"require_audio": True}})
    summary = run_pipeline(stricter, ALL, workspace_with_test_stages(stricter))
    assert tally(summary, "filter")["computed"] == 6
    assert tally(summary, "note")["excluded"] == 1  # the clip without audio is now dropped
    assert tally(summary, "note")["skipped"] == 5


def test_changing_a_later_stage_setting_leaves_earlier_stages(write_config) -> None:
    path = write_config()
    run_pipeline(path, ALL, workspace_with_test_stages(path))
    summary = run_pipeline(path, ALL, workspace_with_test_stages(path, greeting="bonjour"))
    assert tally(summary, "ingest")["skipped"] == 6
    assert tally(summary, "filter")["skipped"] == 6
    assert tally(summary, "note")["computed"] == 6
    assert tally(summary, "boom")["computed"] == 5  # note's output changed, boom follows
    assert tally(summary, "boom")["failed"] == 1


def test_settings_outside_the_fingerprint_do_not_make_stale(write_config) -> None:
    path = write_config()
    run_pipeline(path, ALL, workspace_with_test_stages(path))
    summary = run_pipeline(path, ALL, workspace_with_test_stages(path, batch_size=64))
    assert tally(summary, "note")["skipped"] == 6


def test_a_touched_clip_is_reprobed_alone(write_config, clips: Path) -> None:
    path = write_config()
    run_pipeline(path, ALL, workspace_with_test_stages(path))
    clip = clips / "sample_00000003.avi"
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))
    summary = run_pipeline(path, ALL, workspace_with_test_stages(path))
    assert tally(summary, "ingest")["computed"] == 1
    assert tally(summary, "ingest")["skipped"] == 5
    assert tally(summary, "filter")["computed"] == 1  # the filter reads the file itself
    assert tally(summary, "filter")["skipped"] == 5
    assert tally(summary, "note")["skipped"] == 6  # same data as before: nothing further to do


def test_a_label_change_reaches_only_that_sample(write_config, clips: Path) -> None:
    path = write_config()
    run_pipeline(path)
    labels = clips / "labels.csv"
    labels.write_text(labels.read_text().replace("sample_00000003,sad", "sample_00000003,angry"))
    summary = run_pipeline(path)
    assert tally(summary, "ingest")["computed"] == 1
    assert tally(summary, "filter")["computed"] == 1


def test_failure_is_recorded_and_others_go_on(write_config, tmp_path: Path, caplog) -> None:
    path = write_config()
    with caplog.at_level("ERROR", logger="merr_factory"):
        summary = run_pipeline(path, ALL, workspace_with_test_stages(path))
    assert tally(summary, "boom") == {
        "computed": 5,
        "skipped": 0,
        "failed": 1,
        "excluded": 0,
        "blocked": 0,
        "waiting": 0,
    }
    assert summary.failed == 1
    failure = records(tmp_path / "out", "boom")["sample_00000002"]
    assert failure["status"] == "failed"
    assert failure["error"]["type"] == "RuntimeError"
    assert failure["error"]["message"] == "simulated model crash"
    assert "Traceback" in failure["error"]["traceback"]
    assert "sample_00000002.mp4: boom failed: RuntimeError: simulated model crash" in caplog.text
    # A failed sample is tried again on the next run; current ones are not.
    again = run_pipeline(path, ALL, workspace_with_test_stages(path))
    assert tally(again, "boom")["failed"] == 1
    assert tally(again, "boom")["skipped"] == 5


def test_status_counts_every_state(write_config, clips: Path) -> None:
    path = write_config(stages={"filter": {"require_audio": True}})
    workspace = workspace_with_test_stages(path)
    run_pipeline(path, ["ingest", "filter", "note"], workspace)
    (clips / "sample_00000003.avi").touch()  # ingest of one sample becomes stale
    statuses = {s.stage: s for s in collect_status(workspace_with_test_stages(path))}
    assert statuses["ingest"].counts == {State.DONE: 5, State.STALE: 1}
    assert statuses["filter"].counts == {State.DONE: 5, State.STALE: 1}
    assert statuses["filter"].drop_reasons == {"no_audio": 1}
    assert statuses["note"].counts == {State.DONE: 4, State.STALE: 1, State.EXCLUDED: 1}
    assert statuses["boom"].counts == {State.PENDING: 5, State.EXCLUDED: 1}


def test_blocked_after_a_failure(write_config) -> None:
    path = write_config()
    workspace = workspace_with_test_stages(path)

    class After(BoomStage):
        name = "after"
        requires = ("boom",)

        def process(self, sample: SampleContext) -> StageResult:
            return StageResult(data={})

    workspace.stages["after"] = After(StageSettings(), FACTS)
    summary = run_pipeline(path, [*ALL, "after"], workspace)
    assert tally(summary, "after")["blocked"] == 1
    assert tally(summary, "after")["computed"] == 5


def test_running_a_later_stage_alone_waits_for_stale_inputs(write_config) -> None:
    path = write_config()
    run_pipeline(path)
    changed = write_config(stages={"ingest": {"on_duplicate_id": "error"}})
    summary = run_pipeline(changed, ["filter"])
    assert tally(summary, "filter")["waiting"] == 6
    assert tally(summary, "filter")["computed"] == 0


def test_force_limit_and_samples(write_config) -> None:
    path = write_config()
    summary = run_pipeline(path, ["ingest"], limit=2)
    assert tally(summary, "ingest")["computed"] == 2
    summary = run_pipeline(path, ["ingest"], sample_ids=["samplenew_00000005"])
    assert tally(summary, "ingest")["computed"] == 1
    summary = run_pipeline(path, ["ingest"], sample_ids=["sample_00000001"], force=True)
    assert tally(summary, "ingest")["computed"] == 1
    assert summary.samples == 1
    with pytest.raises(SelectionError, match="no such sample: nope"):
        run_pipeline(path, ["ingest"], sample_ids=["nope"])


def test_damaged_records_are_recomputed(write_config, tmp_path: Path, caplog) -> None:
    path = write_config()
    run_pipeline(path, ALL, workspace_with_test_stages(path))
    stage_dir = tmp_path / "out" / "stages"
    (stage_dir / "ingest" / "sample_00000001.json").write_text('{"format": 1, "stage": "ing')
    edited = json.loads((stage_dir / "filter" / "sample_00000003.json").read_text())
    edited["data"]["keep"] = False
    (stage_dir / "filter" / "sample_00000003.json").write_text(json.dumps(edited))
    (stage_dir / "note" / "sample_00000006" / "note.txt").write_text("short")
    (stage_dir / "note" / "sample_00000001" / "note.txt").unlink()
    (stage_dir / "ingest" / ".tmp-abc.part").write_text("{half a record")
    NoteStage.calls.clear()
    with caplog.at_level("WARNING", logger="merr_factory"):
        summary = run_pipeline(path, ALL, workspace_with_test_stages(path))
    assert tally(summary, "ingest")["computed"] == 1
    assert tally(summary, "filter")["computed"] == 1
    assert set(NoteStage.calls) == {"sample_00000001", "sample_00000006"}
    assert "damaged record" in caplog.text
    assert "record content does not match its hash" in caplog.text
    assert "file note.txt has 5 bytes" in caplog.text
    assert "file note.txt is missing" in caplog.text


def test_artifacts_are_listed_and_in_place(write_config, tmp_path: Path) -> None:
    path = write_config()
    run_pipeline(path, ALL, workspace_with_test_stages(path))
    note = records(tmp_path / "out", "note")["sample_00000001"]
    (artifact,) = note["artifacts"]
    file = tmp_path / "out" / "stages" / "note" / "sample_00000001" / artifact["path"]
    assert file.read_text() == "hello 480x270\n"
    assert artifact["size"] == file.stat().st_size
    assert not list((tmp_path / "out" / ".tmp").iterdir())  # work folders cleaned up


def test_planner_fingerprint_depends_on_upstream_content(write_config, tmp_path: Path) -> None:
    path = write_config()
    workspace = workspace_with_test_stages(path)
    run_pipeline(path, ALL, workspace)
    planner = Planner(workspace.stages, Store(tmp_path / "out"), workspace.labels)
    source = workspace.samples[0]
    before = planner.verdict("note", source)
    assert before.state is State.DONE
    filter_record = Store(tmp_path / "out").load("filter", source.id)
    assert filter_record is not None
    assert planner.record("filter", source.id).data_hash == filter_record.data_hash
    filter_record.data["decode"]["frames_read"] += 1
    changed = planner.fingerprint(
        workspace.stages["note"], source, {"filter": filter_record.seal()}
    )
    assert before.expected == before.record.fingerprint
    assert changed != before.expected


def test_output_paths_stay_inside_the_output_folder(tmp_path: Path) -> None:
    store = Store(tmp_path / "out")
    with pytest.raises(ValueError, match="unsafe sample id"):
        store.record_key("ingest", "../../escape")
    with pytest.raises(ValueError, match="unsafe sample id"):
        store.record_key("ingest", "/etc")


class SlowIOStage(Stage[StageSettings]):
    """Waits like an HTTP call; notes how many calls overlap and reports a per-call metric.

    Calls meet at a barrier of three, so the test passes only if three really run at once,
    however slow the machine is; a fourth at once would show in ``peak``.
    """

    name = "slow"
    summary = "test stage"
    settings_model = StageSettings
    requires = ("filter",)
    limit = 3

    def __init__(self, settings: StageSettings, facts: RunFacts) -> None:
        super().__init__(settings, facts)
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(self.limit, timeout=30)
        self.active = 0
        self.peak = 0

    def concurrency(self) -> int:
        return self.limit

    def process(self, sample: SampleContext) -> StageResult:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        self.barrier.wait()
        time.sleep(0.01)
        with self.lock:
            self.active -= 1
        return StageResult(data={"id": sample.source.id}, metrics={"tokens": 10, "calls": 1})


def test_io_bound_stages_run_concurrently_within_their_bound(write_config) -> None:
    path = write_config()
    workspace = open_workspace(load_config(path))
    slow = SlowIOStage(StageSettings(), FACTS)
    workspace.stages["slow"] = slow
    summary = run_pipeline(path, ["ingest", "filter", "slow"], workspace)
    assert slow.peak == 3  # six samples, bound three: overlapping, never more than three
    slow_tally = next(t for t in summary.tallies if t.stage == "slow")
    assert slow_tally.computed == 6
    assert slow_tally.metrics == {"tokens": 60, "calls": 6}
    assert "slow totals: calls 6, tokens 60" in render_summary(summary)


class GatherStage(Stage[NoteSettings]):
    """Writes one file over all samples, like an export."""

    name = "gather"
    summary = "test stage"
    settings_model = NoteSettings
    requires = ("note",)
    finalized: ClassVar[int] = 0

    def process(self, sample: SampleContext) -> StageResult:
        return StageResult(data={"line": sample.input(NoteData).text})

    def finalize(self, records, target: Path, store) -> None:
        GatherStage.finalized += 1
        lines = [f"{record.sample} {record.data['line']}" for record in records]
        (target / "all.txt").write_text("\n".join(lines) + "\n")


def test_whole_set_output_is_written_once_and_refreshed_on_change(
    write_config, tmp_path: Path
) -> None:
    path = write_config(stages={"filter": {"require_audio": True}})
    stages = ["ingest", "filter", "note", "gather"]

    def run(greeting: str = "hello"):
        workspace = workspace_with_test_stages(path, greeting=greeting)
        workspace.stages["gather"] = GatherStage(NoteSettings(), FACTS)
        return run_pipeline(path, stages, workspace)

    GatherStage.finalized = 0
    first = run()
    output = tmp_path / "out" / "gather" / "all.txt"
    lines = output.read_text().splitlines()
    assert len(lines) == 5  # the clip without audio was dropped
    assert lines[0] == "sample_00000001 hello 480x270"
    assert next(t for t in first.tallies if t.stage == "gather").final == "written"
    second = run()
    assert next(t for t in second.tallies if t.stage == "gather").final == "current"
    assert GatherStage.finalized == 1
    run(greeting="hi")
    assert GatherStage.finalized == 2
    assert output.read_text().splitlines()[0] == "sample_00000001 hi 480x270"
    assert not list((tmp_path / "out" / ".tmp").iterdir())


class NoWeightsStage(Stage[StageSettings]):
    """Its set-up fails like a model whose weights cannot be downloaded."""

    name = "noweights"
    summary = "test stage"
    settings_model = StageSettings
    requires = ("filter",)
    setups: ClassVar[int] = 0

    def setup(self) -> None:
        NoWeightsStage.setups += 1
        raise FileNotFoundError("weights not found in /models; set model_path")

    def process(self, sample: SampleContext) -> StageResult:
        raise AssertionError("never called without a set-up")


def test_a_failed_setup_fails_each_sample_with_one_logged_reason(
    write_config, tmp_path: Path, caplog
) -> None:
    path = write_config()
    workspace = open_workspace(load_config(path))
    workspace.stages["noweights"] = NoWeightsStage(StageSettings(), FACTS)
    NoWeightsStage.setups = 0
    with caplog.at_level("ERROR", logger="merr_factory"):
        summary = run_pipeline(path, ["ingest", "filter", "noweights"], workspace)
    assert tally(summary, "noweights")["failed"] == 6
    assert NoWeightsStage.setups == 1
    assert caplog.text.count("weights not found") == 1
    failure = records(tmp_path / "out", "noweights")["sample_00000001"]
    assert failure["error"]["type"] == "StageSetupError"
    assert "weights not found in /models" in failure["error"]["message"]


def test_no_op_rerun_reads_heads_from_the_index(write_config, tmp_path: Path, monkeypatch) -> None:
    path = write_config()
    run_pipeline(path, ALL, workspace_with_test_stages(path))
    loads: list[tuple[str, str]] = []
    real_load = Store.load

    def counting_load(self, stage: str, sample_id: str):
        loads.append((stage, sample_id))
        return real_load(self, stage, sample_id)

    monkeypatch.setattr(Store, "load", counting_load)
    summary = run_pipeline(path, ALL, workspace_with_test_stages(path))
    assert tally(summary, "note")["skipped"] == 6
    # Only the failed sample is read: failures are not indexed, and its retry reads its inputs.
    assert {sample for _, sample in loads} == {"sample_00000002"}
    assert ("boom", "sample_00000002") in loads
    # A record rewritten behind the index's back is read and verified again.
    record = tmp_path / "out" / "stages" / "filter" / "sample_00000003.json"
    record.write_text(record.read_text().replace('"keep": true', '"keep": false'))
    loads.clear()
    summary = run_pipeline(path, ALL, workspace_with_test_stages(path))
    assert ("filter", "sample_00000003") in loads
    assert tally(summary, "filter")["computed"] == 1


def test_shards_keep_their_own_indexes_and_a_full_run_merges_them(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one shared index file the last shard to finish would drop the others' entries,
    and the next run would read and verify every record again."""
    config = write_config()
    for index in range(2):
        run_pipeline(config, shard=Shard(index, 2))
    state = tmp_path / "out" / ".state"
    assert {path.name for path in state.glob("filter*.index")} == {
        "filter.shard-0-of-2.index",
        "filter.shard-1-of-2.index",
    }
    loads: list[str] = []
    original = Store.load

    def counting(self: Store, stage: str, sample_id: str):
        loads.append(f"{stage}/{sample_id}")
        return original(self, stage, sample_id)

    monkeypatch.setattr(Store, "load", counting)
    again = run_pipeline(config)

    assert tally(again, "filter")["skipped"] == 6
    assert loads == []  # every head came from the merged shard indexes
    assert {path.name for path in state.glob("filter*.index")} == {"filter.index"}


def test_a_stage_that_writes_no_file_gets_no_work_folder(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: set[str] = set()
    mkdir = Path.mkdir

    def spying_mkdir(self: Path, *args, **kwargs) -> None:
        if self.parent.name == ".tmp":
            made.add(self.name)
        mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", spying_mkdir)
    path = write_config()
    run_pipeline(path, ALL, workspace_with_test_stages(path))
    stages = [name.split("-")[0] for name in made]
    assert stages.count("note") == 6  # each note sample writes a file in its own folder
    assert "boom" not in stages and "filter" not in stages
    notes, booms = records(tmp_path / "out", "note"), records(tmp_path / "out", "boom")
    assert all(record["artifacts"] for record in notes.values())
    assert not any(record.get("artifacts") for record in booms.values())
    assert not list((tmp_path / "out" / ".tmp").glob("*-sample_*"))  # nothing left behind
