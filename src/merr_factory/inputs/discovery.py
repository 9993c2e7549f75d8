"""Finding the input samples: a folder walked recursively, or a list file of paths.

An entry that cannot be used (a symbolic link loop, a dangling link, a folder that cannot be
listed) is a problem naming its path, reported as a warning: the other samples go on.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import stat
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from merr_factory.inputs.sample_ids import safe_sample_id
from merr_factory.inputs.segment import Segment
from merr_factory.inputs.text_files import NotUtf8Error, read_utf8
from merr_factory.stage_data import SampleKind

log = logging.getLogger(__name__)


class DiscoveryError(ValueError):
    """The input cannot be turned into a sample list (missing folder, duplicate ids...)."""


@dataclass(frozen=True, slots=True)
class SampleSource:
    """One input file, described without opening it: cheap to build for 100k files."""

    id: str
    path: Path
    relpath: str
    kind: SampleKind
    size: int
    mtime_ns: int
    is_link: bool | None = None  # the file is a symbolic link (None: not known)
    segment: Segment | None = None  # a time range (and crop) of the file, not all of it
    missing: bool = False  # named by a dataset's label file, but not there
    name: str | None = None  # the clip's name in the exports, when not the file's stem

    @property
    def stem(self) -> str:
        """The file's own name without extension (what label CSVs refer to)."""
        return Path(self.relpath).stem

    def identity(self) -> dict[str, object]:
        """What decides whether this is still the same input (no hashing of media)."""
        identity: dict[str, object] = {
            "relpath": self.relpath,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
        }
        if self.segment is not None:  # whole files: fingerprints as they always were
            # "read": the range alone is decoded (records that read the whole file are stale)
            identity["segment"] = {**self.segment.as_dict(), "read": "range"}
        return identity

    def resolved_path(self) -> Path:
        """The file's path with every link resolved, as ``Path.resolve`` gives it."""
        return Path(self.resolved())

    def resolved(self) -> str:
        """``str(resolved_path())``. For a file known not to be a link that is its resolved
        folder's path plus its name, and each folder is resolved once (a ``resolve`` costs
        a ``stat`` per part of the path)."""
        if self.is_link is False:
            folder, name = os.path.split(str(self.path))
            return os.path.join(_resolved_folder(folder), name)
        return str(self.path.resolve())


@functools.lru_cache(maxsize=256)
def _resolved_folder(folder: str) -> str:
    return str(Path(folder).resolve())


