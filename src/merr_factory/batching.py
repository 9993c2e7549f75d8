"""One model call for the frames of several clips: a batcher shared by a worker's threads.

A worker that computes several samples at once (``executor.clips_per_worker``) runs them on
threads that share the stage's models. Each thread hands its items (a clip's frames, its face
crops) to the stage's ``Batcher`` through ``map`` and gets each item's result back, in its
own order. Items of one key (a frame size: a batch is one tensor) from every thread go
through one call ``fn(items) -> results`` of up to ``batch_size`` items. A worker holding one
clip batches that clip's frames the same way: there is one batching path, not two.

When a batch runs:

- as soon as ``batch_size`` items of one key wait;
- when every thread inside ``map`` is waiting for a result (none is about to add more);
- else once its oldest item has waited ``max_wait_s`` (``MAX_WAIT_S``, 5 ms): another
  thread may still be decoding a frame for it, but a clip never waits longer than that.
  5 ms is about the decode of one 640x360 frame here, and small beside a model pass.

Batches run one at a time, each on a thread that is waiting for a result (the batcher has no
thread of its own), so the model is called from one thread at a time and needs no thread
safety of its own. An exception of ``fn`` fails every item of that batch, and only those: the
next batch runs as usual. A thread that leaves ``map`` early (its clip failed) withdraws its
queued items and stops counting as one that may add more, so no thread waits for it.

Memory: a thread keeps at most ``2 x batch_size`` of its items submitted and not yet
handed back (two batches); it waits for its oldest result before submitting more.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

MAX_WAIT_S = 0.005
BATCHES_HELD = 2  # per thread: its items submitted and not yet handed back, in batches


class _Caller:
    """One thread's turn inside ``map``: the owner of the items it submitted."""


@dataclass(eq=False)
class _Entry(Generic[ItemT, ResultT]):
    item: ItemT
    owner: _Caller
    since: float  # time.monotonic() when submitted
    future: Future[ResultT] = field(default_factory=Future)


class Batcher(Generic[ItemT, ResultT]):
    """Runs ``fn`` on batches of up to ``batch_size`` items of one key, gathered from every
    thread that calls ``map``; ``fn`` returns one result per item, in the items' order."""

    def __init__(
        self,
        fn: Callable[[list[ItemT]], Sequence[ResultT]],
        batch_size: int,
        max_wait_s: float | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.fn = fn
        self.batch_size = batch_size
        self.max_wait_s = MAX_WAIT_S if max_wait_s is None else max_wait_s
        self._changed = threading.Condition(threading.Lock())
        self._queues: dict[Hashable, deque[_Entry[ItemT, ResultT]]] = {}
        self._callers = 0  # threads inside map
        self._waiting = 0  # of those, how many wait for a result
        self._running = False  # a batch is in fn (one at a time)

    def map(self, keyed: Iterable[tuple[Hashable, ItemT]]) -> Iterator[tuple[ItemT, ResultT]]:
        """Each ``(key, item)`` of ``keyed`` as ``(item, result)``, in the order given.

        The calling thread counts as one that may add items from the first ``next`` until the
        generator ends or is closed: use it as ``with closing(batcher.map(...)) as results``
        so that a failure in the loop's body withdraws this thread's items at once. An
        exception of ``fn`` is raised here for the item it failed.
        """
        caller = _Caller()
        held: deque[_Entry[ItemT, ResultT]] = deque()
        with self._changed:
            self._callers += 1
        try:
            for key, item in keyed:
                held.append(self._submit(key, item, caller))
                while len(held) >= BATCHES_HELD * self.batch_size:
                    entry = held.popleft()
                    yield entry.item, self._result(entry)
            while held:
                entry = held.popleft()
                yield entry.item, self._result(entry)
        finally:
            self._leave(caller)

    def _submit(self, key: Hashable, item: ItemT, caller: _Caller) -> _Entry[ItemT, ResultT]:
        entry: _Entry[ItemT, ResultT] = _Entry(item, caller, time.monotonic())
        with self._changed:
            self._queues.setdefault(key, deque()).append(entry)
            self._changed.notify_all()  # a waiting thread may now have a full batch to run
        return entry

    def _result(self, entry: _Entry[ItemT, ResultT]) -> ResultT:
        """Wait for ``entry``'s result, running the batches that are due meanwhile."""
        with self._changed:
            self._waiting += 1
            try:
                while not entry.future.done():
                    batch = None if self._running else self._due_batch()
                    if batch is None:
                        self._changed.wait(self._next_due())
                        continue
                    self._running = True
                    self._changed.release()
                    try:
                        self._run(batch)
                    finally:
                        self._changed.acquire()
                        self._running = False
                        self._changed.notify_all()
            finally:
                self._waiting -= 1
        return entry.future.result()

    def _due_batch(self) -> list[_Entry[ItemT, ResultT]] | None:
        """The batch to run now, taken off its queue, or None (called holding the lock)."""
        if not self._queues:
            return None
        full = [key for key, queue in self._queues.items() if len(queue) >= self.batch_size]
        candidates = full or list(self._queues)
        key = min(candidates, key=lambda name: self._queues[name][0].since)
        queue = self._queues[key]
        if not full:
            everyone_waits = self._waiting >= self._callers
            overdue = time.monotonic() - queue[0].since >= self.max_wait_s
            if not (everyone_waits or overdue):
                return None
        batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
        if not queue:
            del self._queues[key]
        return batch

    def _next_due(self) -> float | None:
        """Seconds until the oldest queued item is overdue; None: wait to be told."""
        if self._running or not self._queues:
            return None
        oldest = min(queue[0].since for queue in self._queues.values())
        return max(0.0, oldest + self.max_wait_s - time.monotonic())

    def _run(self, batch: list[_Entry[ItemT, ResultT]]) -> None:
        """``fn`` on the batch; its results, or its exception, to every item's future."""
        items = [entry.item for entry in batch]
        try:
            results = list(self.fn(items))
            if len(results) != len(items):
                raise RuntimeError(f"a batch of {len(items)} items gave {len(results)} results")
        except BaseException as error:
            for entry in batch:
                entry.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for entry, result in zip(batch, results, strict=True):
            entry.future.set_result(result)

    def _leave(self, caller: _Caller) -> None:
        """``caller`` adds no more: its queued items are withdrawn (none wait for them)."""
        with self._changed:
            self._callers -= 1
            for key in list(self._queues):
                kept = deque(entry for entry in self._queues[key] if entry.owner is not caller)
                if kept:
                    self._queues[key] = kept
                else:
                    del self._queues[key]
            self._changed.notify_all()
