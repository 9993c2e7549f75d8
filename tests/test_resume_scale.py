"""What keeps a no-op re-run over 100k samples quick, and what keeps it right: the columnar
resume index, stage seals, the plan memo, and the records read in full only when used.

Each test shows both sides: the quick path is taken (no ``stat`` per record, no fingerprint
worked out), and a change it must not miss (a record replaced, edited in place, a file
deleted, a clip or a label or a setting changed) is found and recomputed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import merr_factory.run.resume_index as resume_index
from merr_factory.reports.status import collect_status, render_status
from merr_factory.run.atomic import write_bytes_atomic
from merr_factory.run.folders import IndexEntry, LocalFolder
from merr_factory.run.planning import Planner
from merr_factory.run.resume_index import StageIndex
from merr_factory.run.store import Store
from merr_factory.stage_data import IngestData
from merr_factory.stages.base import SampleContext, Stage, StageResult, StageSettings

from .conftest import run_pipeline, tally
from .test_pipeline import FACTS, NoteData, NoteStage, workspace_with_test_stages

STAGES = ["ingest", "filter", "note"]


def entry(fingerprint: str, halt: list[list[str]] | None = None, files: int = 0) -> IndexEntry:
    artifacts = [[f"f{index}.bin", 10 + index] for index in range(files)]
    return IndexEntry(0, 0, fingerprint, "d" * 32, halt or [], artifacts)


def test_the_index_keeps_what_it_was_given_in_columns() -> None:
    index = StageIndex()
    index.put("a", (120, 7), entry("a" * 32, files=2))
    index.put("b", (130, 8), entry("b" * 32, halt=[["too_short", "1.2 s"]]))
    index.put("a", (121, 9), entry("c" * 32))  # replaced: the old row is dropped on writing
    assert index.drop("b") and not index.drop("b")
    index.put("b", (140, 10), entry("e" * 32, halt=[["no_face", "no face"]], files=1))
    read = StageIndex.from_bytes(index.to_bytes())
    assert sorted(read.samples()) == ["a", "b"]
    a, b = read.rows["a"], read.rows["b"]
    assert read.entry(a) == IndexEntry(121, 9, "c" * 32, "d" * 32, [], [])
    assert read.entry(b) == IndexEntry(140, 10, "e" * 32, "d" * 32, [["no_face", "no face"]],
                                       [["f0.bin", 10]])  # fmt: skip
    head = read.head("filter", "b", b)
    assert head.fingerprint == "e" * 32 and head.halted and head.matches("e" * 32)
    assert not head.matches("f" * 32)


def test_indexes_of_the_same_samples_share_their_rows_until_one_changes() -> None:
    first, second = StageIndex(), StageIndex()
    for name in ("a", "b"):
        first.put(name, (1, 1), entry("a" * 32))
        second.put(name, (2, 2), entry("b" * 32))
    one = StageIndex.from_bytes(first.to_bytes())
    two = StageIndex.from_bytes(second.to_bytes(), like=one)
    assert two.rows is one.rows  # one copy of the sample list for every stage
    two.put("c", (3, 3), entry("c" * 32))
    assert "c" in two and "c" not in one and two.rows is not one.rows
    assert one.head("x", "b", one.rows["b"]).fingerprint == "a" * 32


@pytest.mark.parametrize("data", [b"", b"not marshal", b"\xe3\x00"])
def test_an_unreadable_index_is_an_empty_one(data: bytes) -> None:
    assert len(StageIndex.from_bytes(data)) == 0


@pytest.fixture
def seal_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seal a stage folder however recently it changed (the tests change it within ms)."""
    monkeypatch.setattr(resume_index, "SEAL_AFTER_NS", 0)