def _resolved(path: Path) -> Path:
    """``path`` with its links resolved as far as they go (a loop stops there)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a link loop (Python before 3.13)
        return path.absolute()


@dataclass(frozen=True)
class Extensions:
    """File name endings (lower case, with the dot) that count as videos and images."""

    video: tuple[str, ...]
    image: tuple[str, ...]

    def kind_of(self, path: Path) -> SampleKind | None:
        return self.kind_of_name(path.name)

    def kind_of_name(self, name: str) -> SampleKind | None:
        dot = name.rfind(".")
        if dot <= 0:  # no suffix ("clip", ".mp4": a hidden file's name has none)
            return None
        suffix = name[dot:].lower()
        if suffix in self.video:
            return "video"
        if suffix in self.image:
            return "image"
        return None


@dataclass
class Discovery:
    """The samples found, and the inputs that could not be used (with the reason)."""

    samples: list[SampleSource]
    problems: list[str]


def discover(
    input_path: Path,
    extensions: Extensions,
    on_duplicate_id: Literal["rename", "error"] = "rename",
    exclude: Path | None = None,
) -> Discovery:
    """List the samples under a folder, or those named by a list file, sorted by id."""
    problems: list[str] = []
    try:
        found = input_path.stat()
    except FileNotFoundError:
        raise DiscoveryError(f"{input_path}: input folder or list file not found") from None
    except OSError as error:  # a link loop, no permission on a folder above it
        raise DiscoveryError(f"{input_path}: cannot read the input ({error.strerror})") from None
    if stat.S_ISDIR(found.st_mode):
        sources = _walk(input_path, extensions, exclude, problems)
    elif stat.S_ISREG(found.st_mode):
        files, problems = _read_list_file(input_path)
        sources = []
        for path in files:
            source = _describe(path, input_path.parent, extensions, problems)
            if source is not None:
                sources.append(source)
    else:
        raise DiscoveryError(f"{input_path}: input folder or list file not found")
    samples = _assign_ids(sources, on_duplicate_id)
    return Discovery(samples=sorted(samples, key=lambda sample: sample.id), problems=problems)


def _walk(
    root: Path, extensions: Extensions, exclude: Path | None, problems: list[str]
) -> list[SampleSource]:
    """Every media file under ``root`` (hidden ones and ``exclude`` left out), in folder and
    name order. One ``stat`` per file and plain strings: 100k files take well under a second."""
    excluded = _resolved(exclude) if exclude else None
    found: list[SampleSource] = []
    folders = [(root.absolute(), "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            problems.append(f"{folder}: cannot list folder ({error.strerror}), skipped")
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_folder = entry.is_dir()
            except OSError as error:  # a link loop (ELOOP), no permission on its target
                problems.append(f"{entry.path}: cannot read ({error.strerror}), skipped")
                continue
            if is_folder:  # a link to a folder is not followed (as os.walk does)
                if not entry.is_symlink() and (
                    excluded is None or _resolved(Path(entry.path)) != excluded
                ):
                    subfolders.append((Path(entry.path), f"{prefix}{name}/"))
                continue
            kind = extensions.kind_of_name(name)
            if kind is None:
                continue
            try:
                info = entry.stat()
            except OSError as error:  # a dangling link
                problems.append(f"{entry.path}: cannot read file ({error.strerror}), skipped")
                continue
            stem = name[: name.rfind(".")]
            found.append(
                SampleSource(
                    id=sys.intern(safe_sample_id(stem)),  # shared with the resume indexes
                    path=Path(entry.path),
                    relpath=prefix + name,
                    kind=kind,
                    size=info.st_size,
                    mtime_ns=info.st_mtime_ns,
                    is_link=entry.is_symlink(),  # known from the listing: no extra call
                )
            )
        folders.extend(reversed(subfolders))  # depth first, in name order
    return found


def _read_list_file(list_path: Path) -> tuple[list[Path], list[str]]:
    """Paths named one per line (``#`` starts a comment), relative to the list's folder."""
    files: list[Path] = []
    problems: list[str] = []
    try:
        text = read_utf8(list_path)
    except OSError as error:
        raise DiscoveryError(f"{list_path}: cannot read list file ({error.strerror})") from None
    except NotUtf8Error as error:
        raise DiscoveryError(f"{list_path}: {error}") from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry)
        path = path if path.is_absolute() else list_path.parent / path
        try:
            is_file = stat.S_ISREG(path.stat().st_mode)
        except OSError as error:
            reason = "file not found" if error.errno == errno.ENOENT else error.strerror
            problems.append(f"{list_path}:{line_no}: {entry}: {reason}, skipped")
            continue
        if not is_file:
            problems.append(f"{list_path}:{line_no}: {entry}: not a file, skipped")
            continue
        files.append(path)
    return files, problems


def _describe(
    path: Path, base: Path, extensions: Extensions, problems: list[str]
) -> SampleSource | None:
    try:
        stat = path.stat()
    except OSError as error:
        problems.append(f"{path}: cannot read file ({error.strerror}), skipped")
        return None
    try:
        relpath = path.relative_to(base).as_posix()
    except ValueError:
        relpath = path.as_posix()
    return SampleSource(
        id=safe_sample_id(path.stem),
        path=path.absolute(),
        relpath=relpath,
        kind=extensions.kind_of(path) or "video",
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
    )


def _assign_ids(
    sources: list[SampleSource], on_duplicate_id: Literal["rename", "error"]
) -> list[SampleSource]:
    """Keep ids unique: two files never share a sample id, so one never overwrites another."""
    by_id: dict[str, list[SampleSource]] = defaultdict(list)
    for source in sources:
        by_id[source.id].append(source)
    result: list[SampleSource] = []
    for sample_id, group in by_id.items():
        if len(group) == 1:
            result.append(group[0])
            continue
        names = ", ".join(source.relpath for source in group)
        if on_duplicate_id == "error":
            raise DiscoveryError(
                f"sample id {sample_id!r} is shared by {names}; rename the files "
                "or set stages.ingest.on_duplicate_id: rename"
            )
        log.warning(
            "sample id %r is shared by %s: using ids made from their paths", sample_id, names
        )
        result.extend(_rename(source) for source in group)
    return _check_unique(result)


def _rename(source: SampleSource) -> SampleSource:
    unique_name = source.relpath.replace("/", "__").replace(".", "_")
    return replace(source, id=safe_sample_id(unique_name))


def _check_unique(samples: list[SampleSource]) -> list[SampleSource]:
    seen: dict[str, str] = {}
    for sample in samples:
        if sample.id in seen:
            raise DiscoveryError(
                f"sample id {sample.id!r} is shared by {seen[sample.id]} and {sample.relpath}"
            )
        seen[sample.id] = sample.relpath
    return samples
