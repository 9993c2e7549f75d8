"""The resume index of a store (``store.index``) on its own: what it answers from its entries,
what it writes and reads back, and when a stage is sealed and unsealed. Each ``Store`` below
is one pass of one process over the same output folder; the runs that rely on all this are
in ``test_resume_scale.py`` and ``test_pipeline.py``."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import merr_factory.run.resume_index as resume_index
from merr_factory.run.folders import IndexEntry
from merr_factory.run.records import ErrorInfo, Record
from merr_factory.run.resume_index import StageIndex
from merr_factory.run.store import Store
from merr_factory.stage_data import Reason


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The records read in full (``Store.load``), by (stage, sample)."""
    read: list[tuple[str, str]] = []
    real = Store.load

    def counting(self: Store, stage: str, sample_id: str) -> Record | None:
        read.append((stage, sample_id))
        return real(self, stage, sample_id)

    monkeypatch.setattr(Store, "load", counting)
    return read


@pytest.fixture
def seal_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seal a stage folder however recently it changed (the tests change it within ms)."""
    monkeypatch.setattr(resume_index, "SEAL_AFTER_NS", 0)


def stored(store: Store, sample: str, stage: str = "s", **fields: object) -> Record:
    """A done record saved and remembered, as the runner does with what a stage returns."""
    record = Record(stage=stage, sample=sample, status="done", fingerprint="f" * 32, **fields)
    store.index.remember(record, store.save(record.seal()))
    return record


def sealed(root: Path, stages: tuple[str, ...] = ("s",)) -> Store:
    """A pass over an output whose stages a pass before this one sealed."""
    writer = Store(root)
    for stage in stages:
        for sample in ("a", "b", "c"):
            stored(writer, sample, stage, data={"n": sample})
    writer.index.flush()
    checker = Store(root)  # a later pass: every entry checked, every folder old enough
    for stage in stages:
        checker.index.seal(stage)
    checker.index.flush()
    store = Store(root)
    assert all(store.index.seal(stage) is not None for stage in stages)
    return store


def index_file(root: Path, stage: str = "s") -> StageIndex:
    return StageIndex.from_bytes((root / ".state" / f"{stage}.index").read_bytes())


def edit_in_place(root: Path, sample: str) -> Path:
    """Change a record without a rename: its folder's ctime stays, as a seal saw it."""
    path = root / "stages" / "s" / f"{sample}.json"
    path.write_text(path.read_text().replace('"n": "', '"n": "edited '))
    return path


def test_a_remembered_record_is_found_by_head_without_being_read(
    tmp_path: Path, loads: list[tuple[str, str]]
) -> None:
    store = Store(tmp_path)
    record = stored(store, "a", data={"n": 1})
    head = store.index.head("s", "a")
    assert head is not None and (head.fingerprint, head.data_hash) == ("f" * 32, record.data_hash)
    assert store.index.data_hash("s", "a") == record.data_hash
    assert store.index.head("s", "b") is None and store.index.data_hash("s", "b") == ""
    assert loads == []


def test_an_index_flushed_and_read_again_gives_the_same_heads(
    tmp_path: Path, loads: list[tuple[str, str]]
) -> None:
    store = Store(tmp_path)
    workdir = store.new_workdir("s", "c")
    (workdir / "x.bin").write_bytes(b"xyz")
    records = [
        stored(store, "a", data={"n": 1}),
        stored(store, "b", halt=[Reason(code="too_short", message="1.2 s")]),
        stored(store, "c", artifacts=store.commit_artifacts("s", "c", workdir)),
    ]
    failed = Record(stage="s", sample="d", status="failed", fingerprint="f" * 32,
                    error=ErrorInfo(type="ValueError", message="bad"))  # fmt: skip
    store.index.remember(failed, store.save(failed.seal()))
    store.index.flush()
    again = Store(tmp_path)
    for record in records:
        head = again.index.head("s", record.sample)
        assert head is not None
        assert (head.fingerprint, head.data_hash, head.halted) == (
            record.fingerprint, record.data_hash, record.halted,
        )  # fmt: skip
        assert list(head.halt) == record.halt
    assert loads == []
    head = again.index.head("s", "d")  # failures are not indexed: read, and retried
    assert head is not None and head.status == "failed" and loads == [("s", "d")]


