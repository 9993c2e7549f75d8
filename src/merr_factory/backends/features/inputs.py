"""Which face crops the image and video encoders see, and how a crop is cut.

Frame choice follows MERTools (zeroQiaoba/MERTools, MER2024/feature_extraction/visual/
extract_vision_huggingface.py): a per-image encoder sees every face frame (the faces stage's
analysed frames with a face, here optionally thinned to ``fps``); VideoMAE sees 16 frames
picked uniformly over the face frames (``resample_frames_uniform``), the last repeated when
there are fewer than 16.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from merr_factory.backends.faces.base import Box, FrameRow
from merr_factory.media.frames import FrameSampler


def face_rows(rows: Sequence[FrameRow]) -> list[FrameRow]:
    """The analysed frames with a usable face box (positive size, no NaN)."""
    return [row for row in rows if row.box is not None and _usable(row.box)]


def _usable(box: Box) -> bool:
    values = (box.x, box.y, box.w, box.h)
    return all(math.isfinite(value) for value in values) and box.w > 0 and box.h > 0


def thin_by_fps(rows: Sequence[FrameRow], fps: float | None) -> list[FrameRow]:
    """``rows`` kept at most ``fps`` per second of clip time (None: all of them)."""
    if fps is None:
        return list(rows)
    sampler = FrameSampler(fps)
    return [row for row in rows if sampler.keep(row.time)]


def uniform_positions(count: int, length: int = 16) -> list[int]:
    """``length`` positions in ``range(count)`` spread uniformly from the first, the last one
    repeated when ``count < length`` (MERTools' ``resample_frames_uniform``, in integers)."""
    if count <= 0:
        return []
    taken = min(length, count)
    positions = [(step * count) // taken for step in range(taken)]
    return positions + [positions[-1]] * (length - taken)


def clip_positions(count: int, clips: int = 1, length: int = 16) -> list[list[int]]:
    """``clips`` runs of ``length`` positions: the face frames cut into ``clips`` equal
    consecutive parts, each sampled uniformly (``clips=1``: MERTools' single clip). Fewer
    clips when there are fewer frames than clips."""
    parts = min(clips, count)
    found = []
    for part in range(parts):
        start, end = (part * count) // parts, ((part + 1) * count) // parts
        found.append([start + position for position in uniform_positions(end - start, length)])
    return found


def face_square(rgb: np.ndarray, box: Box, margin: float, size: int) -> np.ndarray:
    """The square around ``box`` (its longer side grown by ``margin`` on each side, centred on
    the box), resized to ``size`` x ``size`` RGB; parts outside the frame are black."""
    side = max(box.w, box.h) * (1 + 2 * margin)
    centre_x, centre_y = box.x + box.w / 2, box.y + box.h / 2
    left, top = round(centre_x - side / 2), round(centre_y - side / 2)
    extent = max(1, round(side))
    crop = Image.fromarray(rgb).crop((left, top, left + extent, top + extent))
    return np.array(crop.resize((size, size), Image.Resampling.BICUBIC))  # writable: torch
