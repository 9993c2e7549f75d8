"""One writer per output folder: lock files a run holds while it writes there.

    <output>/.lock                     a run over all samples holds it alone (exclusive);
                                       shard runs share it
    <output>/.lock.shard-<i>-of-<n>    the run of shard i/n holds it alone

So shards of one output (``--shard i/n``, disjoint samples) run together, never beside a run
over all samples, never the same shard twice, and never beside shards of another ``n`` (whose
samples overlap theirs). A second writer is refused at once (``OutputBusy``, naming the holder
from the file it holds: host, PID, start time, command).

The locks are ``flock`` locks: the kernel releases them when their process ends, however it
ends (SIGKILL included), so the lock of a dead run is simply taken. A holder removes its file
as it leaves; whoever locks a file checks that it is still the one at its path (not one
removed meanwhile), so a file removed under a waiting process is never a second lock.

They guard this host's runs, and those of hosts sharing the folder over NFSv4 (whose server
keeps the locks); a filesystem without locks gets a warning and no guard. A remote output
(``output_url``) is guarded only as far as its local folder is shared: runs on two hosts with
two local folders are not stopped from writing the same URL.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from merr_factory.faults import writing_output

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
SHARD_LOCK_PREFIX = ".lock.shard-"
# Filesystems without flock (some Lustre and old NFS mounts) say so with one of these.
NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


class OutputBusy(RuntimeError):
    """Another run writes this output now; the message names it."""


@dataclass
class _Held:
    path: Path
    fd: int


@dataclass
class OutputLock:
    """The locks of one run on ``folder``: ``shard`` (index, count) for a shard run."""

    folder: Path
    shard: tuple[int, int] | None = None
    _held: list[_Held] = field(default_factory=list)

    def acquire(self) -> None:
        """Take the locks, or raise ``OutputBusy`` holding none."""
        try:
            if not self._take(self.folder / LOCK_FILE, exclusive=self.shard is None):
                raise OutputBusy(self._main_refusal())
            if self.shard is not None:
                own = self.folder / shard_lock_name(*self.shard)
                if not self._take(own, exclusive=True):
                    index, count = self.shard
                    raise OutputBusy(
                        f"{self.folder}: shard {index}/{count} is already running "
                        f"({describe_holder(own)}); a shard runs once at a time"
                    )
                self._refuse_other_counts()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Let go (the kernel does too, whenever the process ends). A file this run holds
        alone is removed first, while still locked: no one can lock it and then lose it."""
        while self._held:
            held = self._held.pop()
            try:
                fcntl.flock(held.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # alone: a shared one's
                os.unlink(held.path)  # last holder removes it too
            except OSError:
                pass
            os.close(held.fd)

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _take(self, path: Path, exclusive: bool) -> bool:
        """Lock ``path``; False when another run holds it. Holding it alone, write who we
        are into it."""
        fd = _locked(path, exclusive)
        if fd is None:
            return False
        if fd >= 0:  # (-1: a filesystem without locks, warned about)
            self._held.append(_Held(path, fd))
            if exclusive:
                with writing_output(path):
                    os.ftruncate(fd, 0)
                    os.write(fd, json.dumps(_about_me()).encode("utf-8") + b"\n")
        return True

    def _main_refusal(self) -> str:
        """``.lock`` is held: alone by a run over all samples (named in it), or shared by
        shard runs (each named in its own file)."""
        shards = [path for path in self._shard_files() if is_held(path)]
        if shards:
            holders = "shard runs: " + "; ".join(describe_holder(path) for path in shards)
        else:
            holders = describe_holder(self.folder / LOCK_FILE)
        if self.shard is not None:
            return (
                f"{self.folder} is in use by a run over all samples ({holders}); "
                "shard runs share an output only with each other: wait for it to end"
            )
        return (
            f"{self.folder} is in use by another merr-build run ({holders}); one run writes "
            "an output at a time: wait for it to end, or use another --output"
        )

    def _refuse_other_counts(self) -> None:
        """Shards of another count select other samples: they would meet this one's."""
        assert self.shard is not None
        for path in self._shard_files():
            count = path.name.rpartition("-of-")[2]
            if count != str(self.shard[1]) and is_held(path):
                raise OutputBusy(
                    f"{self.folder} is in use by a shard run of another count "
                    f"({describe_holder(path)}); shards of one output split it alike "
                    f"(--shard i/{count})"
                )

    def _shard_files(self) -> list[Path]:
        return sorted(self.folder.glob(f"{SHARD_LOCK_PREFIX}*"))


def shard_lock_name(index: int, count: int) -> str:
    return f"{SHARD_LOCK_PREFIX}{index}-of-{count}"


def _locked(path: Path, exclusive: bool) -> int | None:
    """An open descriptor of ``path`` holding its lock; None when another process holds it;
    -1 when the filesystem has no locks."""
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    while True:
        with writing_output(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, mode)
        except OSError as error:
            busy = error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
            leaving = busy and not _same_file(fd, path)  # its holder removed it: look again
            os.close(fd)
            if leaving:
                continue
            if busy:
                return None
            if error.errno in NO_LOCKS:
                log.warning(
                    "%s: this filesystem has no file locks (%s): nothing stops a second run "
                    "from writing this output at the same time",
                    path,
                    os.strerror(error.errno),
                )
                return -1
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)  # removed by its holder as it left: lock the file at the path now


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def is_held(path: Path) -> bool:
    """True when a process holds a lock on ``path`` that excludes a shared one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        return error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)  # also lets go of the probe's lock
    return False


def describe_holder(path: Path, patience: float = 1.0) -> str:
    """Who holds ``path``, from what it wrote there: "PID 12 on host-a since ...: command".
    A holder writes who it is right after taking the lock: a refusal in between waits up to
    ``patience`` seconds for it."""
    deadline = time.monotonic() + patience
    while True:
        try:
            about = json.loads(path.read_text(encoding="utf-8"))
            return (
                f"PID {about['pid']} on {about['host']} since {about['started']}: "
                f"{about['command']}"
            )
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "a run that is starting"
            time.sleep(0.05)


def _about_me() -> dict[str, object]:
    command = " ".join(["merr-build", *sys.argv[1:]])
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command if len(command) <= 300 else command[:297] + "...",
    }
