"""The batcher (``batching.py``) on plain numbers: which items go into one call of ``fn``,
when a partial batch runs, and what an exception or a failing thread does to the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from merr_factory.batching import BATCHES_HELD, Batcher

LONG_WAIT_S = 10.0  # longer than any test: a batch that runs early ran for another reason


class Recorder:
    """``fn`` for a batcher: ten times each number, noting every batch it was given."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self._lock = threading.Lock()

    def __call__(self, items: list[Any]) -> list[Any]:
        with self._lock:
            self.calls.append(list(items))
        if "bad" in items:
            raise ValueError("a bad item in this batch")
        return [item * 10 for item in items]


def run_thread(target, *args) -> tuple[threading.Thread, dict[str, Any]]:
    """``target(*args)`` on a thread; its return value or exception in the dict."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["result"] = target(*args)
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=body)
    thread.start()
    return thread, outcome


def collect(batcher: Batcher, keyed) -> list[tuple[Any, Any]]:
    with closing(batcher.map(keyed)) as results:
        return list(results)


def after(barrier: threading.Barrier, items: list[Any], key: str = "k") -> Iterator:
    """``items`` keyed, once every thread of ``barrier`` is inside ``map``."""
    barrier.wait(timeout=5)
    for item in items:
        yield key, item


def test_items_of_one_key_share_a_call_and_come_back_in_order() -> None:
    fn = Recorder()
    batcher = Batcher(fn, batch_size=3)
    keyed = [("even" if n % 2 == 0 else "odd", n) for n in range(8)]
    assert collect(batcher, keyed) == [(n, 10 * n) for n in range(8)]
    # two full batches while the thread holds two batches' worth, then the partial ones
    assert fn.calls == [[0, 2, 4], [1, 3, 5], [6], [7]]


def test_two_threads_items_share_one_call() -> None:
    """Each thread alone has a partial batch (3 of 4): the full batch mixes both, and the
    rest runs as soon as both wait (not after the long wait)."""
    fn = Recorder()
    batcher = Batcher(fn, batch_size=4, max_wait_s=LONG_WAIT_S)
    barrier = threading.Barrier(2)
    started = time.monotonic()
    a, got_a = run_thread(collect, batcher, after(barrier, [1, 2, 3]))
    b, got_b = run_thread(collect, batcher, after(barrier, [101, 102, 103]))
    a.join(5), b.join(5)
    assert time.monotonic() - started < 2
    assert got_a["result"] == [(1, 10), (2, 20), (3, 30)]
    assert got_b["result"] == [(101, 1010), (102, 1020), (103, 1030)]
    assert sorted(len(call) for call in fn.calls) == [2, 4]
    (full,) = [call for call in fn.calls if len(call) == 4]
    assert {n < 100 for n in full} == {True, False}  # both threads' items in one call


def test_a_partial_batch_waits_no_longer_than_max_wait_for_a_busy_thread() -> None:
    fn = Recorder()
    batcher = Batcher(fn, batch_size=4, max_wait_s=0.05)
    inside, release = threading.Event(), threading.Event()

    def busy() -> Iterator:  # inside map, decoding something that takes long
        inside.set()
        release.wait(5)
        yield "k", 7

    b, got_b = run_thread(collect, batcher, busy())
    inside.wait(5)
    started = time.monotonic()
    assert collect(batcher, [("k", 1)]) == [(1, 10)]
    waited = time.monotonic() - started
    release.set()
    b.join(5)
    assert 0.05 <= waited < 2  # waited for the busy thread to add more, then ran alone
    assert got_b["result"] == [(7, 70)]
    assert fn.calls == [[1], [7]]


def test_an_exception_of_fn_reaches_every_item_of_its_batch_and_the_next_batch_runs() -> None:
    fn = Recorder()
    batcher = Batcher(fn, batch_size=2, max_wait_s=LONG_WAIT_S)
    barrier = threading.Barrier(2)
    a, got_a = run_thread(collect, batcher, after(barrier, ["bad"]))
    b, got_b = run_thread(collect, batcher, after(barrier, [5]))
    a.join(5), b.join(5)
    assert len(fn.calls) == 1 and sorted(map(str, fn.calls[0])) == ["5", "bad"]
    for outcome in (got_a, got_b):
        assert isinstance(outcome["error"], ValueError)
    assert collect(batcher, [("k", 2), ("k", 3)]) == [(2, 20), (3, 30)]
    assert fn.calls[-1] == [2, 3]


def test_a_thread_that_fails_withdraws_its_items_and_nobody_waits_for_it() -> None:
    """Thread A fails while decoding its third item; B's partial batch runs at once (not
    after the long wait) and A's queued items are never computed."""
    fn = Recorder()
    batcher = Batcher(fn, batch_size=4, max_wait_s=LONG_WAIT_S)
    b_submitted = threading.Event()

    def failing() -> Iterator:
        yield "k", 1
        yield "k", 2
        b_submitted.wait(5)
        raise OSError("the clip cannot be decoded further")

    def other() -> Iterator:
        yield "k", 3
        b_submitted.set()

    started = time.monotonic()
    a, got_a = run_thread(collect, batcher, failing())
    b, got_b = run_thread(collect, batcher, other())
    a.join(5), b.join(5)
    assert time.monotonic() - started < 2
    assert isinstance(got_a["error"], OSError)
    assert got_b["result"] == [(3, 30)]
    assert fn.calls == [[3]]


def test_a_thread_holds_at_most_two_batches_of_items() -> None:
    fn = Recorder()
    batcher = Batcher(fn, batch_size=2)
    pulled = handed_back = most_held = 0

    def counted() -> Iterator:
        nonlocal pulled
        for n in range(11):
            pulled += 1
            yield "k", n

    with closing(batcher.map(counted())) as results:
        for n, result in results:
            assert result == 10 * n
            most_held = max(most_held, pulled - handed_back)
            handed_back += 1
    assert most_held == BATCHES_HELD * 2
    assert [len(call) for call in fn.calls] == [2, 2, 2, 2, 2, 1]


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(Recorder(), batch_size=0)
