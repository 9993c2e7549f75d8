"""``pyfeat`` backend: py-feat's detector (RetinaFace + its AU model), the default for real runs.

Weights come from py-feat's normal download (Hugging Face, cached in
``<site-packages>/feat/resources``), or from a local folder (``weights_dir``): a copy of that
``resources`` folder from a machine that ran py-feat online (the Hugging Face cache layout,
``models--py-feat--<model>/...``). With ``weights_dir`` set, py-feat's resource path points
there and the hub is switched off, so nothing is fetched. Without weights and without network
py-feat fails in ``setup()``, once, with the message below, not once per clip.

Frames come from our own decoder (one pass, at the sample rate) and are handed to py-feat as
a tensor batch; py-feat's own video reader is not used. The batches come from the backend's
``Batcher`` (``batching.py``): up to ``batch_size`` frames of one size, of one clip or, when
the worker computes several clips at once (``executor.clips_per_worker``), of several; each
frame's faces go back to its own clip. py-feat's AU outputs are probabilities (0-1):
intensity = 5 x probability, presence = probability >= 0.5.

Expression (``emotion_head``): py-feat's own emotion probabilities, in this project's class
names (``anger`` -> ``angry``, ``Happy`` -> ``happy``, ...). ``Detectorv2``'s multitask model
always has its emotion head; ``Detectorv1`` then loads ``resmasknet``, whose weights must be
present like the others. Without the head, fer's model (``expression``) may run on every
face's crop of the frames already decoded instead.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from merr_factory.backends.faces import expression as expression_model
from merr_factory.backends.faces.base import (
    Box,
    ClipRequest,
    ExpressionTimer,
    FaceBackend,
    FaceBackendError,
    FaceTable,
    MeasuredFace,
    TimedFrames,
    face_table,
    select_main_faces,
)
from merr_factory.batching import Batcher
from merr_factory.faults import first_line
from merr_factory.knowledge.au import normalise_au, sort_aus
from merr_factory.media.frames import Frame
from merr_factory.optional import require

DETECTORS = ("Detectorv2", "Detectorv1")

MISSING_WEIGHTS = (
    "py-feat could not load its model weights ({error}). They are not in the py-feat "
    "wheel: run once with network access (py-feat downloads them from Hugging Face into "
    "{cache}), or put the downloaded files in a folder and set "
    "stages.faces.pyfeat.weights_dir to it, or choose the offline backend: "
    "stages.faces.backend: dlib"
)
WITHOUT_EMOTION = (
    "; Detectorv1's emotion model (resmasknet) is needed for stages.faces.expression.model "
    "auto or pyfeat: set it to fer or none to run without it"
)


class PyFeatBackend(FaceBackend):
    name = "pyfeat"

    def __init__(
        self,
        detector: str = "Detectorv2",
        weights_dir: Path | None = None,
        device: str = "cpu",
        batch_size: int = 8,
        face_threshold: float = 0.5,
        emotion_head: bool = False,
    ) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"pyfeat detector must be one of {DETECTORS}, got {detector!r}")
        self.detector_name = detector
        self.weights_dir = weights_dir
        self.device = device
        self.face_threshold = face_threshold
        self.emotion_head = emotion_head
        # The one path of frames to py-feat's models: one batch at a time, from every clip
        # this worker computes.
        self.batcher: Batcher[Frame, list[MeasuredFace]] = Batcher(self.detect_frames, batch_size)
        self._detector: Any = None
        self._au_names: list[str] = []
        self._emotion_names: list[str] = []

    @property
    def batch_size(self) -> int:
        """Frames per pass of py-feat's models (its batcher's)."""
        return self.batcher.batch_size

    @batch_size.setter
    def batch_size(self, frames: int) -> None:
        self.batcher.batch_size = frames

    @property
    def model(self) -> str:
        version = _feat_version()
        return f"py-feat {version} {self.detector_name}"

    @property
    def au_names(self) -> list[str]:
        return self._au_names

    @property
    def expression_model(self) -> str | None:
        if self.emotion_head:
            head = "multitask" if self.detector_name == "Detectorv2" else "resmasknet"
            return f"py-feat {_feat_version()} {self.detector_name} emotion head ({head})"
        return super().expression_model

    @property
    def expression_names(self) -> list[str]:
        return list(self._emotion_names) if self.emotion_head else super().expression_names

    def setup(self) -> None:
        if self.weights_dir is not None:
            os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is first imported
        feat = require("feat", "faces-pyfeat", "The py-feat faces backend")
        if self.weights_dir is not None:
            _use_local_weights(self.weights_dir)
        detector_class = getattr(feat, self.detector_name)
        try:
            self._detector = detector_class(device=self.device, **self._detector_options())
        except Exception as error:  # py-feat raises hub, OS and value errors alike
            cache = self.weights_dir or Path(feat.__file__).parent / "resources"
            reason = f"{type(error).__name__}: {first_line(error)}"[:300]
            message = MISSING_WEIGHTS.format(error=reason, cache=cache)
            if self.emotion_head and self.detector_name == "Detectorv1":
                message += WITHOUT_EMOTION
            raise FaceBackendError(message) from error
        self._au_names = sort_aus(list(self._detector_aus()))
        if self.emotion_head:
            self._emotion_names = self._detector_emotions()

    def _detector_options(self) -> dict[str, Any]:
        if self.detector_name == "Detectorv2":
            return {"identity_model": None, "face_detection_threshold": self.face_threshold}
        emotion = "resmasknet" if self.emotion_head else None
        return {"identity_model": None, "emotion_model": emotion, "gaze_model": None}

    def _detector_emotions(self) -> list[str]:
        """The emotion head's classes in this project's names, in the head's order."""
        multitask = getattr(self._detector, "multitask", None)
        names = getattr(multitask, "emotion_names", None)
        if not names:
            from feat.utils import FEAT_EMOTION_COLUMNS  # Detectorv1's emotion columns

            names = FEAT_EMOTION_COLUMNS
        return [expression_model.canonical_class(name) for name in names]

    def _detector_aus(self) -> list[str]:
        multitask = getattr(self._detector, "multitask", None)
        names = getattr(multitask, "au_names", None)
        if names:
            return list(names)
        from feat.pretrained import AU_LANDMARK_MAP  # Detectorv1's AU list

        return list(AU_LANDMARK_MAP["Feat"])

    def analyse(self, request: ClipRequest) -> FaceTable:
        if self._detector is None:
            self.setup()
        frames = TimedFrames(request)
        expression = ExpressionTimer(None if self.emotion_head else self.expression)
        measured: list[tuple[int, float, list[MeasuredFace]]] = []
        started = time.perf_counter()
        keyed = ((frame.rgb.shape, frame) for frame in frames)  # a batch is one tensor
        with closing(self.batcher.map(keyed)) as detected:
            for frame, found in detected:
                if not self.emotion_head:
                    for face in found:  # boxes still in the frame's own pixels
                        face.expression = expression.classify(frame, face.box)
                measured.append(
                    (frame.index, frame.time, [_unscale(f, frame.scale) for f in found])
                )
        width = frames.stream.width or request.width or 1  # upright, as decoded
        height = frames.stream.height or request.height or 1
        rows = select_main_faces(measured, request.main_face, width, height)
        table = face_table(rows, self._au_names, frames, started, expression.seconds)
        table.expression_names = self.expression_names
        return table

    def detect_frames(self, frames: list[Frame]) -> list[list[MeasuredFace]]:
        """Every face of each of ``frames`` (frames of one size, of any clips), boxes in the
        frame's own pixels, in one pass of py-feat's models. fer's expression (when attached)
        is left to each clip, as its main face is chosen only once the clip is seen."""
        import numpy as np

        torch = require("torch", "faces-pyfeat", "The py-feat faces backend")
        pixels = torch.from_numpy(np.stack([frame.rgb for frame in frames])).permute(0, 3, 1, 2)
        fex = self._detector.detect(
            pixels, data_type="tensor", batch_size=len(frames), progress_bar=False
        )
        faces = faces_from_fex(fex, self._au_names, emotions=self.emotion_head)
        return [faces.get(i, []) for i in range(len(frames))]