def test_a_pass_that_checks_every_entry_of_an_old_folder_seals_it(
    tmp_path: Path, seal_at_once: None, loads: list[tuple[str, str]]
) -> None:
    writer = Store(tmp_path)
    for sample in ("a", "b", "c"):
        stored(writer, sample)
    writer.index.flush()
    assert writer.index.seal("s") is None  # this pass wrote into the folder
    checker = Store(tmp_path)
    assert checker.index.head("s", "a") is not None  # b and c are checked when flushing
    checker.index.flush()
    seal = checker.index.seal("s")
    assert seal is not None and index_file(tmp_path).seal == list(seal)
    later = Store(tmp_path)
    assert later.index.seal("s") == seal
    assert sorted(name for name, _ in later.index.vouched_for("s")) == ["a", "b", "c"]
    assert loads == []


def test_no_seal_from_a_recent_folder_a_shard_or_a_folder_changed_during_the_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = Store(tmp_path)
    stored(writer, "a")
    writer.index.flush()

    def one_pass(part: str | None = None, meanwhile: str | None = None) -> Store:
        store = Store(tmp_path)
        store.index.write_as(part)
        assert store.index.head("s", "a") is not None
        if meanwhile is not None:  # another process writes into the folder
            stored(Store(tmp_path), meanwhile)
        store.index.flush()
        return store

    assert one_pass().index.seal("s") is None  # the folder changed moments ago
    monkeypatch.setattr(resume_index, "SEAL_AFTER_NS", 0)
    assert one_pass(part="shard-0-of-2").index.seal("s") is None
    assert one_pass(meanwhile="b").index.seal("s") is None
    assert Store(tmp_path).index.seal("s") is None
    assert one_pass().index.seal("s") is not None  # the same pass, with nothing in the way


def test_an_entry_changed_before_the_seal_is_dropped_and_its_record_read(
    tmp_path: Path, seal_at_once: None, loads: list[tuple[str, str]]
) -> None:
    writer = Store(tmp_path)
    for sample in ("a", "b"):
        stored(writer, sample, data={"n": sample})
    writer.index.flush()
    path = edit_in_place(tmp_path, "b")
    checker = Store(tmp_path)
    assert checker.index.head("s", "a") is not None
    checker.index.flush()  # checks b (not asked for): changed, so not sealed with the rest
    assert checker.index.seal("s") is not None
    assert [name for name, _ in checker.index.vouched_for("s")] == ["a"]
    assert checker.index.head("s", "b") is None  # read, found damaged, removed
    assert loads == [("s", "b")] and not path.exists()
    assert checker.index.seal("s") is None  # and the removal broke the seal


def test_a_record_found_damaged_under_a_seal_unseals_its_stage(
    tmp_path: Path, seal_at_once: None
) -> None:
    store = sealed(tmp_path)
    edit_in_place(tmp_path, "a")
    assert store.index.head("s", "a") is not None  # the seal vouches for it: not looked at
    assert store.load("s", "a") is None  # reading it checks its hash
    assert store.index.seal("s") is None and list(store.index.vouched_for("s")) == []
    store.index.flush()
    assert index_file(tmp_path).seal is None


def test_remembering_a_record_unseals_its_stage_only(tmp_path: Path, seal_at_once: None) -> None:
    store = sealed(tmp_path, stages=("s", "t"))
    stored(store, "d", data={"n": "d"})
    assert store.index.seal("s") is None and store.index.seal("t") is not None
    assert store.index.head("s", "d") is not None
    store.index.flush()
    assert index_file(tmp_path, "s").seal is None and index_file(tmp_path, "t").seal is not None


def test_look_again_sees_what_another_process_wrote_since(
    tmp_path: Path, seal_at_once: None
) -> None:
    store = sealed(tmp_path)
    assert store.index.head("s", "d") is None
    stored(Store(tmp_path), "d")
    assert store.index.seal("s") is not None  # what this pass saw
    store.index.look_again()
    assert store.index.seal("s") is None and store.index.head("s", "d") is not None


def test_an_index_entry_naming_no_sample_is_dropped(tmp_path: Path, seal_at_once: None) -> None:
    """The index is a cache: a damaged one costs time, never a crash."""
    index = StageIndex()
    index.put("../x", (1, 1), IndexEntry(1, 1, "f" * 32, "d" * 32, [], []))
    (tmp_path / ".state").mkdir()
    (tmp_path / ".state" / "s.index").write_bytes(index.to_bytes())
    (tmp_path / "stages" / "s").mkdir(parents=True)
    store = Store(tmp_path)
    assert store.index.seal("s") is None
    store.index.flush()
    assert list(index_file(tmp_path).samples()) == []


def test_a_pickled_store_is_a_fresh_one_with_its_own_index(tmp_path: Path) -> None:
    store = Store(tmp_path)
    stored(store, "a")
    copy = pickle.loads(pickle.dumps(store))
    assert copy.root == store.root and copy.index is not store.index
    assert copy.index.head("s", "a") is not None  # read from the folder: nothing flushed
