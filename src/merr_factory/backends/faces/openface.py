"""``openface`` backend: OpenFace 2's ``FeatureExtraction``, or the CSVs it already wrote.

Two ways in:
- ``executable``: the path of OpenFace 2's ``FeatureExtraction``; it is run on each clip
  (images through ``-fdir`` as a one-frame sequence) into a temporary folder.
- ``csv_dir``: a folder of existing OpenFace CSVs named ``<clip file stem>.csv``.

A segment sample (a time range of its file, perhaps cropped) is cut into the temporary
folder first (``media/transcode.py``) and OpenFace runs on the cut; CSVs of ``csv_dir`` are
of whole files, so a segment sample needs ``executable``.

OpenFace CSVs pad their column names with spaces (``" AU01_r"``), number frames from 1 (we
store ``frame - 1``: the clip's own 0-based numbering), mark frames where tracking failed with
``success`` 0 and give a tracking ``confidence``. Several faces (``FaceLandmarkVidMulti``)
appear as several rows per frame with a ``face_id``; the main face is chosen like any
backend's. The face box is the extent of the 68 2D landmarks (``x_i``, ``y_i``).
"""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from merr_factory.backends.faces.base import (
    Box,
    ClipRequest,
    FaceBackend,
    FaceBackendError,
    FaceTable,
    MeasuredFace,
    select_main_faces,
)
from merr_factory.knowledge.au import sort_aus
from merr_factory.media.frames import FrameSampler, is_image
from merr_factory.media.transcode import transcode_to_mp4


class OpenFaceBackend(FaceBackend):
    name = "openface"

    def __init__(
        self,
        executable: Path | None = None,
        csv_dir: Path | None = None,
        min_confidence: float = 0.0,
        extra_args: tuple[str, ...] = (),
        timeout_s: float = 600.0,
    ) -> None:
        if executable is None and csv_dir is None:
            raise FaceBackendError(
                "openface backend: set stages.faces.openface.executable (OpenFace 2's "
                "FeatureExtraction) or stages.faces.openface.csv_dir (existing CSVs)"
            )
        self.executable = executable
        self.csv_dir = csv_dir
        self.min_confidence = min_confidence
        self.extra_args = extra_args
        self.timeout_s = timeout_s
        self._au_names: list[str] = []

    @property
    def model(self) -> str:
        return (
            f"OpenFace 2 FeatureExtraction ({self.executable.name})"
            if self.executable
            else ("OpenFace 2 CSVs")
        )

    @property
    def au_names(self) -> list[str]:
        return self._au_names

    def setup(self) -> None:
        if self.executable is not None and shutil.which(str(self.executable)) is None:
            raise FaceBackendError(f"openface backend: {self.executable} is not an executable")
        if self.executable is None and self.csv_dir and not self.csv_dir.is_dir():
            raise FaceBackendError(f"openface backend: csv_dir {self.csv_dir} is not a folder")

    def analyse(self, request: ClipRequest) -> FaceTable:
        started = time.perf_counter()
        if self.executable is not None:
            with tempfile.TemporaryDirectory(prefix="merr-openface-") as folder:
                clip = request.path
                if request.segment is not None:
                    clip = Path(folder) / f"{clip.stem}.mp4"
                    transcode_to_mp4(request.path, clip, segment=request.segment)
                table = self._read(self._run(clip, Path(folder)), request)
        else:
            assert self.csv_dir is not None
            if request.segment is not None:
                raise ValueError(
                    f"{request.path.name}: OpenFace CSVs in csv_dir are of whole files; "
                    "a segment sample needs openface.executable"
                )
            path = self.csv_dir / f"{request.path.stem}.csv"
            if not path.is_file():
                raise FileNotFoundError(f"{request.path.name}: no OpenFace CSV at {path}")
            table = self._read(path, request)
        table.detect_seconds = time.perf_counter() - started
        return table

    def _run(self, clip: Path, out_dir: Path) -> Path:
        if is_image(clip):
            frames = out_dir / "frames"
            frames.mkdir()
            shutil.copy(clip, frames / clip.name)
            source = ["-fdir", str(frames)]
            stem = "frames"
        else:
            source = ["-f", str(clip)]
            stem = clip.stem
        command = [str(self.executable), *source, "-out_dir", str(out_dir), "-aus", "-2Dfp"]
        command += list(self.extra_args)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=self.timeout_s, check=False
        )
        output = out_dir / f"{stem}.csv"
        if done.returncode != 0 or not output.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(
                f"{clip.name}: OpenFace FeatureExtraction failed "
                f"(exit {done.returncode}): {tail[0]}"
            )
        return output

    def _read(self, path: Path, request: ClipRequest) -> FaceTable:
        frames, au_names = read_openface_csv(path, self.min_confidence)
        self._au_names = au_names
        sampler = FrameSampler(request.sample_fps)
        kept = [frame for frame in frames if sampler.keep(frame[1])]
        width, height = request.width, request.height
        if not width or not height:
            width, height = _extent(frames)
        rows = select_main_faces(kept, request.main_face, width, height)
        total = max((index for index, _, _ in frames), default=-1) + 1
        return FaceTable(rows=rows, au_names=au_names, frames_total=total, width=width,
                         height=height)  # fmt: skip


