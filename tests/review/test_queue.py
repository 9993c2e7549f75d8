"""The queue's cache (``queue.py``, ``app.queue_rows``): taken as it is while the export
records folder is unchanged, never once a record was written, replaced or removed."""

from __future__ import annotations

import marshal
import shutil
import time
from pathlib import Path

import pytest

from merr_factory.config import Config, load_config
from merr_factory.curation.review_log import REVIEW_DIR
from merr_factory.review.app import EXPORT_STAGE, open_review, queue_rows, review_workspace
from merr_factory.review.queue import (
    QUEUE_CACHE,
    QueueRow,
    RowCache,
    read_row_cache,
    write_row_cache,
)
from merr_factory.run import resume_index

# The folder's change time must move on between the two opens (a coarse file system clock
# ticks every few ms); a stamp is only kept for a folder unchanged for SEAL_AFTER_NS.
TICK_S = 0.05


@pytest.fixture
def run(exported: Path, tmp_path: Path) -> Config:
    """A copy of the exported run's output, for this test to change."""
    output = tmp_path / "out"
    shutil.copytree(load_config(exported).output, output, symlinks=True)
    shutil.rmtree(output / REVIEW_DIR, ignore_errors=True)
    return load_config(exported, {"output": output})


def cache_of(config: Config) -> RowCache:
    cached = read_row_cache(config.output / REVIEW_DIR / QUEUE_CACHE)
    assert cached is not None
    return cached


def folder_stamp(config: Config) -> tuple[int, int] | None:
    store = review_workspace(config).store
    return store.files.stamp(store.stage_key(EXPORT_STAGE))


def relabel(config: Config, sample_id: str, label: str, tier: str) -> None:
    """Write the sample's export record again as another run would, with a new label and tier."""
    store = review_workspace(config).store
    record = store.load(EXPORT_STAGE, sample_id)
    assert record is not None
    record.data = {**record.data, "label": label, "tier": tier}
    store.save(record.seal())


def other_label(config: Config, row: QueueRow) -> str:
    return next(label for label in config.label_set if label != row.label)


def other_tier(row: QueueRow) -> str:
    return next(tier for tier in ("fine", "coarse", "rejected") if tier != row.tier)


def test_a_settled_folder_opens_from_the_stamped_cache_alone(
    run: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resume_index, "SEAL_AFTER_NS", 0)
    rows = queue_rows(review_workspace(run))
    cached = cache_of(run)
    assert cached.stamp is not None and cached.stamp == folder_stamp(run)
    assert cached.rows == rows and len(cached.hashes) == len(rows)
    # While the folder is unchanged no record is looked at: a row doctored in the cache is
    # what the queue shows (nothing but the cache could have said it).
    doctored = [rows[0]._replace(label="doctored"), *rows[1:]]
    write_row_cache(run.output / REVIEW_DIR / QUEUE_CACHE, doctored, cached.hashes, cached.stamp)
    assert queue_rows(review_workspace(run))[0].label == "doctored"


def test_a_changed_export_record_shows_its_new_label_and_tier(
    run: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resume_index, "SEAL_AFTER_NS", 0)
    before = queue_rows(review_workspace(run))
    stamp = cache_of(run).stamp
    assert stamp is not None
    time.sleep(TICK_S)
    changed, removed = before[1], before[2]
    label, tier = other_label(run, changed), other_tier(changed)
    relabel(run, changed.sample_id, label, tier)
    store = review_workspace(run).store
    (store.root / store.record_key(EXPORT_STAGE, removed.sample_id)).unlink()

    app = open_review(review_workspace(run), "ann")
    rows = {row.sample_id: row for row in app.rows}
    assert (rows[changed.sample_id].label, rows[changed.sample_id].tier) == (label, tier)
    assert removed.sample_id not in rows and len(rows) == len(before) - 1
    entry = app.entries[app.index[changed.sample_id]]
    assert (entry.label, entry.tier) == (label, tier)
    again = cache_of(run)  # written again, stamped with the folder as it is now
    assert again.stamp == folder_stamp(run) != stamp
    assert {row.sample_id: row for row in again.rows} == rows


def test_an_unsettled_folder_is_checked_row_by_row(run: Config) -> None:
    """A folder changed less than SEAL_AFTER_NS ago (the copy was just made) is not
    stamped: a coarse clock could give a later change the same time."""
    before = queue_rows(review_workspace(run))
    assert cache_of(run).stamp is None
    changed = before[0]
    label, tier = other_label(run, changed), other_tier(changed)
    relabel(run, changed.sample_id, label, tier)  # no wait: the check is by content hash
    row = queue_rows(review_workspace(run))[0]
    assert (row.sample_id, row.label, row.tier) == (changed.sample_id, label, tier)


@pytest.mark.parametrize("content", [b"", b"not marshal", None])
def test_a_damaged_or_old_cache_is_made_again(
    run: Config, monkeypatch: pytest.MonkeyPatch, content: bytes | None
) -> None:
    monkeypatch.setattr(resume_index, "SEAL_AFTER_NS", 0)
    rows = queue_rows(review_workspace(run))
    path = run.output / REVIEW_DIR / QUEUE_CACHE
    if content is None:  # the first format: columns without a stamp
        content = marshal.dumps((1, [], [], [], [], b""))
    path.write_bytes(content)
    assert read_row_cache(path) is None
    assert queue_rows(review_workspace(run)) == rows
    assert cache_of(run).stamp == folder_stamp(run)