def _use_local_weights(folder: Path) -> None:
    """Point py-feat's resource folder (its Hugging Face cache) at ``folder``, hub offline.

    py-feat calls ``hf_hub_download(cache_dir=get_resource_path())``; both the module function
    and the names it was imported under are replaced, and huggingface_hub's offline switch is
    set even when it was imported before us.
    """
    import feat.utils.io as feat_io
    import huggingface_hub.constants as hub_constants

    path = str(folder)
    for module_name in ("feat.utils.io", "feat.detector", "feat.MPDetector", "feat.utils"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "get_resource_path"):
            module.get_resource_path = lambda: path
    feat_io.get_resource_path = lambda: path
    hub_constants.HF_HUB_OFFLINE = True


def faces_from_fex(
    fex: Any, au_names: list[str] | None = None, emotions: bool = False
) -> dict[int, list[MeasuredFace]]:
    """py-feat output (a Fex / DataFrame, one row per face) as faces per ``frame`` value;
    with ``emotions``, each face's emotion probabilities in this project's class names.

    Rows whose face box is empty (NaN: py-feat's "no face" row) give no face.
    """
    columns = [str(column) for column in fex.columns]
    aus = au_names or sort_aus([c for c in columns if _is_au_column(c)])
    emotion_columns = _emotion_columns(columns) if emotions else {}
    by_frame: dict[int, list[MeasuredFace]] = {}
    for record in fex.to_dict("records"):
        frame = int(record.get("frame", 0) or 0)
        by_frame.setdefault(frame, [])
        box = Box(*(float(record[k]) for k in ("FaceRectX", "FaceRectY", "FaceRectWidth",
                                                "FaceRectHeight")))  # fmt: skip
        if any(value != value for value in (box.x, box.y, box.w, box.h)):
            continue
        probabilities = {
            normalise_au(name): float(record[name]) for name in columns if _is_au_column(name)
        }
        probabilities = {au: value for au, value in probabilities.items() if au in aus}
        by_frame[frame].append(
            MeasuredFace(
                box=box,
                confidence=float(record.get("FaceScore", 1.0)),
                intensities={au: round(5.0 * p, 4) for au, p in probabilities.items()},
                presence={au: int(p >= 0.5) for au, p in probabilities.items()},
                expression=_expression(record, emotion_columns),
            )
        )
    return by_frame


def _emotion_columns(columns: list[str]) -> dict[str, str]:
    """py-feat's emotion columns (``anger`` or ``Anger``, ...) -> this project's class name."""
    known = {*expression_model.EXPRESSION_CLASSES, "contempt"}
    found = {column: expression_model.canonical_class(column) for column in columns}
    return {column: name for column, name in found.items() if name in known}


def _expression(record: dict[str, Any], columns: dict[str, str]) -> dict[str, float]:
    """The face's emotion probabilities; {} when py-feat gave none (NaN)."""
    values = {name: float(record[column]) for column, name in columns.items()}
    if any(value != value for value in values.values()):
        return {}
    return values


def _is_au_column(name: str) -> bool:
    return name.startswith("AU") and name[2:].isdigit()


def _unscale(face: MeasuredFace, scale: float) -> MeasuredFace:
    if scale == 1.0:
        return face
    face.box = face.box.scaled(1 / scale)
    return face


def _feat_version() -> str:
    try:
        from importlib.metadata import version

        return version("py-feat")
    except Exception:
        return "?"
