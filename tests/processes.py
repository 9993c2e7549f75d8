"""Helpers for tests that watch processes: who descends from whom, and who is still alive
(read from /proc, so Linux only; the tests that use them skip elsewhere); and jobs for a
worker pool's processes, which import them from here."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (dead, waiting to be reaped)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid``: its children, theirs, and so on."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] not in ("Z", "X"):
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_until_gone(pids: set[int], limit: float = 10.0) -> set[int]:
    """Wait up to ``limit`` seconds for ``pids`` to end; returns those still alive."""
    deadline = time.monotonic() + limit
    while True:
        living = {pid for pid in pids if alive(pid)}
        if not living or time.monotonic() > deadline:
            return living
        time.sleep(0.05)


# --- jobs for worker processes (importable there) -------------------------------------------

_MEETING = threading.Barrier(2)


def meet() -> int:
    """Returns this worker's pid once a second job in the same worker process calls it too
    (a job alone in its worker waits until the barrier's timeout and raises)."""
    _MEETING.wait(timeout=20)
    return os.getpid()


def sleep_between(seconds: float) -> tuple[float, float]:
    """Sleeps; returns when it started and ended (wall clock)."""
    started = time.time()
    time.sleep(seconds)
    return started, time.time()


_HELD: list[object] = []


def hold_a_named_lock() -> int:
    """Makes a multiprocessing lock and keeps it, as tqdm does in a worker (a named semaphore
    that the parent's resource tracker reports as leaked unless it is cleaned up)."""
    import multiprocessing

    _HELD.append(multiprocessing.RLock())
    return os.getpid()
