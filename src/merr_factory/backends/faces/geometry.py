"""Action Unit intensities estimated from 68 facial landmarks, relative to the clip's neutral.

What 68 landmarks (the iBUG / dlib layout) can and cannot show:

| AU | seen as | quality |
|---|---|---|
| AU01 inner brow raiser | inner brows above the eye corners | fair |
| AU02 outer brow raiser | outer brows above the eye corners (rise a little with AU01) | fair |
| AU04 brow lowerer | brows drawn together and lowered | fair |
| AU05 upper lid raiser | eyelid opening wider | fair |
| AU07 lid tightener | eyelid opening narrower, eye open (a smile's AU06 narrows it too) | weak |
| AU09 nose wrinkler | nose base rising towards the nasal root | weak |
| AU10 upper lip raiser | upper lip nearer the nose base | weak |
| AU12 lip corner puller | mouth corners above their rest height in the mouth itself | good |
| AU15 lip corner depressor | mouth corners below that rest height | fair |
| AU20 lip stretcher | mouth wider than its corners' rise explains | fair |
| AU25 lips part | gap between the inner lips (absolute, no baseline needed) | good |
| AU26 jaw drop | chin further from the nose base, with the lips parted | fair |
| AU45 blink | eyelid opening nearly closed | fair |

The quality column is a judgement; measured precision and recall on hand-checked frames of
the sample clips (``tests/data/au_fixture.json``, ``tests/faces/test_au_fixture.py``) are in
the README: micro 0.76 / 0.97, AU12 0.69 / 1.00. py-feat or OpenFace is for datasets.

Not measured: AU06 (cheek raiser) and AU14 (dimpler) change skin, not landmark positions;
AU17 (chin raiser), AU23 (lip tightener) and AU28 (lip suck) move landmarks too little to
separate from speech. Rules that use them (happy: 06, 12, 14) are scored by the faces stage
on the AUs the backend measures.

The mouth corners are read in the mouth's own frame: their height above the point
``CORNER_REST`` of the way from the upper to the lower inner lip, where relaxed corners sit
whether the lips are closed or the jaw is open. Measured against the nose base (as this
backend first did), an open smile's jaw drop carried the corners down and read as AU15, and
talking moved them on every syllable. Head pitch is not corrected: the lips' centre lies in
front of the corners, so a bowed head raises the corners relative to it (a crying sample with
the head down reads a slight AU12) and a head tilted back hides part of a smile.

How intensities are scaled. Landmarks are rotated so the eyes (the midpoints of their
corners, which a blink does not move) are level and divided by the inter-ocular distance
(IOD), so measures do not depend on face size or roll. Each AU has an oriented measure
(larger = more of the AU). Its neutral baseline is, over the clip's face frames, a low
percentile (default the 10th) for the one-way measures (AU09, AU10, AU25, AU26) and the
median for the others: the eye measures, whose extremes are blinks, and the brows, mouth
corners and mouth width, which move both ways (a frown and a brow raise, a smile and a
frown, a stretch and rounded speech), so a low percentile would make one direction's frames
the neutral the other is read on. The clip's own value is kept when it lies in the
population's neutral range (``NEUTRAL_MIN`` to ``NEUTRAL_MAX``); outside it, as in a clip
that smiles from its first frame to its last or a single image, the top of the range is the
neutral, so a still image still shows its smile and a smiling clip's calmer frames do not
read as a frown. Intensity = 5 * (measure - baseline) / ``FULL_RANGE`` (the displacement, in
IOD, of a maximal action), clipped to 0-5. Three rules join AUs: a smile widens the mouth, so
AU20 counts only the widening its corners' rise does not explain (``SMILE_WIDENING``); a
closed eye is a blink or a closure, so it shows no AU07; and a dropped jaw parts the lips, so
AU26 is at most AU25.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GEOMETRY_AUS: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU07", "AU09", "AU10",
    "AU12", "AU15", "AU20", "AU25", "AU26", "AU45",
)  # fmt: skip

# The displacement (in inter-ocular distances) that counts as intensity 5. A maximal brow
# raise lifts the brows 10-15 mm (0.15-0.25 IOD); a maximal jaw drop moves the chin about
# 30 mm (0.5 IOD), so the few millimetres of ordinary speech stay under intensity 1.
FULL_RANGE: dict[str, float] = {
    "AU01": 0.20, "AU02": 0.20, "AU04": 0.10, "AU05": 0.06, "AU07": 0.08,
    "AU09": 0.20, "AU10": 0.12, "AU12": 0.12, "AU15": 0.10, "AU20": 0.25,
    "AU25": 0.15, "AU26": 0.50, "AU45": 0.09,
}  # fmt: skip

# The top of the range of each oriented measure that relaxed, neutral faces show, in IOD:
# rough adult anthropometry, checked on the sample clips and the frontal faces of py-feat's
# test media. It is the neutral of a single image.
NEUTRAL_MAX: dict[str, float] = {
    "AU01": 0.39, "AU02": 0.34, "AU04": -0.53, "AU05": 0.13, "AU07": -0.08,
    "AU09": -0.68, "AU10": -0.17, "AU12": 0.03, "AU15": 0.02, "AU20": 0.90,
    "AU25": 0.02, "AU26": 1.20, "AU45": -0.08,
}  # fmt: skip

# The bottom of that range, where it matters: the eye opening and the corner height, whose
# clip medians fall outside it when a clip squints (smiles) or smiles throughout.
NEUTRAL_MIN: dict[str, float] = {
    "AU05": 0.08, "AU07": -0.13, "AU45": -0.13, "AU12": -0.02, "AU15": -0.03,
}  # fmt: skip

# Measures whose clip neutral is the median, not the low ``percentile``: they move both ways,
# or (the eyes) their extremes are blinks.
MEDIAN_BASELINE: frozenset[str] = frozenset(
    {"AU01", "AU02", "AU04", "AU05", "AU07", "AU12", "AU15", "AU20", "AU45"}
)

# Where relaxed mouth corners sit between the upper (0) and the lower (1) inner lip: an open
# jaw carries the lower lip down and the corners most of the way with it (the lips part into
# an oval, widest below the middle of the opening), so corners there are neither raised nor
# lowered. 0.5 would read every open mouth as a slight smile.
CORNER_REST = 0.7

# How much a smile widens the mouth per unit of its corners' rise: the zygomatic major pulls
# the corners up and out at about 35 degrees from the horizontal, so each corner moves out
# about 1.4 times as far as it rises, and the mouth widens by about 3 times the rise.
SMILE_WIDENING = 3.0

# The AU45 intensity from which the eye counts as closed (its opening down by about half).
EYE_CLOSED = 2.5

_EYE_CORNERS = ((36, 39), (42, 45))


def normalised_landmarks(points: np.ndarray) -> np.ndarray:
    """Rotate 68 (x, y) image points so the eyes are level, centre them between the eyes,
    scale by the inter-ocular distance and turn y upwards.

    The eyes are the midpoints of their corners, which a blink does not move (the mean of the
    six eye points drops with the upper lid, and brows and nose would seem to rise)."""
    points = np.asarray(points, dtype=np.float64)
    right_eye, left_eye = (points[list(pair)].mean(axis=0) for pair in _EYE_CORNERS)
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


def corner_height(q: np.ndarray) -> float:
    """How far the mouth corners sit above their rest height in the mouth's own frame: the
    point ``CORNER_REST`` of the way from the upper to the lower inner lip (the lip line, when
    the lips are closed). Up is AU12, down is AU15; the nose does not enter, so a jaw drop or
    talking does not move it."""
    y = q[:, 1]
    rest = (1 - CORNER_REST) * y[62] + CORNER_REST * y[66]
    return float(np.mean(y[[48, 54]])) - rest


def face_measures(points: np.ndarray) -> dict[str, float]:
    """The oriented measure of each AU in ``GEOMETRY_AUS`` for one face (68 landmarks)."""
    q = normalised_landmarks(points)
    y = q[:, 1]
    brow_inner = float(np.mean(y[[20, 21, 22, 23]]))
    brow_outer = float(np.mean(y[[17, 18, 25, 26]]))
    brow_gap = float(q[22, 0] - q[21, 0])
    eye_open = float(np.mean([y[37] - y[41], y[38] - y[40], y[43] - y[47], y[44] - y[46]]))
    nose_base = float(y[33])
    corners = corner_height(q)
    return {
        "AU01": brow_inner,
        "AU02": brow_outer,
        # Drawn together counts double: grief's raised inner brows (AU01) undo AU04's lowering
        # of the brows, not their drawing together.
        "AU04": -brow_gap - 0.5 * float(np.mean(y[17:27])),
        "AU05": eye_open,
        "AU07": -eye_open,
        "AU09": nose_base - float(y[27]),
        "AU10": -(nose_base - float(y[51])),
        "AU12": corners,
        "AU15": -corners,
        "AU20": float(np.hypot(*(q[54] - q[48]))),
        "AU25": float(y[62] - y[66]),
        "AU26": nose_base - float(y[8]),
        "AU45": -eye_open,
    }


def baselines(series: Sequence[dict[str, float]], percentile: float) -> dict[str, float]:
    """Each AU's neutral baseline over a clip: the ``percentile`` of its measure (the median
    for ``MEDIAN_BASELINE``) when it lies in the population's neutral range, else the top of
    that range (``NEUTRAL_MAX``): a clip whose typical face is outside the neutral range (or
    an image) says nothing about its own neutral, and the top is the cautious guess."""
    result: dict[str, float] = {}
    for au in GEOMETRY_AUS:
        values = [frame[au] for frame in series if au in frame]
        level = 50.0 if au in MEDIAN_BASELINE else percentile
        own = float(np.percentile(values, level)) if values else NEUTRAL_MAX[au]
        inside = NEUTRAL_MIN.get(au, -np.inf) <= own <= NEUTRAL_MAX[au]
        result[au] = own if inside else NEUTRAL_MAX[au]
    return result


def intensities(measures: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """AU intensities 0-5 of one frame's measures against the clip's baselines, with the three
    rules that join AUs (see the module docstring)."""
    displacement = {au: measures[au] - baseline[au] for au in GEOMETRY_AUS}
    # A smile widens the mouth: only the widening its corners' rise does not explain is AU20.
    displacement["AU20"] -= SMILE_WIDENING * max(0.0, displacement["AU12"])
    result = {}
    for au in GEOMETRY_AUS:
        value = 5.0 * displacement[au] / FULL_RANGE[au]
        result[au] = round(float(np.clip(value, 0.0, 5.0)), 3)
    if result["AU45"] >= EYE_CLOSED:
        result["AU07"] = 0.0  # a closed eye is a blink or a closure: tightening is not seen
    result["AU26"] = min(result["AU26"], result["AU25"])  # a dropped jaw parts the lips
    return result