@pytest.fixture
def stats(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The record files the local folder checks with a ``stat`` (``unchanged``)."""
    checked: list[str] = []
    real = LocalFolder.unchanged

    def counting(self: LocalFolder, folder: str, index_entry: IndexEntry) -> bool:
        checked.append(folder)
        return real(self, folder, index_entry)

    monkeypatch.setattr(LocalFolder, "unchanged", counting)
    return checked


@pytest.fixture
def worked_out(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stages the planner works verdicts out for (not taken from the memo), in order."""
    names_seen: list[str] = []
    real = Planner._plan_group

    def counting(self: Planner, names: list[str], sources: list) -> None:
        names_seen.extend(names)
        real(self, names, sources)

    monkeypatch.setattr(Planner, "_plan_group", counting)
    return names_seen


def run(config: Path, **options: object):
    return run_pipeline(config, STAGES, workspace_with_test_stages(config), **options)


def sealed_output(write_config) -> Path:
    """A computed output, then a no-op pass that seals every stage and writes the memo."""
    config = write_config()
    run(config)
    run(config)
    return config


def test_a_sealed_stage_needs_no_stat_per_record(write_config, seal_at_once, stats) -> None:
    config = sealed_output(write_config)
    assert len(stats) == 3 * 6  # the pass that sealed them checked every record once
    stats.clear()
    again = run(config)
    assert tally(again, "note")["skipped"] == 6
    assert stats == []
    memo = Store(config.parent / "out").plan_memo()
    assert memo is not None and memo.stages == STAGES  # the stages run (and sealed)


def test_a_record_replaced_under_a_seal_is_seen(write_config, seal_at_once, tmp_path) -> None:
    """Every writer replaces a record by a rename, which changes its folder's ctime: the
    seal no longer holds, each record is checked again, and the replaced one is read."""
    config = sealed_output(write_config)
    path = tmp_path / "out" / "stages" / "filter" / "sample_00000003.json"
    record = json.loads(path.read_text())
    record["data"]["keep"] = False  # no longer matches its hash
    write_bytes_atomic(path, json.dumps(record).encode())
    again = run(config)
    assert tally(again, "filter")["computed"] == 1
    assert json.loads(path.read_text())["data"]["keep"] is True


class ReadNote(Stage[StageSettings]):
    """Reads the note stage's record and file: a consumer of a sealed stage's output."""

    name = "readnote"
    summary = "test stage"
    settings_model = StageSettings
    requires = ("note",)

    def process(self, sample: SampleContext) -> StageResult:
        text = sample.input_file(NoteData, "note.txt").read_text()
        return StageResult(data={"chars": len(text), "probe": sample.input(IngestData).kind})


def with_reader(config: Path):
    workspace = workspace_with_test_stages(config)
    workspace.stages["readnote"] = ReadNote(StageSettings(), FACTS)
    return workspace


def test_a_record_edited_in_place_under_a_seal_is_found_when_read(
    write_config, seal_at_once, tmp_path
) -> None:
    """An edit in place leaves the folder's ctime: planning trusts the sealed index, but
    the first stage that reads the record checks its hash, removes it, and fails; the next
    run sees the folder changed and computes the record again."""
    config = write_config()
    for _ in range(2):
        run_pipeline(config, [*STAGES, "readnote"], with_reader(config))
    path = tmp_path / "out" / "stages" / "note" / "sample_00000001.json"
    path.write_text(path.read_text().replace('"text": "hello', '"text": "HELLO'))
    forced = run_pipeline(config, ["readnote"], with_reader(config), force=True)
    assert tally(forced, "readnote")["failed"] == 1
    assert not path.exists()  # removed: never trusted again
    healed = run_pipeline(config, [*STAGES, "readnote"], with_reader(config))
    assert tally(healed, "note")["computed"] == 1 and tally(healed, "readnote")["computed"] == 1
    assert "hello" in json.loads(path.read_text())["data"]["text"]


def test_a_file_deleted_under_a_seal_is_found_when_read(
    write_config, seal_at_once, tmp_path
) -> None:
    config = write_config()
    for _ in range(2):
        run_pipeline(config, [*STAGES, "readnote"], with_reader(config))
    note = tmp_path / "out" / "stages" / "note" / "sample_00000002"
    (note / "note.txt").unlink()  # inside the sample's folder: the stage folder is as sealed
    forced = run_pipeline(config, ["readnote"], with_reader(config), force=True)
    assert tally(forced, "readnote")["failed"] == 1
    assert not note.with_suffix(".json").exists()  # it listed a file that is gone
    healed = run_pipeline(config, [*STAGES, "readnote"], with_reader(config))
    assert tally(healed, "note")["computed"] == 1 and (note / "note.txt").is_file()


def test_the_plan_memo_answers_a_no_op_pass(
    write_config, seal_at_once, worked_out: list[str]
) -> None:
    config = sealed_output(write_config)
    worked_out.clear()  # from here on
    again = run(config)
    assert worked_out == [] and tally(again, "note")["skipped"] == 6
    # status plans the stages never run (pending), and takes the others from the memo
    from_memo = render_status(collect_status(workspace_with_test_stages(config)), 6)
    assert worked_out and not set(worked_out) & set(STAGES)
    worked_out.clear()
    (config.parent / "out" / ".state" / "plan.memo").unlink()
    assert render_status(collect_status(workspace_with_test_stages(config)), 6) == from_memo
    assert set(STAGES) <= set(worked_out)  # planned in full this time: the same counts


def test_the_plan_memo_gives_way_to_a_changed_clip_label_or_setting(
    write_config, seal_at_once, clips: Path
) -> None:
    config = sealed_output(write_config)
    clip = clips / "sample_00000001.mp4"
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))
    touched = run(config)
    assert tally(touched, "ingest")["computed"] == 1 and tally(touched, "filter")["computed"] == 1
    run(config)  # seals again

    rows = (clips / "labels.csv").read_text().splitlines()
    changed = [rows[0], *(row.replace("happy", "sad") for row in rows[1:])]
    (clips / "labels.csv").write_text("\n".join(changed) + "\n")
    relabelled = run(config)
    assert 0 < tally(relabelled, "ingest")["computed"] < 6  # the samples labelled happy
    run(config)

    NoteStage.calls.clear()
    greeting = run_pipeline(config, STAGES, workspace_with_test_stages(config, greeting="hi"))
    assert tally(greeting, "note")["computed"] == 6 and len(NoteStage.calls) == 6


