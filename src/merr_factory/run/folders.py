"""Where an output folder's bytes live: a local folder, or any fsspec URL (s3://, gs://, ...).

The ``Store`` knows the layout (which key holds what); a folder here only moves bytes. Keys are
'/'-separated paths relative to the folder's root; the store builds them from checked parts.

Writing one object is all-or-nothing in both: locally by writing a temporary file and renaming
it, on an object store because one PUT lands whole or not at all. That is all the store needs
for safety: a record is a single object, written after the files it lists.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from merr_factory.faults import writing_output
from merr_factory.optional import require
from merr_factory.run.atomic import put_folder, write_bytes_atomic

# (size, version) of a stored object: a changed version means it was rewritten.
Signature = tuple[int, Any]
CACHE_GRACE_SECONDS = 600


class IndexEntry(NamedTuple):
    """One done record in its stage's resume index (``resume_index.py``): the record file's
    signature, what the planner needs of its head, and its artifacts' sizes (files that must
    still be there)."""

    size: int
    version: Any  # mtime in ns for local files, the object store's version or ETag
    fingerprint: str
    data_hash: str
    halt: list[list[str]]  # [code, message] per reason
    artifacts: list[list[Any]]  # [path, size] per artifact

    @property
    def signature(self) -> Signature:
        return self.size, self.version


class Folder(Protocol):
    """The operations the store needs from where its files live."""

    def read_bytes(self, key: str) -> bytes: ...  # FileNotFoundError if absent
    def read_many(self, keys: list[str]) -> dict[str, bytes | None]: ...  # None: unreadable
    def write_bytes(self, key: str, data: bytes) -> Signature | None: ...  # whole or nothing
    def delete(self, key: str) -> None: ...  # absent is fine
    def size(self, key: str) -> int: ...  # OSError if absent
    def signature(self, key: str) -> Signature | None: ...
    def unchanged(self, folder: str, entry: IndexEntry) -> bool: ...
    def stamp(self, prefix: str) -> tuple[int, int] | None: ...  # None: no folder times
    def may_exist(self, key: str) -> bool: ...
    def forget_listings(self) -> None: ...
    def names(self, prefix: str, suffix: str) -> list[str]: ...
    def put_tree(self, prefix: str, workdir: Path, trash: Path) -> None: ...
    def drop_stale_tree(self, prefix: str) -> None: ...
    def remove_tree(self, prefix: str) -> None: ...
    def has_tree(self, prefix: str) -> bool: ...
    def local_file(self, key: str, sha256: str) -> Path | None: ...
    def url(self, key: str) -> str: ...
    def trim_cache(self) -> None: ...


def is_url(text: str) -> bool:
    """True for ``scheme://...`` (a remote location), not for a plain or Windows path."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


