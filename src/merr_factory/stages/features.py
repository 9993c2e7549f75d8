"""features: Emotion-LLaMA's three pre-extracted utterance-level features of each clip.

Emotion-LLaMA does not run its audio, local and temporal encoders while training: it loads
one vector per clip and encoder from ``HL-UTT/``, ``mae_340_UTT/`` and ``maeV_399_UTT/``
(``<name>.npy``, float32, shape (1024,)). This stage writes them beside its record
(``artifacts.HUBERT_UTT``, ``MAE_UTT``, ``VIDEOMAE_UTT``) for the export to place:

- ``HL-UTT``: HuBERT-large (default ``TencentGameMate/chinese-hubert-large``, the model the
  Emotion-LLaMA authors name) on the audio stage's 16 kHz mono wav. Followed: MERTools'
  MER2023 baseline, ``MER2023/feature_extraction/audio/extract_transformers_embedding.py``
  (zeroQiaoba/MERTools), which Emotion-LLaMA's authors say they used for audio: the whole
  utterance in one pass, the last hidden layer (``layer_ids = [-1]``; MER2024's
  ``extract_audio_huggingface.py`` sums the last four instead: ``hubert_layers: [-4, -3,
  -2, -1]``), the mean over time.
- ``mae_340_UTT``: an MAE ViT-Large encoder (default ``facebook/vit-mae-large``, loaded with
  ``mask_ratio`` 0 so every patch is seen) on square face crops, one per face frame; per
  crop the mean over patch tokens, then the mean over frames (the Emotion-LLaMA authors:
  one face image at a time, the frame features averaged).
- ``maeV_399_UTT``: VideoMAE-Large (default ``MCG-NJU/videomae-large``) on 16 face crops
  picked uniformly over the face frames (MERTools, ``MER2024/feature_extraction/visual/
  extract_vision_huggingface.py``, ``resample_frames_uniform``), the last hidden state
  averaged over its patches and tubelets (as there, and as the authors describe theirs:
  (1, 1568, 1024) averaged to (1024,)). ``videomae_clips`` > 1 cuts the face frames into
  that many consecutive parts, one 16-frame clip each, and averages the clips.

Face frames are the faces stage's analysed frames with a face (``frames.csv``; its
``sample_fps``, optionally thinned by ``mae_fps``), where MERTools used every frame OpenFace
aligned. The crop is the square around the box (its longer side plus ``face_margin`` on
each side), resized to 224 x 224. The clip is decoded once, converting only those frames;
only the crops of two MAE batches and of the VideoMAE clips are held at once.

MAE's crops and VideoMAE's clips go to their models through one ``Batcher`` each
(``batching.py``): ``batch_size`` crops per MAE pass (``batch_size // 16`` clips per
VideoMAE pass), from one sample or, when the worker computes several at once
(``executor.clips_per_worker``), from several; each sample gets its own rows back in order.

The names' numbers (340, 399) are the epochs of the authors' own MAE and VideoMAE,
pre-trained on MER2023's unlabelled clips; the hub models above are the public
architectures' generic weights. Point ``mae_model`` / ``videomae_model`` at those
checkpoints (converted to transformers' format) to reproduce the released features.

``backend: none`` (the default) loads no model and writes no file: configs that do not ask
for features never download anything. A clip without audio, or without a face, gets no file
for that feature and the record says why (``missing``); ``zero_when_missing`` writes a zero
vector instead (Emotion-LLaMA's demo feeds zeros for features it lacks). An image has no
motion: VideoMAE is left out for it (the same way). ``frame_level`` also writes the arrays
before the utterance mean (``*_FRA.npy``), as MERTools' ``FRAME`` level does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from merr_factory.artifacts import (
    AUDIO_WAV,
    FRAMES_CSV,
    HUBERT_FRA,
    HUBERT_UTT,
    MAE_FRA,
    MAE_UTT,
    VIDEOMAE_FRA,
    VIDEOMAE_UTT,
)
from merr_factory.backends.device import torch_device
from merr_factory.backends.faces.base import Box, FrameRow
from merr_factory.backends.faces.frames_csv import read_frames_csv
from merr_factory.backends.features import is_placeholder
from merr_factory.backends.features.inputs import (
    clip_positions,
    face_rows,
    face_square,
    thin_by_fps,
)
from merr_factory.batching import Batcher
from merr_factory.faults import first_line
from merr_factory.inputs.discovery import SampleSource
from merr_factory.media.audio import read_wav_float
from merr_factory.media.frames import iter_frames_at
from merr_factory.optional import require
from merr_factory.stage_data import AudioData, FacesData, FeaturesData, IngestData, Reason
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings

EncoderName = Literal["hubert", "mae", "videomae"]
ENCODERS: tuple[EncoderName, ...] = ("hubert", "mae", "videomae")
# encoder -> (utterance-level file, frame-level file, what people call it)
FILES: dict[str, tuple[str, str, str]] = {
    "hubert": (HUBERT_UTT, HUBERT_FRA, "HuBERT"),
    "mae": (MAE_UTT, MAE_FRA, "MAE"),
    "videomae": (VIDEOMAE_UTT, VIDEOMAE_FRA, "VideoMAE"),
}
CROP_SIZE = 224  # the encoders' input size; the crops are made at it


def feature_name(encoder: str) -> str:
    """Emotion-LLaMA's folder name of an encoder's feature, e.g. ``HL-UTT``."""
    return Path(FILES[encoder][0]).stem


class FeaturesLoadError(RuntimeError):
    """A features model cannot be loaded in this worker."""


class FeaturesSettings(StageSettings):
    """Which encoders run, on which models, and what a sample without audio or face gets."""

    backend: Literal["none", "transformers"] = Field(
        default="none", description="none: no model is loaded and no file written (default)"
    )
    encoders: list[EncoderName] = Field(
        default_factory=lambda: list(ENCODERS), description="the features to compute"
    )
    hubert_model: str = Field(
        default="TencentGameMate/chinese-hubert-large", description="hub id or local folder"
    )
    hubert_layers: list[int] = Field(
        default_factory=lambda: [-1],
        description="hidden states summed (MER2023: [-1]; MER2024: [-4, -3, -2, -1])",
    )
    mae_model: str = Field(default="facebook/vit-mae-large", description="hub id or folder")
    mae_fps: float | None = Field(
        default=None, gt=0, description="face frames per second for MAE; null: every one"
    )
    videomae_model: str = Field(default="MCG-NJU/videomae-large", description="hub id or folder")
    videomae_clips: int = Field(default=1, ge=1, description="16-frame clips, averaged")
    face_margin: float = Field(
        default=0.2, ge=0, le=1, description="crop: the box's longer side grown by this per side"
    )
    zero_when_missing: bool = Field(
        default=False, description="no audio / no face: write a zero vector, else no file"
    )
    frame_level: bool = Field(
        default=False, description="also write the per-frame arrays (*_FRA.npy)"
    )
    device: str = Field(default="auto", description="auto (cuda when available) | cpu | cuda:N")
    batch_size: int = Field(default=16, ge=1, description="face crops per MAE forward pass")

    not_in_fingerprint = frozenset({"device", "batch_size"})

    @field_validator("encoders")
    @classmethod
    def _known_once(cls, values: list[EncoderName]) -> list[EncoderName]:
        if not values:
            raise ValueError("list at least one of hubert, mae, videomae")
        return [name for name in ENCODERS if name in values]

    @field_validator("hubert_layers")
    @classmethod
    def _some_layer(cls, values: list[int]) -> list[int]:
        if not values:
            raise ValueError("list at least one hidden state, e.g. [-1]")
        return values

    def model_of(self, encoder: str) -> str:
        return {"hubert": self.hubert_model, "mae": self.mae_model,
                "videomae": self.videomae_model}[encoder]  # fmt: skip

    def fingerprint_view(self) -> dict[str, Any]:
        """Off, nothing else matters; on, only the chosen encoders' settings decide."""
        if self.backend == "none":
            return {"backend": "none"}
        view = super().fingerprint_view()
        unused = {"hubert": ("hubert_model", "hubert_layers"),
                  "mae": ("mae_model", "mae_fps"),
                  "videomae": ("videomae_model", "videomae_clips")}  # fmt: skip
        for encoder, keys in unused.items():
            if encoder not in self.encoders:
                for key in keys:
                    view.pop(key)
        return view


