"""peak: the peak frame by the MERR rule, its AUs, and the frame and face crop as JPEG.

MERR rule (Emotion-LLaMA's maintainers): the peak frame is the frame with the largest sum of
AU intensities. Options, all documented in ``PeakSettings``:
- ``exclude_aus`` leaves AUs out of the sum. Default: AU45 (blink), which is not an
  expression and not in MERR's vocabulary. For talking clips add AU25 and AU26: they fire on
  every syllable, and otherwise the peak is often just an open mouth.
- ``smooth_frames`` averages the sum over that many analysed frames (centred) before the
  argmax, so a one-frame spike (a landmark glitch) cannot win. 1 = the plain MERR rule.
Ties go to the earliest frame. Frames without a face never win.

Writing the peak frame: this stage seeks to the peak frame in the clip (from the keyframe
before it) and decodes one group of pictures, instead of the faces stage keeping a candidate
frame while it runs. The peak depends on this stage's settings (exclusions, smoothing), which
the faces stage does not know; keeping "the best frame so far" there would tie the faces
output to peak settings or force it to keep every frame. A seek costs a few dozen frames'
decoding, never a second pass over the clip.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, field_validator

from merr_factory.artifacts import FRAMES_CSV, PEAK_FACE, PEAK_FRAME
from merr_factory.backends.faces.base import FrameRow
from merr_factory.backends.faces.frames_csv import read_frames_csv
from merr_factory.knowledge.au import MERR_VOCABULARY, normalise_au, sort_aus
from merr_factory.media.frames import read_frame
from merr_factory.stage_data import FacesData, PeakData
from merr_factory.stages.base import SampleContext, Stage, StageResult, StageSettings


class PeakSettings(StageSettings):
    """How the peak frame is chosen and which AUs are listed at it."""

    exclude_aus: list[str] = Field(
        default_factory=lambda: ["AU45"],
        description="AUs left out of the sum; add AU25, AU26 for speech-heavy clips",
    )
    smooth_frames: int = Field(
        default=1, ge=1, description="centred moving average of the sum over analysed frames"
    )
    threshold: float = Field(
        default=1.0, ge=0, le=5, description="intensity at which an AU enters peak_AU_list"
    )
    au_vocabulary: Literal["merr", "all"] = Field(
        default="merr", description="peak_AU_list: MERR's 17 AUs only, or every measured AU"
    )
    crop_margin: float = Field(default=0.2, ge=0, le=1, description="face crop margin")
    jpeg_quality: int = Field(default=90, ge=1, le=100)

    @field_validator("exclude_aus")
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        return sort_aus(values)


def au_sums(rows: list[FrameRow], aus: list[str]) -> np.ndarray:
    """Per analysed frame, the sum of the ``aus`` intensities; NaN where there is no face."""
    sums = np.full(len(rows), np.nan)
    for position, row in enumerate(rows):
        if row.has_face:
            sums[position] = sum(row.intensities.get(au, 0.0) for au in aus)
    return sums


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average ignoring NaN; frames that were NaN stay NaN."""
    if window <= 1:
        return values
    half = window // 2
    result = np.full(len(values), np.nan)
    for position in range(len(values)):
        if math.isnan(values[position]):
            continue
        neighbours = values[max(0, position - half) : position + half + 1]
        result[position] = float(np.nanmean(neighbours))
    return result


def find_peak(rows: list[FrameRow], aus: list[str], window: int = 1) -> int | None:
    """The position in ``rows`` of the peak frame (MERR rule), or None without faces."""
    sums = smooth(au_sums(rows, aus), window)
    if np.all(np.isnan(sums)):
        return None
    return int(np.nanargmax(sums))  # the first maximum: ties go to the earliest frame


class PeakStage(Stage[PeakSettings]):
    name = "peak"
    summary = "Peak frame by the MERR rule (largest sum of AU intensities)."
    settings_model = PeakSettings
    output_model = PeakData
    requires = ("faces",)
    reads_media = True  # it seeks to the peak frame to write peak_frame.jpg
    version = "1"

    def thread_safe(self) -> bool:
        """No model: the faces table, and one frame read from its own file."""
        return True

    def process(self, sample: SampleContext) -> StageResult:
        faces = sample.input(FacesData)
        rows = read_frames_csv(sample.input_file(FacesData, FRAMES_CSV))
        summed = [au for au in faces.au_names if au not in self.settings.exclude_aus]
        position = find_peak(rows, summed, self.settings.smooth_frames)
        if position is None:
            empty = PeakData(peak_index=None, peak_time=None, peak_intensities={},
                             peak_AU_list=[], au_sum=None, summed_aus=summed)  # fmt: skip
            return StageResult(data=empty)
        row = rows[position]
        intensities = {au: round(row.intensities[au], 4) for au in faces.au_names
                       if au in row.intensities}  # fmt: skip
        assert row.box is not None  # the peak is a frame with a face
        box: list[float | None] = [row.box.x, row.box.y, row.box.w, row.box.h]
        data = PeakData(
            peak_index=row.index,
            peak_time=row.time,
            peak_intensities=intensities,
            peak_AU_list=self._active(intensities),
            au_sum=round(sum(intensities.get(au, 0.0) for au in summed), 4),
            face_box=box,
            summed_aus=summed,
        )
        self._write_images(sample, row.index, row.time, box)
        return StageResult(data=data)

    def _active(self, intensities: dict[str, float]) -> list[str]:
        vocabulary = set(MERR_VOCABULARY) if self.settings.au_vocabulary == "merr" else None
        return sort_aus(
            [
                normalise_au(au)
                for au, value in intensities.items()
                if value >= self.settings.threshold and (vocabulary is None or au in vocabulary)
            ]
        )

    def _write_images(
        self, sample: SampleContext, index: int, time: float, box: list[float | None]
    ) -> None:
        rgb = read_frame(sample.source.path, index, time, sample.source.segment)
        image = Image.fromarray(rgb)
        quality = self.settings.jpeg_quality
        image.save(sample.workdir / PEAK_FRAME, format="JPEG", quality=quality)
        crop = face_crop(image.width, image.height, box, self.settings.crop_margin)
        image.crop(crop).save(sample.workdir / PEAK_FACE, format="JPEG", quality=quality)


def face_crop(
    width: int, height: int, box: list[float | None], margin: float
) -> tuple[int, int, int, int]:
    """The face box grown by ``margin`` on every side, kept inside the frame (the whole frame
    when the backend gave no usable box)."""
    if any(value is None or math.isnan(value) for value in box):
        return 0, 0, width, height
    x, y, w, h = box
    left = max(0, math.floor(x - margin * w))
    top = max(0, math.floor(y - margin * h))
    right = min(width, math.ceil(x + w + margin * w))
    bottom = min(height, math.ceil(y + h + margin * h))
    if right <= left or bottom <= top:
        return 0, 0, width, height
    return left, top, right, bottom
