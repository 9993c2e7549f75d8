"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file the pipeline trusts on resume goes through here: the bytes are written to a
temporary file in the same folder, flushed to disk, then renamed over the target
(``os.replace`` is atomic on POSIX and Windows within one filesystem). A folder of files
(a sample's) is moved into place by renames too (``put_folder``).
"""

from __future__ import annotations

import errno
import filecmp
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from merr_factory.faults import writing_output

TEMP_PREFIX = ".tmp-"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    No space, no permission or a read-only folder raise ``OutputError`` naming ``path``;
    the temporary file is removed (nothing half-written stays behind)."""
    with writing_output(path), _replacing(path, "wb") as handle:
        handle.write(data)


@contextmanager
def atomic_text_file(
    path: Path, encoding: str = "utf-8", newline: str | None = None
) -> Iterator[TextIO]:
    """A text file to write ``path`` through, piece by piece: it replaces ``path`` (flushed to
    disk first) only when the ``with`` block ends without an error."""
    with _replacing(path, "w", encoding=encoding, newline=newline) as handle:
        yield handle


@contextmanager
def _replacing(path: Path, mode: str, **options: Any) -> Iterator[Any]:
    """A temporary file beside ``path``, flushed to disk and renamed over ``path`` when the
    ``with`` block ends without an error, else removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


# A folder another writer keeps putting back in place: give up after this many swaps.
PUT_FOLDER_TRIES = 100


def put_folder(new: Path, final: Path, trash: Path) -> None:
    """Move the folder ``new`` to ``final`` by renames, in place of a folder there (moved
    to ``trash``-something and deleted): a reader finds a whole folder there, or none.

    Safe when other processes put a folder at ``final`` at the same time (two runs reached
    the same sample): each rename either lands or finds the place taken, never half of
    either. A folder another writer put there holding the same files is this writer's
    result too: ``new`` is dropped and that is success; a different one is swapped out."""
    for attempt in itertools.count():
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(new, final)  # fails while a folder with files is there
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST) or attempt >= PUT_FOLDER_TRIES:
                raise
        if same_files(new, final):
            shutil.rmtree(new, ignore_errors=True)
            return
        away = trash.with_name(f"{trash.name}-{attempt}")
        try:
            os.rename(final, away)
        except FileNotFoundError:
            continue  # another writer moved it away first
        shutil.rmtree(away, ignore_errors=True)


def same_files(one: Path, other: Path) -> bool:
    """True when two folders hold the same files (names, sizes, bytes); False when either
    changes or goes while they are compared."""
    try:
        sizes = _file_sizes(one)
        if sizes != _file_sizes(other):
            return False
        return all(filecmp.cmp(one / name, other / name, shallow=False) for name in sizes)
    except OSError:
        return False


def _file_sizes(folder: Path) -> dict[str, int]:
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(folder))
    return {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file()
    }


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


# One encoder for all calls: json.dumps with options builds a new encoder every time.
# No check for circular values (they are JSON data): the same text, a third quicker.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same value always gives the same text."""
    return _CANONICAL.encode(value)


def write_json_atomic(path: Path, value: Any) -> None:
    """Write a JSON document atomically (indented, keys in insertion order)."""
    write_text_atomic(path, json.dumps(value, indent=1, ensure_ascii=False) + "\n")
