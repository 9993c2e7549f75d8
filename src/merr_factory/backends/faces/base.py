"""The face/AU backend interface and the per-frame table every backend produces.

A backend turns one clip into a ``FaceTable``: one row per analysed frame with the main
face's box, detection confidence and AU intensities (0-5) and presence (0/1), in OpenFace
naming, and the face's expression class probabilities when an expression model is attached
(``expression``: fer's model, see ``expression.py``). Backends that look at pixels subclass
``FrameBackend`` and implement ``detect_faces`` and ``measure``; the decode loop, the choice
of the main face, the expression of its crop (from the frame already decoded) and the timing
are shared here.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from merr_factory.inputs.segment import Segment
from merr_factory.media.frames import Frame, FrameStream

if TYPE_CHECKING:  # expression.py imports this module
    from merr_factory.backends.faces.expression import FerExpression

MainFacePolicy = Literal["persistent", "largest", "central"]

MAIN_FACE_RULES: dict[str, str] = {
    "persistent": (
        "persistent: the face overlapping the previous frame's main face (IoU >= 0.3); "
        "otherwise the largest face, weighted towards the centre"
    ),
    "largest": "largest: the face with the largest box in each frame",
    "central": "central: the face whose centre is nearest the frame's centre",
}


class FaceBackendError(RuntimeError):
    """A backend cannot run at all (missing weights, missing executable): fix and re-run."""


@dataclass(frozen=True)
class Box:
    """A face box in the clip's own pixels (x, y: top-left corner)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def scaled(self, factor: float) -> Box:
        return Box(self.x * factor, self.y * factor, self.w * factor, self.h * factor)

    def iou(self, other: Box) -> float:
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.w, other.x + other.w)
        bottom = min(self.y + self.h, other.y + other.h)
        inter = max(0.0, right - left) * max(0.0, bottom - top)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass
class FaceCandidate:
    """One face found in a frame; ``payload`` is whatever the backend needs to measure it."""

    box: Box
    confidence: float
    payload: Any = None


@dataclass
class FrameRow:
    """One analysed frame: the main face and its AUs, or no face (``box`` None)."""

    index: int
    time: float
    box: Box | None = None
    confidence: float | None = None
    intensities: dict[str, float] = field(default_factory=dict)
    presence: dict[str, int] = field(default_factory=dict)
    faces: int = 0  # how many faces the frame held
    expression: dict[str, float] = field(default_factory=dict)  # class -> probability; {}: none

    @property
    def has_face(self) -> bool:
        return self.box is not None


@dataclass
class FaceTable:
    """What a backend returns for one clip."""

    rows: list[FrameRow]
    au_names: list[str]
    frames_total: int
    width: int | None = None
    height: int | None = None
    frames_decoded: int = 0  # frames the decoder produced (the plan leaves others out)
    decode_seconds: float = 0.0  # time spent decoding and converting frames
    detect_seconds: float = 0.0  # time spent in the model (detection, landmarks, AUs)
    expression_names: list[str] = field(default_factory=list)  # [] without expression model
    expression_seconds: float = 0.0  # time spent in a separate expression model (fer)

    @property
    def frames_with_face(self) -> int:
        return sum(1 for row in self.rows if row.has_face)

    @property
    def faces_max(self) -> int:
        return max((row.faces for row in self.rows), default=0)


@dataclass(frozen=True)
class ClipRequest:
    """What the faces stage asks of a backend for one clip."""

    path: Path
    sample_fps: float | None
    max_side: int | None
    main_face: MainFacePolicy = "persistent"
    width: int | None = None  # the clip's size, when known from the probe
    height: int | None = None
    segment: Segment | None = None  # a time range (and crop) of the file: only it is read


class MainFaceTracker:
    """Follows one face through a clip when a frame holds several."""

    def __init__(self, policy: MainFacePolicy) -> None:
        self.policy = policy
        self.previous: Box | None = None

    def choose(
        self, faces: list[FaceCandidate], width: float, height: float
    ) -> FaceCandidate | None:
        if not faces:
            return None
        if self.policy == "largest":
            chosen = max(faces, key=lambda face: face.box.area)
        elif self.policy == "central":
            chosen = min(faces, key=lambda face: _centre_distance(face.box, width, height))
        else:
            chosen = self._persistent(faces, width, height)
        self.previous = chosen.box
        return chosen

    def _persistent(self, faces: list[FaceCandidate], width: float, height: float) -> FaceCandidate:
        if self.previous is not None:
            previous = self.previous
            best = max(faces, key=lambda face: face.box.iou(previous))
            if best.box.iou(previous) >= 0.3:
                return best
        return max(
            faces,
            key=lambda face: face.box.area * (1 - 0.5 * _centre_distance(face.box, width, height)),
        )


def _centre_distance(box: Box, width: float, height: float) -> float:
    """Distance in pixels of the box centre from the frame centre over the half diagonal:
    0 (centre) to 1 (a corner)."""
    cx, cy = box.centre
    distance = math.hypot(cx - width / 2, cy - height / 2)
    return min(1.0, distance / max(math.hypot(width / 2, height / 2), 1.0))


class TimedFrames:
    """A clip's ``FrameStream``, timing the seconds spent decoding and converting frames."""

    def __init__(self, request: ClipRequest) -> None:
        self.stream = FrameStream(
            request.path, request.sample_fps, request.max_side, request.segment
        )
        self.seconds = 0.0

    def __iter__(self) -> Iterator[Frame]:
        frames = iter(self.stream)
        while True:
            started = time.perf_counter()
            frame = next(frames, None)
            self.seconds += time.perf_counter() - started
            if frame is None:
                return
            yield frame


