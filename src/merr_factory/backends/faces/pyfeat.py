"""``pyfeat`` backend: py-feat's detector (RetinaFace + its AU model), the default for real runs.

Weights come from py-feat's normal download (Hugging Face, cached in
``<site-packages>/feat/resources``), or from a local folder (``weights_dir``): a copy of that
``resources`` folder from a machine that ran py-feat online (the Hugging Face cache layout,
``models--py-feat--<model>/...``). With ``weights_dir`` set, py-feat's resource path points
there and the hub is switched off, so nothing is fetched. Without weights and without network
py-feat fails in ``setup()``, once, with the message below, not once per clip.

Frames come from our own decoder (one pass, at the sample rate) and are handed to py-feat as
a tensor batch; py-feat's own video reader is not used. py-feat's AU outputs are
probabilities (0-1): intensity = 5 x probability, presence = probability >= 0.5.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from ...knowledge.au import normalise_au, sort_aus
from ...optional import require
from .base import (
    Box,
    ClipRequest,
    FaceBackend,
    FaceBackendError,
    FaceTable,
    MeasuredFace,
    TimedFrames,
    face_table,
    select_main_faces,
)

DETECTORS = ("Detectorv2", "Detectorv1")

MISSING_WEIGHTS = (
    "py-feat could not load its model weights ({error}). They are not in the py-feat "
    "wheel: run once with network access (py-feat downloads them from Hugging Face into "
    "{cache}), or put the downloaded files in a folder and set "
    "stages.faces.pyfeat.weights_dir to it, or choose the offline backend: "
    "stages.faces.backend: dlib"
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
    ) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"pyfeat detector must be one of {DETECTORS}, got {detector!r}")
        self.detector_name = detector
        self.weights_dir = weights_dir
        self.device = device
        self.batch_size = batch_size
        self.face_threshold = face_threshold
        self._detector: Any = None
        self._au_names: list[str] = []

    @property
    def model(self) -> str:
        version = _feat_version()
        return f"py-feat {version} {self.detector_name}"

    @property
    def au_names(self) -> list[str]:
        return self._au_names

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
            message = MISSING_WEIGHTS.format(error=_one_line(error), cache=cache)
            raise FaceBackendError(message) from error
        self._au_names = sort_aus(list(self._detector_aus()))

    def _detector_options(self) -> dict[str, Any]:
        if self.detector_name == "Detectorv2":
            return {"identity_model": None, "face_detection_threshold": self.face_threshold}
        return {"identity_model": None, "emotion_model": None, "gaze_model": None}

    def _detector_aus(self) -> list[str]:
        multitask = getattr(self._detector, "multitask", None)
        names = getattr(multitask, "au_names", None)
        if names:
            return list(names)
        from feat.pretrained import AU_LANDMARK_MAP  # Detectorv1's AU list

        return list(AU_LANDMARK_MAP["Feat"])

    def analyse(self, request: ClipRequest) -> FaceTable:
        torch = require("torch", "faces-pyfeat", "The py-feat faces backend")
        if self._detector is None:
            self.setup()
        frames = TimedFrames(request)
        measured: list[tuple[int, float, list[MeasuredFace]]] = []
        batch: list[Any] = []
        started = time.perf_counter()
        for frame in frames:
            batch.append(frame)
            if len(batch) == self.batch_size:
                measured += self._detect(torch, batch)
                batch = []
        if batch:
            measured += self._detect(torch, batch)
        width = frames.stream.width or request.width or 1  # upright, as decoded
        height = frames.stream.height or request.height or 1
        rows = select_main_faces(measured, request.main_face, width, height)
        return face_table(rows, self._au_names, frames, started)

    def _detect(self, torch: Any, batch: list[Any]) -> list[tuple[int, float, list[MeasuredFace]]]:
        import numpy as np

        pixels = torch.from_numpy(np.stack([frame.rgb for frame in batch])).permute(0, 3, 1, 2)
        fex = self._detector.detect(
            pixels, data_type="tensor", batch_size=len(batch), progress_bar=False
        )
        faces = faces_from_fex(fex, self._au_names)
        return [
            (frame.index, frame.time, [_unscale(face, frame.scale) for face in faces.get(i, [])])
            for i, frame in enumerate(batch)
        ]


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


def faces_from_fex(fex: Any, au_names: list[str] | None = None) -> dict[int, list[MeasuredFace]]:
    """py-feat output (a Fex / DataFrame, one row per face) as faces per ``frame`` value.

    Rows whose face box is empty (NaN: py-feat's "no face" row) give no face.
    """
    columns = [str(column) for column in fex.columns]
    aus = au_names or sort_aus([c for c in columns if _is_au_column(c)])
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
            )
        )
    return by_frame


def _is_au_column(name: str) -> bool:
    return name.startswith("AU") and name[2:].isdigit()


def _unscale(face: MeasuredFace, scale: float) -> MeasuredFace:
    if scale == 1.0:
        return face
    face.box = face.box.scaled(1 / scale)
    return face


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def _feat_version() -> str:
    try:
        from importlib.metadata import version

        return version("py-feat")
    except Exception:
        return "?"
