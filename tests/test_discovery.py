"""Finding samples: folders, list files, extensions, unsafe and duplicate names."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from merr_factory.inputs.discovery import DiscoveryError, Extensions, discover
from merr_factory.inputs.sample_ids import is_valid_sample_id, safe_sample_id

EXTENSIONS = Extensions(video=(".mp4", ".avi", ".mov"), image=(".jpg", ".png"))


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_walks_recursively_any_case_and_skips_hidden(tmp_path: Path) -> None:
    touch(tmp_path / "a.MP4")
    touch(tmp_path / "sub" / "deeper" / "b.avi")
    touch(tmp_path / "c.JPG")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".hidden.mp4")
    touch(tmp_path / ".cache" / "d.mp4")
    found = discover(tmp_path, EXTENSIONS)
    assert [(s.id, s.kind, s.relpath) for s in found.samples] == [
        ("a", "video", "a.MP4"),
        ("b", "video", "sub/deeper/b.avi"),
        ("c", "image", "c.JPG"),
    ]


def test_output_folder_inside_input_is_not_searched(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "out" / "stages" / "peak" / "frame.jpg")
    found = discover(tmp_path, EXTENSIONS, exclude=tmp_path / "out")
    assert [s.id for s in found.samples] == ["a"]


def test_duplicate_stems_get_distinct_ids(tmp_path: Path) -> None:
    touch(tmp_path / "x" / "clip.mp4", b"1")
    touch(tmp_path / "y" / "clip.mp4", b"22")
    touch(tmp_path / "y" / "clip.avi", b"333")
    found = discover(tmp_path, EXTENSIONS)
    ids = {s.relpath: s.id for s in found.samples}
    assert ids == {
        "x/clip.mp4": "x__clip_mp4",
        "y/clip.mp4": "y__clip_mp4",
        "y/clip.avi": "y__clip_avi",
    }


def test_duplicate_stems_can_be_an_error(tmp_path: Path) -> None:
    touch(tmp_path / "x" / "clip.mp4")
    touch(tmp_path / "y" / "clip.mp4")
    with pytest.raises(DiscoveryError, match=r"'clip' is shared by x/clip\.mp4, y/clip\.mp4"):
        discover(tmp_path, EXTENSIONS, on_duplicate_id="error")


def test_unsafe_names_become_safe_distinct_ids(tmp_path: Path) -> None:
    touch(tmp_path / "clip 1.mp4")
    touch(tmp_path / "clip_1.mp4")
    touch(tmp_path / "悲伤 clip.mp4")
    found = discover(tmp_path, EXTENSIONS)
    ids = [s.id for s in found.samples]
    assert len(set(ids)) == 3
    assert "clip_1" in ids
    assert all(is_valid_sample_id(sample_id) for sample_id in ids)
    assert all("/" not in sample_id and not sample_id.startswith(".") for sample_id in ids)


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "..", ".", "", "x" * 500, "a\x00b"])
def test_safe_ids_never_escape_a_folder(name: str) -> None:
    sample_id = safe_sample_id(name)
    assert is_valid_sample_id(sample_id)
    assert "/" not in sample_id and sample_id not in (".", "..")


def test_list_file_relative_paths_and_missing_entries(tmp_path: Path) -> None:
    touch(tmp_path / "clips" / "a.mp4")
    touch(tmp_path / "clips" / "b.mov")
    listing = tmp_path / "list.txt"
    listing.write_text("# clips to use\nclips/a.mp4\n\nclips/missing.mp4\nclips/b.mov\n")
    found = discover(listing, EXTENSIONS)
    assert [s.id for s in found.samples] == ["a", "b"]
    assert len(found.problems) == 1
    assert "list.txt:4: clips/missing.mp4: file not found" in found.problems[0]


def test_missing_input_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="not found"):
        discover(tmp_path / "absent", EXTENSIONS)


def test_links_that_loop_or_dangle_and_unlistable_folders_are_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each is a problem naming its path; the other samples are found all the same."""
    touch(tmp_path / "good.mp4")
    (tmp_path / "loop.mp4").symlink_to("loop.mp4")
    (tmp_path / "a.mp4").symlink_to("b.mp4")
    (tmp_path / "b.mp4").symlink_to("a.mp4")
    (tmp_path / "gone.mp4").symlink_to("nowhere.mp4")
    touch(tmp_path / "locked" / "c.mp4")
    real_scandir = os.scandir

    def scandir(path):  # as root a chmod 000 folder can still be listed: refused here
        if Path(path).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = discover(tmp_path, EXTENSIONS)
    assert [s.id for s in found.samples] == ["good"]
    assert sorted(found.problems) == [
        f"{tmp_path}/a.mp4: cannot read (Too many levels of symbolic links), skipped",
        f"{tmp_path}/b.mp4: cannot read (Too many levels of symbolic links), skipped",
        f"{tmp_path}/gone.mp4: cannot read file (No such file or directory), skipped",
        f"{tmp_path}/locked: cannot list folder (Permission denied), skipped",
        f"{tmp_path}/loop.mp4: cannot read (Too many levels of symbolic links), skipped",
    ]


def test_an_input_that_is_a_link_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "clips").symlink_to("clips")
    with pytest.raises(DiscoveryError, match=r"cannot read the input \(Too many levels"):
        discover(tmp_path / "clips", EXTENSIONS)


def test_list_file_with_link_loops_or_not_utf8(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    (tmp_path / "loop.mp4").symlink_to("loop.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text("a.mp4\nloop.mp4\n")
    found = discover(listing, EXTENSIONS)
    assert [s.id for s in found.samples] == ["a"]
    assert found.problems == [f"{listing}:2: loop.mp4: Too many levels of symbolic links, skipped"]
    listing.write_text("a.mp4\n", encoding="utf-16-le")
    with pytest.raises(DiscoveryError, match=r"list\.txt: not a UTF-8 text file: it holds NUL"):
        discover(listing, EXTENSIONS)