class FaceBackend(ABC):
    """One model family that finds faces and measures Action Units."""

    name: ClassVar[str]
    # fer's expression model, run on the main face's crop; set by the faces stage.
    expression: FerExpression | None = None

    @property
    @abstractmethod
    def model(self) -> str | None:
        """The model (weights file, version) whose output this is, for the record."""

    @property
    @abstractmethod
    def au_names(self) -> list[str]:
        """The AUs this backend measures, in OpenFace naming."""

    @property
    def expression_model(self) -> str | None:
        """The model whose class probabilities fill ``FrameRow.expression`` (None: none)."""
        return self.expression.model if self.expression else None

    @property
    def expression_names(self) -> list[str]:
        """The classes of ``FrameRow.expression``, in the model's order ([] without one)."""
        return list(self.expression.classes) if self.expression else []

    def setup(self) -> None:
        """Load models once per worker (before any clip)."""
        return None

    @abstractmethod
    def analyse(self, request: ClipRequest) -> FaceTable:
        """Analyse one clip. Raise FaceBackendError when the backend cannot run at all."""


class FrameBackend(FaceBackend):
    """A backend that looks at decoded frames: one decode pass, one detector call per frame."""

    def __init__(self, presence_threshold: float = 1.0) -> None:
        self.presence_threshold = presence_threshold

    @abstractmethod
    def detect_faces(self, frame: Frame) -> list[FaceCandidate]:
        """Every face in ``frame``, boxes in the frame's own (possibly downscaled) pixels."""

    @abstractmethod
    def measure(self, frame: Frame, face: FaceCandidate) -> dict[str, float]:
        """Per-frame values for one face: AU intensities, or raw measures for ``finish``."""

    def finish(self, rows: list[FrameRow]) -> None:
        """Turn per-frame values into AU intensities, once the whole clip is seen."""

    def analyse(self, request: ClipRequest) -> FaceTable:
        frames = TimedFrames(request)
        tracker = MainFaceTracker(request.main_face)
        expression = ExpressionTimer(self.expression)
        rows: list[FrameRow] = []
        started = time.perf_counter()
        for frame in frames:
            faces = self.detect_faces(frame)
            main = tracker.choose(faces, frame.width, frame.height)
            row = FrameRow(index=frame.index, time=frame.time, faces=len(faces))
            if main is not None:
                row.box = main.box.scaled(1 / frame.scale)
                row.confidence = round(main.confidence, 4)
                row.intensities = self.measure(frame, main)
                row.expression = expression.classify(frame, main.box)
            rows.append(row)
        self.finish(rows)
        for row in rows:
            if row.has_face:
                row.presence = {
                    au: int(value >= self.presence_threshold)
                    for au, value in row.intensities.items()
                }
        table = face_table(rows, self.au_names, frames, started, expression.seconds)
        table.expression_names = self.expression_names
        return table


class ExpressionTimer:
    """Runs the attached expression model (if any) on face crops, timing it."""

    def __init__(self, model: FerExpression | None) -> None:
        self.model = model
        self.seconds = 0.0

    def classify(self, frame: Frame, box: Box) -> dict[str, float]:
        """The class probabilities of the face in ``box`` (``frame``'s own pixels)."""
        if self.model is None:
            return {}
        started = time.perf_counter()
        probabilities = self.model.classify(frame.rgb, box)
        self.seconds += time.perf_counter() - started
        return probabilities


@dataclass
class MeasuredFace:
    """A face whose AUs a model already measured (OpenFace CSV rows, py-feat output)."""

    box: Box
    confidence: float
    intensities: dict[str, float]
    presence: dict[str, int]
    expression: dict[str, float] = field(default_factory=dict)


def select_main_faces(
    frames: list[tuple[int, float, list[MeasuredFace]]],
    policy: MainFacePolicy,
    width: float,
    height: float,
) -> list[FrameRow]:
    """One row per frame holding the main face of the ``(index, time, faces)`` frames."""
    tracker = MainFaceTracker(policy)
    rows = []
    for index, time_s, faces in frames:
        candidates = [FaceCandidate(face.box, face.confidence, payload=face) for face in faces]
        main = tracker.choose(candidates, width, height)
        row = FrameRow(index=index, time=time_s, faces=len(faces))
        if main is not None:
            face = main.payload
            row.box, row.confidence = face.box, round(face.confidence, 4)
            row.intensities, row.presence = face.intensities, face.presence
            row.expression = face.expression
        rows.append(row)
    return rows


def face_table(
    rows: list[FrameRow],
    au_names: list[str],
    frames: TimedFrames,
    started: float,
    expression_seconds: float = 0.0,
) -> FaceTable:
    """The table of a clip whose frames came from ``frames``; the time since ``started``
    spent neither decoding nor in the expression model counts as detection."""
    total = time.perf_counter() - started
    return FaceTable(
        rows=rows,
        au_names=au_names,
        frames_total=frames.stream.frames_total,
        frames_decoded=frames.stream.frames_decoded,
        width=frames.stream.width,
        height=frames.stream.height,
        decode_seconds=frames.seconds,
        detect_seconds=max(0.0, total - frames.seconds - expression_seconds),
        expression_seconds=expression_seconds,
    )