class FeaturesStage(Stage[FeaturesSettings]):
    name = "features"
    summary = "Emotion-LLaMA's features: HuBERT (audio), MAE and VideoMAE (face crops)."
    settings_model = FeaturesSettings
    output_model = FeaturesData
    requires = ("faces", "audio")
    reads_media = True  # it decodes the face frames
    version = "1"

    def __init__(self, settings: FeaturesSettings, facts: RunFacts) -> None:
        super().__init__(settings, facts)
        self._encoders: dict[str, Any] = {}
        self._batchers: dict[str, Batcher[Any, np.ndarray]] = {}  # mae, videomae
        self._device: str | None = None

    def identity(self) -> dict[str, Any]:
        identity = super().identity()
        if self.settings.backend != "none":
            identity["model_files"] = {
                encoder: _model_files(self.settings.model_of(encoder))
                for encoder in self.settings.encoders
            }
        return identity

    def setup(self) -> None:
        """Load the chosen encoders once per worker. One that cannot load (a folder that does
        not exist, no network for a hub id, a missing extra) raises one line saying which;
        the host logs it once and fails each sample with it."""
        settings = self.settings
        if settings.backend == "none" or self._encoders:
            return
        require("torch", "features", "the features stage")
        require("transformers", "features", "the features stage")
        from merr_factory.backends.features import encoders as models

        device = torch_device(settings.device)
        loaded: dict[str, Any] = {}
        for encoder in settings.encoders:
            model = _local_or_hub(settings.model_of(encoder), FILES[encoder][2])
            try:
                if encoder == "hubert":
                    loaded[encoder] = models.HubertEncoder(model, device, settings.hubert_layers)
                elif encoder == "mae":
                    loaded[encoder] = models.MaeEncoder(model, device)
                else:
                    loaded[encoder] = models.VideoMaeEncoder(model, device)
            except Exception as error:
                raise FeaturesLoadError(
                    f"cannot load the {FILES[encoder][2]} model {model!r}: "
                    f"{type(error).__name__}: {first_line(error)}"
                ) from error
        self._encoders, self._device = loaded, device
        if "mae" in loaded:  # crops -> one (D,) row each
            self._batchers["mae"] = Batcher(loaded["mae"].embed, settings.batch_size)
        if "videomae" in loaded:  # 16-crop clips -> one (tubelets, D) array each
            per_pass = max(1, settings.batch_size // loaded["videomae"].frames_per_clip)
            self._batchers["videomae"] = Batcher(loaded["videomae"].embed, per_pass)

    def thread_safe(self) -> bool:
        """HuBERT's forward pass (eval mode, ``inference_mode``) keeps no state, and MAE and
        VideoMAE see only batches from their batchers, one at a time."""
        return True

    def process(self, sample: SampleContext) -> StageResult:
        if self.settings.backend == "none":
            return StageResult(data=FeaturesData(backend="none"))
        if not self._encoders:
            raise RuntimeError("features: setup() was not called before process()")
        out = _Outputs(self.settings, sample.workdir, self._encoders)
        if "hubert" in self._encoders:
            self._audio(sample, out)
        if "mae" in self._encoders or "videomae" in self._encoders:
            self._faces(sample, out)
        return StageResult(data=out.data(self._device), metrics=out.metrics)

    def _audio(self, sample: SampleContext, out: _Outputs) -> None:
        audio = sample.input(AudioData)
        if not audio.has_audio:
            kind = sample.input(IngestData).kind
            what = "an image has no sound" if kind == "image" else "the clip has no audio track"
            out.absent("hubert", "no_audio", what)
            return
        encoder = self._encoders["hubert"]
        samples, rate = read_wav_float(sample.input_file(AudioData, AUDIO_WAV))
        out.audio_seconds = round(len(samples) / rate, 4)
        if len(samples) < encoder.min_samples:
            message = f"{len(samples)} audio samples, fewer than HuBERT's {encoder.min_samples}"
            out.absent("hubert", "audio_too_short", message)
            return
        started = time.perf_counter()
        frames = encoder.frames(samples, rate)
        out.metrics["hubert_s"] = time.perf_counter() - started
        out.write("hubert", frames)

    def _faces(self, sample: SampleContext, out: _Outputs) -> None:
        mae, videomae = self._encoders.get("mae"), self._encoders.get("videomae")
        rows = face_rows(read_frames_csv(sample.input_file(FacesData, FRAMES_CSV)))
        if not rows:
            for encoder in ("mae", "videomae"):
                if encoder in self._encoders:
                    out.absent(encoder, "no_face", "no analysed frame shows a face")
            return
        mae_rows = thin_by_fps(rows, self.settings.mae_fps) if mae is not None else []
        clips: list[list[FrameRow]] = []
        if videomae is not None:
            if sample.input(IngestData).kind == "image":
                out.absent("videomae", "image", "an image has no motion for VideoMAE's clips")
            else:
                positions = clip_positions(
                    len(rows), self.settings.videomae_clips, videomae.frames_per_clip
                )
                clips = [[rows[position] for position in clip] for clip in positions]
        if not mae_rows and not clips:
            return
        crops = self._crops(sample.source, mae_rows, clips, out)
        if clips:
            started = time.perf_counter()
            videos = (("clip", [crops[row.index] for row in clip]) for clip in clips)
            tubelets = [per_clip for _, per_clip in self._embedded("videomae", videos)]
            out.metrics["videomae_s"] = time.perf_counter() - started
            out.write("videomae", np.concatenate(tubelets).reshape(-1, videomae.dim))
            out.videomae_frames = [[row.index for row in clip] for clip in clips]
        if mae_rows:
            out.mae_frames = [row.index for row in mae_rows]

    def _crops(
        self,
        source: SampleSource,
        mae_rows: list[FrameRow],
        clips: list[list[FrameRow]],
        out: _Outputs,
    ) -> dict[int, np.ndarray]:
        """One decode pass: MAE embeds its crops as they come (two batches are held at most);
        the VideoMAE clips' crops are returned by frame index."""
        boxes: dict[int, Box] = {}
        for row in [*mae_rows, *(row for clip in clips for row in clip)]:
            assert row.box is not None
            boxes[row.index] = row.box
        for_mae = {row.index for row in mae_rows}
        for_clips = {row.index for clip in clips for row in clip}
        kept: dict[int, np.ndarray] = {}
        decoded: set[int] = set()
        decode_s = 0.0

        def mae_crops() -> Iterator[tuple[Any, np.ndarray]]:
            """Decodes the frames, keeps the clips' crops, yields MAE's (timed apart)."""
            nonlocal decode_s
            frames = iter(iter_frames_at(source.path, boxes, source.segment))
            while True:
                begun = time.perf_counter()
                frame = next(frames, None)
                if frame is None:
                    decode_s += time.perf_counter() - begun
                    return
                decoded.add(frame.index)
                crop = face_square(frame.rgb, boxes[frame.index], self.settings.face_margin,
                                   CROP_SIZE)  # fmt: skip
                if frame.index in for_clips:
                    kept[frame.index] = crop
                decode_s += time.perf_counter() - begun
                if frame.index in for_mae:
                    yield crop.shape, crop

        started = time.perf_counter()
        embedded: list[np.ndarray] = []
        if "mae" in self._batchers:
            embedded = [row for _, row in self._embedded("mae", mae_crops())]
        else:
            for _ in mae_crops():  # no MAE: the frames are decoded for VideoMAE's crops
                pass
        out.metrics["decode_s"] = decode_s
        lost = sorted(set(boxes) - decoded)
        if lost:
            message = f"frames {lost[:5]} of frames.csv could not be decoded"
            raise ValueError(f"{source.path.name}: {message}")
        if embedded:
            out.metrics["mae_s"] = time.perf_counter() - started - decode_s
            out.write("mae", np.stack(embedded))
        return kept

    def _embedded(self, encoder: str, keyed: Iterator[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
        """``encoder``'s output for each keyed input, through its batcher, in order."""
        with closing(self._batchers[encoder].map(keyed)) as results:
            return list(results)


class _Outputs:
    """What one sample's run writes and records, encoder by encoder."""

    def __init__(self, settings: FeaturesSettings, workdir: Path, encoders: dict[str, Any]):
        self.settings = settings
        self.workdir = workdir
        self.encoders = encoders
        self.written: set[str] = set()
        self.zero_filled: set[str] = set()
        self.missing: dict[str, Reason] = {}
        self.metrics: dict[str, float] = {}
        self.audio_seconds: float | None = None
        self.mae_frames: list[int] = []
        self.videomae_frames: list[list[int]] = []

    def write(self, encoder: str, frames: np.ndarray) -> None:
        """The (T, D) array's mean over T as the utterance feature, and the array itself
        when ``frame_level`` asks."""
        frames = np.asarray(frames, dtype=np.float32)
        self._save(encoder, frames.mean(axis=0), frames)

    def absent(self, encoder: str, code: str, message: str) -> None:
        """No input for ``encoder``: the reason, and zeros when ``zero_when_missing``."""
        self.missing[feature_name(encoder)] = Reason(code=code, message=message)
        if self.settings.zero_when_missing:
            dim = self.encoders[encoder].dim
            # A missing frame-level feature is one zero row (MERTools' FRAME level).
            self._save(encoder, np.zeros(dim, np.float32), np.zeros((1, dim), np.float32))
            self.zero_filled.add(encoder)

    def _save(self, encoder: str, utterance: np.ndarray, frames: np.ndarray) -> None:
        utt_file, fra_file, _ = FILES[encoder]
        np.save(self.workdir / utt_file, utterance.astype(np.float32))
        if self.settings.frame_level:
            np.save(self.workdir / fra_file, frames.astype(np.float32))
        self.written.add(encoder)

    def data(self, device: str | None) -> FeaturesData:
        chosen = [encoder for encoder in ENCODERS if encoder in self.encoders]
        written = [encoder for encoder in chosen if encoder in self.written]
        per_frame = written if self.settings.frame_level else []
        return FeaturesData(
            backend="transformers",
            features=[feature_name(encoder) for encoder in written],
            zero_filled=[feature_name(e) for e in written if e in self.zero_filled],
            frame_level=[Path(FILES[encoder][1]).stem for encoder in per_frame],
            missing=self.missing,
            models={feature_name(e): self.settings.model_of(e) for e in chosen},
            placeholders=[
                feature_name(e) for e in written if is_placeholder(self.settings.model_of(e))
            ],
            dims={feature_name(e): int(self.encoders[e].dim) for e in chosen},
            device=device,
            audio_seconds=self.audio_seconds,
            mae_frames=self.mae_frames,
            videomae_frames=self.videomae_frames,
        )


def _local_or_hub(model: str, label: str) -> str:
    """A local folder as a path; a hub id as it is. Something that can only be a path (absolute,
    ``./``, ``~``, more than one ``/``) but is not there fails at once, without a download."""
    path = Path(model).expanduser()
    if path.exists():
        return str(path)
    if path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1:
        raise FeaturesLoadError(f"the {label} model folder {model} does not exist")
    return model


def _model_files(model: str) -> list[Any] | None:
    """A local model's files (name, size), so replacing the model makes outputs stale."""
    path = Path(model).expanduser()
    if not path.exists():
        return None  # a hub id: the id is the identity
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [[p.relative_to(path.parent).as_posix(), p.stat().st_size] for p in files]
