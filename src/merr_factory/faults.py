"""What kind of fault an error is, so each is handled where it belongs.

- **data**: the sample itself (an undecodable clip, an invalid LLM reply). A failure record;
  the run goes on.
- **environment**: the place the run met the sample (permission denied, a file busy, a network
  or server error, models that cannot load). A failure record too, retried on the next run,
  and never stored as a fact about the clip (``unreadable``, ``undecodable``).
- **worker_died**: the process computing the sample was killed (a segfault, SIGKILL, the OOM
  killer). A failure record naming the signal; the other samples go on.
- **output**: the output itself cannot be written (no space, no permission, a read-only or
  vanished folder). Every later sample would fail the same way, so the run stops:
  ``OutputError``, exit status 3.

An exception may declare its kind with a ``fault_kind`` class attribute (see
``TransientLLMError``); OS errors are told apart by their errno.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

FaultKind = Literal["data", "environment", "worker_died"]

# Errors of writing anywhere: there is no room, or the filesystem takes no writes.
FULL_OR_READ_ONLY = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EROFS", "EFBIG") if hasattr(errno, name)
)
# Errors that say more about where the run is than about the file: they may pass. A file
# missing once discovered (ENOENT) was moved or its filesystem went away, meanwhile.
ENVIRONMENT_ERRNOS = FULL_OR_READ_ONLY | frozenset(
    getattr(errno, name)
    for name in (
        "EACCES", "EPERM", "ENOENT", "EBUSY", "ETXTBSY", "EAGAIN", "EINTR", "ENOMEM", "EMFILE",
        "ENFILE", "EIO", "ESTALE", "ENOLINK", "ECOMM", "ENETDOWN", "ENETUNREACH", "ENETRESET",
        "ECONNABORTED", "ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EHOSTDOWN", "EHOSTUNREACH",
    )
    if hasattr(errno, name)
)  # fmt: skip
# Errors that are the output's when they concern a path under it.
OUTPUT_ERRNOS = FULL_OR_READ_ONLY | {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR}


class OutputError(Exception):
    """A file of the output could not be written: the run stops (exit status 3).

    Deliberately not an ``OSError``: code that treats an unreadable input as a fact about the
    sample (``except OSError``) must never swallow it.
    """

    def __init__(self, path: str | os.PathLike[str], code: int, reason: str) -> None:
        self.path = str(path)
        self.code = code
        self.reason = reason
        super().__init__(f"cannot write {self.path}: {reason} ({errno_name(code)})")

    def __reduce__(self) -> tuple[object, ...]:  # travels back from worker processes
        return (OutputError, (self.path, self.code, self.reason))


class WorkerDied(RuntimeError):
    """The process computing a sample ended without an answer (a signal or an exit)."""

    fault_kind: FaultKind = "worker_died"

    def __init__(self, how: str, attempts: int = 1, held: int = 1) -> None:
        self.how = how
        self.attempts = attempts
        self.held = held  # samples the worker held when it died: above 1, whose fault is open
        tries = "" if attempts == 1 else f", on each of {attempts} attempts"
        super().__init__(f"the worker process computing it {how}{tries}")

    def __reduce__(self) -> tuple[object, ...]:
        return (WorkerDied, (self.how, self.attempts, self.held))


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, from its exit code: "was killed by SIGKILL", "exited with 3"."""
    if exitcode is None:
        return "vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with status {exitcode}"


def errno_name(code: int) -> str:
    return errno.errorcode.get(code, f"errno {code}")


def first_line(error: BaseException) -> str:
    """The first non-empty line of the error's message (one line for a log, a record or
    another error's message), or the error's class name when the message is empty."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and the errors it was raised from or while handling (no cycles)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def os_errors(error: BaseException) -> list[OSError]:
    """The OS errors (with an errno) in ``error``'s chain, outermost first."""
    return [item for item in _chain(error) if isinstance(item, OSError) and item.errno]


def fault_kind(error: BaseException) -> FaultKind:
    """The kind of a per-sample failure (an ``OutputError`` is never one: it stops the run)."""
    for item in _chain(error):
        declared = getattr(item, "fault_kind", None)
        if declared is not None:
            return declared
    if any(item.errno in ENVIRONMENT_ERRNOS for item in os_errors(error)):
        return "environment"
    return "data"


def is_environment_fault(error: BaseException) -> bool:
    """True when reading an input failed for a reason of the environment, not of the file.

    Readers that turn a bad file into a fact (``readable=False``) re-raise these instead."""
    return fault_kind(error) == "environment"


def is_write_fault(error: BaseException) -> bool:
    """True for an error no reader can cause: no space, a quota, a read-only filesystem."""
    return any(item.errno in FULL_OR_READ_ONLY for item in os_errors(error))


def output_error(
    error: BaseException, output: Path, workdir: Path | None = None
) -> OutputError | None:
    """The ``OutputError`` that ``error`` (met while computing a sample) really is, if any.

    It is one when an OS error in its chain is a full or read-only filesystem (on a path
    under ``output``, or on an unnamed file: a stream a stage was writing), no permission on
    a path in ``workdir`` (where a stage writes its files), or ``workdir`` itself vanished.
    A missing file in a ``workdir`` that is still there is the stage's own business (a tool
    that wrote no output): a failure of that sample, not of the output."""
    for item in os_errors(error):
        path = item.filename
        reason = item.strerror or str(item)
        if item.errno in FULL_OR_READ_ONLY and (path is None or _under(path, output)):
            return OutputError(path or workdir or output, item.errno, reason)
        if path is None or workdir is None or not _under(path, workdir):
            continue
        if item.errno in (errno.EACCES, errno.EPERM):
            return OutputError(path, item.errno, reason)
        if item.errno in (errno.ENOENT, errno.ENOTDIR) and not workdir.is_dir():
            return OutputError(workdir, item.errno, f"{reason} (the work folder vanished)")
    return None


@contextmanager
def writing_output(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an OS error of writing ``path`` (a file of the output) into an ``OutputError``
    when it is a fault of the output; other errors pass unchanged."""
    try:
        yield
    except OSError as error:
        if error.errno not in OUTPUT_ERRNOS:
            raise
        where = error.filename or path
        raise OutputError(where, error.errno, error.strerror or str(error)) from error


def _under(path: str | bytes | os.PathLike[str], folder: Path) -> bool:
    try:
        resolved = Path(os.fsdecode(path)).resolve()
        return resolved == folder.resolve() or folder.resolve() in resolved.parents
    except (OSError, ValueError):
        return False
