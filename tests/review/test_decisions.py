"""The review decisions log: append-only per annotator, fsynced, folded last-wins with undo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from merr_factory.curation.review_log import (
    DecisionLog,
    ReviewLogError,
    check_annotator,
    fold,
    read_log,
    read_reviews,
)


def test_each_decision_is_on_disk_when_append_returns(tmp_path: Path, monkeypatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    log = DecisionLog(tmp_path / "review", "ann")
    log.append("s1", "accept", label="happy")
    assert len(synced) == 2  # the line, then the new file's folder
    log.append("s2", "reject")
    assert len(synced) == 3
    lines = (tmp_path / "review" / "ann.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2]
    assert json.loads(lines[1]) == {
        "seq": 2, "at": json.loads(lines[1])["at"], "annotator": "ann", "sample_id": "s2",
        "action": "reject",
    }  # fmt: skip


def test_last_decision_wins_and_edits_accumulate(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path, "ann")
    log.append("s1", "accept", label="happy")
    log.append("s1", "edit", reasoning="She smiles.")
    log.append("s1", "relabel", label="sad")
    log.append("s1", "edit", transcript="Hello.")
    log.append("s2", "reject")
    log.append("s2", "accept", label="angry", audit="tier=fine")
    reviews = fold(read_log(log.path))
    s1, s2 = reviews["s1"], reviews["s2"]
    assert (s1.verdict, s1.label, s1.reasoning, s1.transcript) == (
        "accept", "sad", "She smiles.", "Hello."
    )  # fmt: skip
    assert (s2.verdict, s2.label, s2.audit) == ("accept", "angry", "tier=fine")


def test_undo_takes_back_the_latest_standing_decision_in_order(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path, "ann")
    log.append("s1", "accept", label="happy")
    log.append("s1", "relabel", label="sad")
    log.append("s2", "reject")
    assert log.undo().sample_id == "s2"
    assert log.undo().label == "sad"
    reviews = DecisionLog(tmp_path, "ann").reviews()  # read back from the file
    assert "s2" not in reviews and reviews["s1"].label == "happy"
    assert log.undo().sample_id == "s1"
    assert log.undo() is None and DecisionLog(tmp_path, "ann").reviews() == {}


def test_a_torn_last_line_is_reported_and_the_next_append_starts_a_new_line(
    tmp_path: Path,
) -> None:
    log = DecisionLog(tmp_path, "ann")
    log.append("s1", "accept", label="happy")
    with log.path.open("a", encoding="utf-8") as handle:
        handle.write('{"seq": 2, "at": "x", "annot')  # the crash cut the line
    again = DecisionLog(tmp_path, "ann")
    assert again.problems == [f"{log.path}:2: not JSON; line skipped"]
    again.append("s2", "reject")
    problems: list[str] = []
    decisions = read_log(log.path, problems)
    assert [d.sample_id for d in decisions] == ["s1", "s2"] and len(problems) == 1


def test_incomplete_decisions_and_unsafe_names_are_refused(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path, "ann")
    with pytest.raises(ReviewLogError, match="relabel needs a label"):
        log.append("s1", "relabel")
    with pytest.raises(ReviewLogError, match="edit needs"):
        log.append("s1", "edit")
    assert not log.path.exists()
    for name in ("../x", "a/b", "", ".hidden", "x" * 65):
        with pytest.raises(ReviewLogError, match="annotator"):
            check_annotator(name)


def test_several_annotators_resolve_to_the_latest_verdict_keeping_each(tmp_path: Path) -> None:
    first, second = DecisionLog(tmp_path, "ann"), DecisionLog(tmp_path, "bob")
    first.append("s1", "accept", label="happy")
    second.append("s1", "relabel", label="sad")
    second.append("s2", "edit", reasoning="Fixed.")
    first.append("s2", "reject")
    (tmp_path / "empty.jsonl").write_text("", "utf-8")  # an empty log: no annotator
    reviews = read_reviews(tmp_path)
    s1 = reviews.resolved("s1")
    assert (s1.verdict, s1.label) == ("accept", "sad")
    assert {name: v.label for name, v in s1.annotators.items()} == {"ann": "happy", "bob": "sad"}
    s2 = reviews.resolved("s2")
    assert (s2.verdict, s2.reasoning, list(s2.annotators)) == ("reject", "Fixed.", ["ann"])
    assert reviews.resolved("s3") is None
    assert read_reviews(tmp_path / "none").by_annotator == {}