def test_a_record_with_any_json_value_reads_back_intact(tmp_path: Path) -> None:
    """Records are written by pydantic's JSON writer: NaN, infinities, tiny and huge numbers
    and any text read back to the same content, so the record verifies."""
    from merr_factory.run.records import Record

    store = Store(tmp_path)
    data = {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "tiny": 1e-05,
            "huge": 2**70, "zero": -0.0, "text": 'é "\\ \u2028\x00',
            "list": [1, 2.5, None]}  # fmt: skip
    record = Record(stage="s", sample="a", status="done", fingerprint="f" * 32, data=data)
    store.save(record.seal())
    loaded = store.load("s", "a")
    assert loaded is not None and loaded.data_hash == record.data_hash
    assert json.loads((tmp_path / "stages" / "s" / "a.json").read_text())["data"]["tiny"] == 1e-05


def test_discovery_knows_links_and_resolves_paths_as_path_resolve(tmp_path: Path) -> None:
    from merr_factory.inputs.discovery import Extensions, discover

    real = tmp_path / "real"
    real.mkdir()
    (real / "a.mp4").write_bytes(b"x")
    (tmp_path / "linked").symlink_to(real, target_is_directory=True)
    (real / "b.mp4").symlink_to(real / "a.mp4")
    inside = real / "folder"
    inside.mkdir()
    (inside / "c.mp4").write_bytes(b"y")
    (real / "loop").symlink_to(inside, target_is_directory=True)  # a linked folder: not walked
    found = discover(tmp_path / "linked", Extensions((".mp4",), ())).samples
    assert [(source.relpath, source.is_link) for source in found] == [
        ("a.mp4", False), ("b.mp4", True), ("folder/c.mp4", False),
    ]  # fmt: skip
    for source in found:
        assert source.resolved() == str(source.path.resolve())


def test_after_a_run_the_memo_still_answers_for_the_stages_it_did_not_write(
    write_config, seal_at_once, worked_out: list[str]
) -> None:
    config = sealed_output(write_config)
    forced = run_pipeline(config, ["note"], workspace_with_test_stages(config), force=True)
    assert tally(forced, "note")["computed"] == 6  # note's folder changed: no seal, no memo
    worked_out.clear()  # from here on
    again = run(config)
    assert worked_out == ["note"]  # ingest and filter from the memo
    assert tally(again, "ingest")["skipped"] == 6 and tally(again, "note")["skipped"] == 6
    worked_out.clear()
    run(config)  # the pass above sealed note again and wrote a memo with it
    assert worked_out == []
