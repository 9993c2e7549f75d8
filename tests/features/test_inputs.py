"""The features stage's choices that need no model: which frames, which crops, its settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import merr_factory
from merr_factory.backends.faces.base import Box, FrameRow
from merr_factory.backends.features.inputs import (
    clip_positions,
    face_rows,
    face_square,
    thin_by_fps,
    uniform_positions,
)
from merr_factory.media.frames import iter_frames, iter_frames_at
from merr_factory.stage_data import FeaturesData
from merr_factory.stages.base import RunFacts
from merr_factory.stages.features import FeaturesSettings, FeaturesStage
from tests.conftest import CLIPS


def mertools_uniform(vlen: int, nframe: int = 16) -> list[int]:
    """MERTools' resample_frames_uniform (MER2024 extract_vision_huggingface.py), on indices."""
    taken = min(nframe, vlen)
    indices = np.arange(0, vlen, vlen / taken).astype(int).tolist()
    while len(indices) < nframe:
        indices.append(indices[-1])
    return indices[:nframe]


def test_uniform_positions_are_mertools_resample_frames_uniform() -> None:
    for count in range(1, 300):
        assert uniform_positions(count) == mertools_uniform(count), count
    assert uniform_positions(0) == []
    assert uniform_positions(3) == [0, 1, 2] + [2] * 13


def test_clip_positions_cut_the_frames_into_consecutive_parts() -> None:
    assert clip_positions(40, clips=1) == [uniform_positions(40)]
    first, second = clip_positions(40, clips=2)
    assert first == uniform_positions(20) and second == [20 + p for p in uniform_positions(20)]
    assert len(clip_positions(1, clips=3)) == 1  # fewer frames than clips: fewer clips
    assert clip_positions(0, clips=2) == []


def test_face_rows_and_thinning() -> None:
    rows = [FrameRow(index=i, time=i / 10, box=Box(10, 10, 20, 20) if i % 3 else None)
            for i in range(30)]  # fmt: skip
    rows.append(FrameRow(index=30, time=3.0, box=Box(0, 0, 0, 5)))  # no size: not a face
    faces = face_rows(rows)
    assert [row.index for row in faces] == [i for i in range(30) if i % 3]
    assert thin_by_fps(faces, None) == faces
    assert [row.time for row in thin_by_fps(faces, 2.0)] == [0.1, 0.5, 1.0, 1.6, 2.0, 2.5]


def test_face_square_is_centred_on_the_box_and_padded_black() -> None:
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[40:60, 90:110] = 255  # a white 20 x 20 "face"
    crop = face_square(rgb, Box(90, 40, 20, 20), margin=0.5, size=40)
    assert crop.shape == (40, 40, 3) and crop.flags.writeable
    assert crop[20, 20].tolist() == [255, 255, 255] and crop[2, 2].tolist() == [0, 0, 0]
    assert crop[10:30, 10:30].mean() > 240  # the face fills the middle half
    edge = face_square(rgb, Box(0, 0, 20, 40), margin=0.0, size=40)  # a tall box at the corner
    assert edge.shape == (40, 40, 3) and edge[:, :10].max() == 0  # left of the frame: black


def test_iter_frames_at_gives_the_frames_iter_frames_numbers() -> None:
    clip = CLIPS / "sample_00000003.avi"
    wanted = {0, 7, 50, 51}
    every = {frame.index: frame for frame in iter_frames(clip) if frame.index in wanted}
    chosen = list(iter_frames_at(clip, wanted))
    assert [frame.index for frame in chosen] == sorted(wanted)
    for frame in chosen:
        assert frame.time == every[frame.index].time
        assert np.array_equal(frame.rgb, every[frame.index].rgb)
    (image,) = iter_frames_at(CLIPS / "sample_00000006.jpg", {0})
    assert image.rgb.shape == (270, 480, 3)
    assert list(iter_frames_at(clip, set())) == []


def test_settings_default_to_no_backend_which_loads_and_writes_nothing(tmp_path: Path) -> None:
    settings = FeaturesSettings()
    assert settings.backend == "none"
    assert settings.fingerprint_view() == {"backend": "none"}
    assert FeaturesSettings(mae_fps=2).fingerprint_view() == {"backend": "none"}
    stage = FeaturesStage(settings, RunFacts(label_set=()))
    stage.setup()
    result = stage.process(None)  # type: ignore[arg-type]  # "none" reads no input
    assert result.data == FeaturesData(backend="none")
    assert "model_files" not in stage.identity()


def test_settings_fingerprint_only_what_decides_the_features() -> None:
    on = FeaturesSettings(backend="transformers", encoders=["videomae", "hubert"])
    assert on.encoders == ["hubert", "videomae"]  # pipeline order
    view = on.fingerprint_view()
    assert "device" not in view and "batch_size" not in view
    assert "mae_model" not in view and "mae_fps" not in view
    assert view["hubert_layers"] == [-1] and view["videomae_clips"] == 1
    elsewhere = FeaturesSettings(backend="transformers", batch_size=2, device="cuda:1")
    default = FeaturesSettings(backend="transformers").fingerprint_view()
    assert elsewhere.fingerprint_view() == default
    for bad in ({"encoders": []}, {"encoders": ["eva"]}, {"hubert_layers": []},
                {"videomae_clips": 0}, {"mae_fps": 0}, {"backend": "onnx"}):  # fmt: skip
        with pytest.raises(ValidationError):
            FeaturesSettings(**bad)


def test_the_default_settings_never_import_torch_or_transformers() -> None:
    """A config without a features section must not pay for (or download) the encoders: in a
    fresh interpreter (this one may have torch loaded by other tests), every stage imported
    and the default features stage set up and run, torch and transformers stay unloaded."""
    code = (
        "import sys\n"
        "from merr_factory.registry import STAGES\n"
        "from merr_factory.stages.base import RunFacts\n"
        "from merr_factory.stages.features import FeaturesSettings, FeaturesStage\n"
        "stage = FeaturesStage(FeaturesSettings(), RunFacts(label_set=()))\n"
        "stage.setup()\n"
        "stage.process(None)\n"
        "print(sorted(name for name in ('torch', 'transformers') if name in sys.modules))\n"
    )
    source = str(Path(merr_factory.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": source}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
