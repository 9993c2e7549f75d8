"""Files the export folder holds beside the tables: peak frames, audio, and the clips.

They are hard links where the filesystem allows (free and instant), else copies, so the
report, the Parquet and the ShareGPT file refer to files inside the export folder. Names are
sample ids (always safe file names) for frames and audio, and clip names for the videos, as
Emotion-LLaMA looks clips up by name (MERR-written names are checked to be safe).

Emotion-LLaMA opens ``<vis_root>/<name>.mp4``, else ``<name>.avi``: clips in another container
(.mov, .mkv, .webm...) are re-encoded to ``.mp4`` frame for frame, and the MERR ``.txt`` line
carries the number of frames written. A segment sample (a time range of its file, perhaps
cropped) is written as its cut: ``<name>.mp4`` holds the range's frames, cropped, and its
sound (``media/transcode.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from merr_factory.dataset.entry import ExportEntry, MediaFile
from merr_factory.faults import is_write_fault
from merr_factory.inputs.segment import segment_of
from merr_factory.media.probe import MEDIA_ERRORS, describe_error
from merr_factory.media.transcode import transcode_to_mp4

if TYPE_CHECKING:
    from merr_factory.run.store import Store

log = logging.getLogger(__name__)

FRAMES_DIR = "frames"
AUDIO_DIR = "audio"
VIDEOS_DIR = "videos"
EMOTION_LLAMA_SUFFIXES = (".mp4", ".avi")  # what its dataset tries, in this order


def link_or_copy(source: Path, target: Path, folder_exists: bool = False) -> None:
    if not folder_exists:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@dataclass
class ExportMedia:
    """Where each sample's files are inside the export folder (relative POSIX paths)."""

    frames: dict[str, str] = field(default_factory=dict)
    audio: dict[str, str] = field(default_factory=dict)
    videos: dict[str, str] = field(default_factory=dict)
    frame_counts: dict[str, int] = field(default_factory=dict)  # re-encoded clips: frames
    features: dict[str, dict[str, str]] = field(default_factory=dict)  # sample -> name -> path
    missing: list[str] = field(default_factory=list)

    def frame(self, entry: ExportEntry) -> str | None:
        return self.frames.get(entry.sample_id)

    def video(self, entry: ExportEntry) -> str:
        return self.videos.get(entry.sample_id, entry.video_path)

    def audio_file(self, entry: ExportEntry) -> str | None:
        return self.audio.get(entry.sample_id)


def place_frames(
    entries: list[ExportEntry], store: Store, folder: Path, media: ExportMedia
) -> None:
    (folder / FRAMES_DIR).mkdir(exist_ok=True)
    for entry in entries:
        relative = f"{FRAMES_DIR}/{entry.sample_id}.jpg"
        if _place(entry.peak_frame, store, folder / relative, media):
            media.frames[entry.sample_id] = relative


def place_audio(
    entries: list[ExportEntry], store: Store, folder: Path, media: ExportMedia, link: bool
) -> None:
    """Link the wavs into the export, or (``link`` false) refer to them where they are."""
    if link:
        (folder / AUDIO_DIR).mkdir(exist_ok=True)
    for entry in entries:
        relative = f"{AUDIO_DIR}/{entry.sample_id}.wav"
        if not link:
            if entry.audio_file is not None:
                media.audio[entry.sample_id] = store.url(entry.audio_file.path)
        elif _place(entry.audio_file, store, folder / relative, media):
            media.audio[entry.sample_id] = relative


def place_videos(entries: list[ExportEntry], folder: Path, media: ExportMedia) -> None:
    (folder / VIDEOS_DIR).mkdir(exist_ok=True)
    for entry in entries:
        source = Path(entry.video_path)
        if not os.path.isfile(entry.video_path):
            media.missing.append(f"{entry.sample_id}: clip {source} is gone")
            continue
        suffix = os.path.splitext(entry.source)[1].lower()
        if suffix in EMOTION_LLAMA_SUFFIXES and entry.segment is None:
            relative = f"{VIDEOS_DIR}/{entry.name}{suffix}"
            link_or_copy(source, folder / relative, folder_exists=True)
        else:
            relative = f"{VIDEOS_DIR}/{entry.name}.mp4"
            (folder / VIDEOS_DIR).mkdir(exist_ok=True)
            try:
                media.frame_counts[entry.sample_id] = transcode_to_mp4(
                    source, folder / relative, segment=segment_of(entry.segment)
                )
            except MEDIA_ERRORS as error:
                if is_write_fault(error):  # the export's disk is full: stop, not "missing"
                    raise
                media.missing.append(f"{entry.sample_id}: cannot re-encode {source} to .mp4 "
                                     f"({describe_error(error)})")  # fmt: skip
                continue
        media.videos[entry.sample_id] = relative


def place_features(
    entries: list[ExportEntry], store: Store, folder: Path, media: ExportMedia
) -> None:
    """Emotion-LLaMA's feature files beside the MERR files: ``<folder>/<feature>/<name>.npy``."""
    for entry in entries:
        for name, file in sorted(entry.features.items()):
            relative = f"{name}/{entry.name}.npy"
            if _place(file, store, folder / relative, media):
                media.features.setdefault(entry.sample_id, {})[name] = relative


def _place(file: MediaFile | None, store: Store, target: Path, media: ExportMedia) -> bool:
    """Link (or, from a remote output, download) an upstream file into the export."""
    if file is None:
        return False
    source = store.local_copy(file.path, file.sha256)
    if source is None:
        media.missing.append(f"{target.stem}: {file.path} is gone")
        return False
    link_or_copy(source, target, folder_exists=target.parent.name in _MADE_FIRST)
    return True


_MADE_FIRST = (FRAMES_DIR, AUDIO_DIR)  # folders the place_* functions make before linking
