"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file the pipeline trusts on resume goes through here: the bytes are written to a
temporary file in the same folder, flushed to disk, then renamed over the target
(``os.replace`` is atomic on POSIX and Windows within one filesystem).
"""

from __future__ import annotations

import json
import os
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