class LocalFolder:
    """A folder on a local or shared filesystem (NFS, Lustre): plain files, atomic renames."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        self._listings: dict[str, set[str]] = {}

    def __reduce__(self) -> tuple[Any, ...]:  # workers take their own listings
        return (LocalFolder, (self.root,))

    def read_bytes(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def read_many(self, keys: list[str]) -> dict[str, bytes | None]:
        found: dict[str, bytes | None] = {}
        for key in keys:
            try:
                found[key] = self.read_bytes(key)
            except OSError:
                found[key] = None
        return found

    def write_bytes(self, key: str, data: bytes) -> Signature | None:
        write_bytes_atomic(self.root / key, data)
        return self.signature(key)

    def delete(self, key: str) -> None:
        path = self.root / key
        with writing_output(path):
            path.unlink(missing_ok=True)

    def size(self, key: str) -> int:
        return os.stat(f"{self._root}/{key}").st_size

    def signature(self, key: str) -> Signature | None:
        try:
            stat = os.stat(f"{self._root}/{key}")
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns

    def unchanged(self, folder: str, entry: IndexEntry) -> bool:
        """True when ``folder + '.json'`` and the files listed in ``entry`` are as indexed.

        Plain strings and ``os.stat``: this runs for every (stage, sample) on a resume."""
        base = f"{self._root}/{folder}"
        try:
            stat = os.stat(base + ".json")
            if stat.st_size != entry.size or stat.st_mtime_ns != entry.version:
                return False
            for name, size in entry.artifacts:
                if os.stat(f"{base}/{name}").st_size != size:
                    return False
        except OSError:
            return False
        return True

    def stamp(self, prefix: str) -> tuple[int, int] | None:
        """The folder's inode and change time: both change whenever an entry is added,
        renamed or removed (and no tool sets a ctime back); None when it does not exist."""
        try:
            stat = os.stat(f"{self._root}/{prefix}")
        except OSError:
            return None
        return stat.st_ino, stat.st_ctime_ns

    def may_exist(self, key: str) -> bool:
        """False when the listing of ``key``'s folder (taken once per pass) lacks it: a
        stage not run yet costs one listing, not one failed open per sample."""
        folder, _, name = key.rpartition("/")
        names = self._listings.get(folder)
        if names is None:
            try:
                names = self._listings[folder] = set(os.listdir(f"{self._root}/{folder}"))
            except OSError:
                names = self._listings[folder] = set()
        return name in names

    def forget_listings(self) -> None:
        self._listings.clear()

    def names(self, prefix: str, suffix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(path.name for path in folder.iterdir() if path.name.endswith(suffix))

    def put_tree(self, prefix: str, workdir: Path, trash: Path) -> None:
        """Swap ``workdir`` in place of ``prefix`` by renames (``trash``: a free path on this
        disk for the old folder); safe when another process puts the same sample's files at
        once (``put_folder``)."""
        final = self.root / prefix
        with writing_output(final):
            put_folder(workdir, final, trash)

    def drop_stale_tree(self, prefix: str) -> None:
        """Remove files an earlier version of a sample left (local: costs nothing)."""
        self.remove_tree(prefix)

    def remove_tree(self, prefix: str) -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def has_tree(self, prefix: str) -> bool:
        return (self.root / prefix).is_dir()

    def local_file(self, key: str, sha256: str) -> Path | None:
        path = self.root / key
        return path if path.is_file() else None

    def url(self, key: str) -> str:
        return str((self.root / key).resolve())

    def trim_cache(self) -> None:
        """Nothing: local files are read in place."""


class RemoteFolder:
    """A folder at an fsspec URL (``s3://bucket/run``, ``gs://...``, ``memory://...``).

    Files a stage reads from another stage (a peak frame, a wav) are downloaded once into a
    local cache named by their content hash and checked against it. Resuming reads one listing
    per stage instead of one request per record.
    """

    def __init__(
        self, url: str, options: Mapping[str, Any], cache: Path, cache_bytes: int = 10 * 10**9
    ) -> None:
        fsspec = require("fsspec", "remote", f"an output_url ({url.split('://')[0]}://)")
        self.url_root = url.rstrip("/")
        self.options = dict(options)
        self.fs, self.base = fsspec.core.url_to_fs(self.url_root, **self.options)
        self.base = self.base.rstrip("/")
        self.cache = cache
        self.cache_bytes = cache_bytes
        self._listings: dict[str, dict[str, Signature]] = {}

    def __reduce__(self) -> tuple[Any, ...]:  # workers rebuild it (and their own listings)
        return (RemoteFolder, (self.url_root, self.options, self.cache, self.cache_bytes))

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}"

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self._path(key))

    def read_many(self, keys: list[str]) -> dict[str, bytes | None]:
        """All at once: one round trip's latency instead of one per key (async filesystems)."""
        paths = [self._path(key) for key in keys]
        replies = self.fs.cat_ranges(paths, None, None, on_error="return")  # no path expansion
        return {
            key: reply if isinstance(reply, bytes) else None
            for key, reply in zip(keys, replies, strict=True)
        }

    def write_bytes(self, key: str, data: bytes) -> Signature | None:
        """One PUT; its reply's ETag (S3 gives one) spares asking for the signature later."""
        reply = self.fs.pipe_file(self._path(key), data)
        etag = reply.get("ETag") if isinstance(reply, dict) else None
        return (len(data), str(etag)) if etag else None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def size(self, key: str) -> int:
        return int(self.fs.size(self._path(key)))

    def signature(self, key: str) -> Signature | None:
        self.fs.invalidate_cache(self._path(key))  # other processes write here too
        try:
            return _signature(self.fs.info(self._path(key)))
        except FileNotFoundError:
            return None

    def unchanged(self, folder: str, entry: IndexEntry) -> bool:
        listing = self._listing(folder.rpartition("/")[0])
        if listing.get(folder + ".json") != entry.signature:
            return False
        for name, size in entry.artifacts:
            found = listing.get(f"{folder}/{name}")
            if found is None or found[0] != size:
                return False
        return True

    def stamp(self, prefix: str) -> tuple[int, int] | None:
        """None: objects have no folder whose time changes; entries are checked against
        one listing per stage instead."""
        return None

    def may_exist(self, key: str) -> bool:
        """False when the listing of ``key``'s folder lacks it: one listing instead of one
        request per missing record (a stage not run yet). A listing is as old as the run."""
        return key in self._listing(key.rpartition("/")[0])

    def forget_listings(self) -> None:
        self._listings.clear()

    def _listing(self, prefix: str) -> dict[str, Signature]:
        """Every object under ``prefix`` with its signature, listed once per run."""
        if prefix not in self._listings:
            skip = len(self.base) + 1
            self.fs.invalidate_cache(self._path(prefix))
            found = self.fs.find(self._path(prefix), detail=True)
            self._listings[prefix] = {
                path[skip:]: _signature(info)
                for path, info in found.items()
                if info.get("type") != "directory"
            }
        return self._listings[prefix]

    def names(self, prefix: str, suffix: str) -> list[str]:
        self.fs.invalidate_cache(self._path(prefix))
        try:
            found = self.fs.ls(self._path(prefix), detail=False)
        except FileNotFoundError:
            return []
        return sorted(
            name for name in (path.rpartition("/")[2] for path in found) if name.endswith(suffix)
        )

    def put_tree(self, prefix: str, workdir: Path, trash: Path) -> None:
        """Upload ``workdir`` to ``prefix`` (in parallel where the filesystem can).

        Files of an earlier version under other names are not deleted first (two requests per
        sample): no record lists them, so nothing reads or trusts them."""
        files = [path for path in sorted(workdir.rglob("*")) if path.is_file()]
        if files:
            targets = [
                self._path(f"{prefix}/{path.relative_to(workdir).as_posix()}") for path in files
            ]
            self.fs.put([str(path) for path in files], targets)
        shutil.rmtree(workdir, ignore_errors=True)

    def drop_stale_tree(self, prefix: str) -> None:
        """Nothing: see ``put_tree``."""

    def remove_tree(self, prefix: str) -> None:
        if self.fs.exists(self._path(prefix)):
            self.fs.rm(self._path(prefix), recursive=True)

    def has_tree(self, prefix: str) -> bool:
        self.fs.invalidate_cache(self._path(prefix))
        return bool(self.fs.exists(self._path(prefix)))

    def local_file(self, key: str, sha256: str) -> Path | None:
        """A local copy of ``key`` with content hash ``sha256``: cached, else downloaded and
        checked (the cache is named by content, so a rewritten file is never served stale)."""
        name = key.rpartition("/")[2]
        cached = self.cache / sha256[:2] / sha256 / name
        if cached.is_file():
            os.utime(cached)  # recently used: trimmed last
            return cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{name}.{uuid.uuid4().hex[:8]}.part")
        try:
            self.fs.get_file(self._path(key), str(partial))
        except FileNotFoundError:
            return None
        if file_sha256(partial) != sha256:
            partial.unlink(missing_ok=True)
            raise OSError(f"{self.url(key)}: downloaded file does not match its recorded hash")
        os.replace(partial, cached)
        return cached

    def url(self, key: str) -> str:
        return f"{self.url_root}/{key}"

    def trim_cache(self) -> None:
        """Keep the downloaded copies under ``cache_bytes``: least recently used go first,
        down to 80% of it; a file used in the last minutes stays (a stage may be reading it)."""
        entries = []
        for path in self.cache.rglob("*"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                if path.is_file():
                    entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        if total <= self.cache_bytes:
            return
        recent = time.time() - CACHE_GRACE_SECONDS
        for mtime, size, path in sorted(entries):
            if total <= 0.8 * self.cache_bytes or mtime > recent:
                break
            path.unlink(missing_ok=True)
            total -= size


def _signature(info: Mapping[str, Any]) -> Signature:
    """Size and a version tag that changes when an object is rewritten (ETag, else a time)."""
    version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
    if version is None:
        version = info.get("created")
    if hasattr(version, "timestamp"):  # a datetime here, a number in a listing (memory://)
        version = version.timestamp()
    return int(info.get("size") or 0), str(version)


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()