def read_openface_csv(
    path: Path, min_confidence: float = 0.0
) -> tuple[list[tuple[int, float, list[MeasuredFace]]], list[str]]:
    """Frames ``(index, time, faces)`` in frame order, and the AUs with an intensity column."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if "frame" not in header:
            raise ValueError(f"{path.name}: not an OpenFace CSV (no 'frame' column)")
        by_frame: dict[int, list[MeasuredFace]] = defaultdict(list)
        times: dict[int, float] = {}
        intensity_aus = sort_aus([name[:-2] for name in header if _is_au(name, "_r")])
        for line in reader:
            if not line:
                continue
            row = dict(zip(header, (value.strip() for value in line), strict=False))
            index = int(float(row["frame"])) - 1
            times.setdefault(index, float(row.get("timestamp") or 0.0))
            face = _face(row, min_confidence)
            if face is not None:
                by_frame[index].append(face)
            else:
                by_frame.setdefault(index, [])
    frames = [(index, round(times[index], 4), by_frame[index]) for index in sorted(by_frame)]
    return frames, intensity_aus


def _is_au(name: str, suffix: str) -> bool:
    return name.startswith("AU") and name.endswith(suffix)


def _face(row: dict[str, str], min_confidence: float) -> MeasuredFace | None:
    confidence = float(row.get("confidence") or 0.0)
    if row.get("success", "1") in ("0", "0.0") or confidence < min_confidence:
        return None
    intensities = {
        name[:-2]: round(float(value), 4) for name, value in row.items() if _is_au(name, "_r")
    }
    presence = {
        name[:-2]: int(float(value) >= 0.5) for name, value in row.items() if _is_au(name, "_c")
    }
    return MeasuredFace(_landmark_box(row), confidence, intensities, presence)


def _landmark_box(row: dict[str, str]) -> Box:
    xs = [float(row[f"x_{i}"]) for i in range(68) if f"x_{i}" in row]
    ys = [float(row[f"y_{i}"]) for i in range(68) if f"y_{i}" in row]
    if not xs or not ys:
        return Box(math.nan, math.nan, math.nan, math.nan)
    return Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def _extent(frames: list[tuple[int, float, list[MeasuredFace]]]) -> tuple[int, int]:
    """A stand-in frame size (the faces' extent) when the clip's size is unknown."""
    right = [f.box.x + f.box.w for _, _, faces in frames for f in faces if f.box.w == f.box.w]
    bottom = [f.box.y + f.box.h for _, _, faces in frames for f in faces if f.box.h == f.box.h]
    return int(max(right, default=1)), int(max(bottom, default=1))
