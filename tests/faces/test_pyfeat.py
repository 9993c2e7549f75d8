"""The py-feat backend: its adapter on py-feat's real detector output shipped in the wheel
(``Feat_Test.csv``, read with py-feat's own ``read_feat``), its failure without weights, and
the real ``Detectorv2`` run offline from a ``weights_dir`` holding checkpoints of py-feat's
real architectures that the test creates (RetinaFace-R34 and the v2 multitask model; see
``feat_weights``). py-feat's released weights are on Hugging Face, which is unreachable here,
so that test checks the loading, batching and output path, not the quality of the AUs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from merr_factory.backends.faces.base import Box
from merr_factory.backends.faces.pyfeat import faces_from_fex


@pytest.fixture(scope="module")
def feat_output(feat_data: Path):
    io = pytest.importorskip("feat.utils.io", reason="needs merr-factory[faces-pyfeat]")
    return io.read_feat(str(feat_data / "Feat_Test.csv"))


def test_adapter_reads_real_py_feat_output(feat_output) -> None:
    faces = faces_from_fex(feat_output)
    (face,) = faces[0]
    first = feat_output.iloc[0]
    assert face.box == Box(first["FaceRectX"], first["FaceRectY"], first["FaceRectWidth"],
                           first["FaceRectHeight"])  # fmt: skip
    assert face.confidence == pytest.approx(first["FaceScore"])
    assert len(face.intensities) == 20  # AU01 ... AU43
    assert face.intensities["AU01"] == pytest.approx(5 * first["AU01"], abs=1e-3)
    assert face.presence["AU01"] == int(first["AU01"] >= 0.5)
    assert all(0 <= value <= 5 for value in face.intensities.values())


def test_adapter_follows_frames_and_skips_rows_without_a_face(feat_output) -> None:
    import pandas as pd

    two = pd.concat([feat_output, feat_output], ignore_index=True)
    two.loc[1, "frame"] = 3
    no_face = two.iloc[[0]].copy()
    no_face.loc[:, ["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"]] = float("nan")
    no_face.loc[:, "frame"] = 5
    faces = faces_from_fex(pd.concat([two, no_face], ignore_index=True), ["AU01", "AU12"])
    assert sorted(faces) == [0, 3, 5]
    assert faces[5] == []
    assert set(faces[3][0].intensities) == {"AU01", "AU12"}


def test_adapter_reads_the_emotion_head_in_our_class_names(feat_output) -> None:
    (face,) = faces_from_fex(feat_output, emotions=True)[0]
    first = feat_output.iloc[0]
    spelled = {"angry": "anger", "happy": "happiness", "sad": "sadness"}
    assert list(face.expression) == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                     "neutral"]  # fmt: skip
    for name, value in face.expression.items():
        assert value == pytest.approx(first[spelled.get(name, name)])
    assert max(face.expression, key=face.expression.get) == "happy"  # a smiling face
    (without,) = faces_from_fex(feat_output)[0]
    assert without.expression == {}


class RecordedDetector:
    """Stands in for py-feat's detector by handing back py-feat's own output on
    ``single_face.jpg`` (``Feat_Test.csv`` in its wheel) instead of running its models: the
    backend's own path from that output to the rows is what runs."""

    def __init__(self, fex) -> None:
        self.fex = fex

    def detect(self, pixels, **options):
        assert tuple(pixels.shape) == (1, 3, 562, 572)  # the image, as our decoder read it
        return self.fex


def recorded_backend(feat_output, emotion_head: bool):
    from merr_factory.backends.faces.pyfeat import PyFeatBackend

    backend = PyFeatBackend(emotion_head=emotion_head)
    backend._detector = RecordedDetector(feat_output)
    backend._au_names = ["AU01", "AU12"]
    backend._emotion_names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    return backend


def test_fer_classifies_the_face_py_feat_found(feat_output, feat_data: Path) -> None:
    """Without py-feat's emotion head, fer's model (real weights) runs on the crop of py-feat's
    face box, cut from the frame our decoder read."""
    from merr_factory.backends.faces.base import ClipRequest
    from merr_factory.backends.faces.expression import EXPRESSION_CLASSES, FerExpression
    from merr_factory.media.frames import FrameStream

    pytest.importorskip("torch", reason="needs merr-factory[faces-pyfeat]")
    backend = recorded_backend(feat_output, emotion_head=False)
    backend.expression = FerExpression()
    image = feat_data / "single_face.jpg"
    table = backend.analyse(ClipRequest(image, None, 640))
    (row,) = table.rows
    assert table.expression_names == list(EXPRESSION_CLASSES)
    (frame,) = FrameStream(image, None, 640)
    assert row.box is not None and row.expression == backend.expression.classify(frame.rgb, row.box)
    assert max(row.expression, key=row.expression.get) == "happy"  # py-feat's head says so too
    assert table.expression_seconds > 0


def test_the_emotion_head_fills_the_expression(feat_output, feat_data: Path) -> None:
    from merr_factory.backends.faces.base import ClipRequest

    pytest.importorskip("torch", reason="needs merr-factory[faces-pyfeat]")
    backend = recorded_backend(feat_output, emotion_head=True)
    table = backend.analyse(ClipRequest(feat_data / "single_face.jpg", None, 640))
    (row,) = table.rows
    first = feat_output.iloc[0]
    assert row.expression["happy"] == pytest.approx(first["happiness"])
    assert row.expression["angry"] == pytest.approx(first["anger"])
    assert list(row.expression) == table.expression_names and table.expression_seconds == 0
    assert backend.expression_model.endswith("Detectorv2 emotion head (multitask)")


def run_cli(tmp_path: Path, clips: Path, faces: dict, env: dict) -> subprocess.CompletedProcess:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "input": str(clips), "output": str(tmp_path / "out"),
        "stages": {"faces": {"backend": "pyfeat", "pyfeat": faces}},
        "executor": {"workers": 1},  # "once" is per worker process
    }))  # fmt: skip
    command = [sys.executable, "-m", "merr_factory", "run", "--config", str(config), "--quiet",
               "--stages", "ingest,filter,faces", "--limit", "2"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env},
                          timeout=300)  # fmt: skip


@pytest.mark.parametrize(
    ("faces", "env"),
    [({}, {"HF_HUB_OFFLINE": "1"}), ({"weights_dir": "EMPTY"}, {})],
    ids=["offline-hub", "empty-weights-dir"],
)
def test_no_weights_fails_once_with_how_to_supply_them(
    feat_data: Path, clips: Path, tmp_path: Path, faces: dict, env: dict
) -> None:
    pytest.importorskip("feat", reason="needs merr-factory[faces-pyfeat]")
    if faces.get("weights_dir") == "EMPTY":
        (tmp_path / "weights").mkdir()
        faces = {"weights_dir": str(tmp_path / "weights")}
    started = time.monotonic()
    result = run_cli(tmp_path, clips, faces, env)
    assert time.monotonic() - started < 120  # no minute of download retries per clip
    assert result.returncode == 1
    log = result.stderr + result.stdout
    assert log.count("py-feat could not load its model weights") == 1  # once; records say it too
    assert log.count("They are not in the py-feat wheel") == 1  # the how-to: once
    assert "weights_dir" in log and "backend: dlib" in log
    records = list((tmp_path / "out" / "stages" / "faces").glob("*.json"))
    assert len(records) == 2  # each sample has a failure record with the reason
    assert all("faces could not be set up: py-feat" in p.read_text() for p in records)


def load_weights_script():
    """``scripts/make_pyfeat_weights.py``, imported (not run as a command)."""
    script = Path(__file__).parents[2] / "scripts" / "make_pyfeat_weights.py"
    spec = importlib.util.spec_from_file_location("make_pyfeat_weights", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def feat_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``weights_dir`` holding checkpoints of py-feat's real architectures, made here by
    ``scripts/make_pyfeat_weights.py``: RetinaFace-R34 with its class head set to call every
    coarsest-level anchor a face (box and landmark heads zeroed: the boxes are the anchors),
    and the v2 multitask model (ConvNeXtV2 backbone, AU/emotion/mesh heads) with random
    weights and its config."""
    pytest.importorskip("torch", reason="needs merr-factory[faces-pyfeat]")
    pytest.importorskip("feat", reason="needs merr-factory[faces-pyfeat]")
    return load_weights_script().make_pyfeat_weights(tmp_path_factory.mktemp("feat-weights"))


@pytest.fixture
def offline_feat(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend switches py-feat to the local folder process-wide; undo it afterwards."""
    import feat.utils.io as feat_io
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(feat_io, "get_resource_path", feat_io.get_resource_path)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", hub_constants.HF_HUB_OFFLINE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")


@pytest.fixture
def one_torch_thread():
    """torch on one thread: on a busy machine its spinning OpenMP threads cost 4x."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_real_detector_runs_offline_from_a_local_weights_dir(
    feat_weights: Path, offline_feat: None, one_torch_thread: None
) -> None:
    from merr_factory.backends.faces.base import ClipRequest
    from merr_factory.backends.faces.pyfeat import PyFeatBackend
    from tests.conftest import CLIPS

    backend = PyFeatBackend(weights_dir=feat_weights, emotion_head=True)
    backend.setup()
    assert len(backend.au_names) == 24 and backend.au_names[0] == "AU01"  # the v2.3 head
    table = backend.analyse(ClipRequest(CLIPS / "sample_00000006.jpg", None, 640))
    (row,) = table.rows
    assert row.faces >= 1 and row.box is not None and row.box.area > 0
    assert set(row.intensities) == set(backend.au_names)
    assert all(0 <= value <= 5 for value in row.intensities.values())
    assert all(row.presence[au] == int(v >= 2.5) for au, v in row.intensities.items())
    assert table.frames_total == 1 and (table.width, table.height) == (480, 270)
    # The multitask model's emotion head, in our class names (its softmax: sums to 1).
    assert {"angry", "happy", "sad", "neutral"} <= set(table.expression_names)
    assert list(row.expression) == table.expression_names
    assert sum(row.expression.values()) == pytest.approx(1.0, abs=1e-4)
    assert "emotion head (multitask)" in (backend.expression_model or "")


def test_batches_give_each_frame_the_results_of_one_frame_at_a_time(
    feat_weights: Path, offline_feat: None, one_torch_thread: None
) -> None:
    """Frames through py-feat's real models (random weights) in batches of 2 (3 frames: a
    full batch and a short one) give each frame what it gets alone, in the right row."""
    from merr_factory.backends.faces.base import ClipRequest
    from merr_factory.backends.faces.pyfeat import PyFeatBackend
    from tests.conftest import CLIPS

    backend = PyFeatBackend(weights_dir=feat_weights, batch_size=1, emotion_head=True)
    backend.setup()
    request = ClipRequest(CLIPS / "sample_00000001.mp4", 0.5, 64)  # 64 x 36: one face each
    alone = backend.analyse(request).rows
    backend.batch_size = 2
    batched = backend.analyse(request).rows
    assert [row.index for row in alone] == [0, 48, 96]
    for one, many in zip(alone, batched, strict=True):
        assert (many.index, many.time, many.faces) == (one.index, one.time, one.faces)
        assert one.box is not None and many.box is not None
        assert (many.box.x, many.box.y, many.box.w, many.box.h) == pytest.approx(
            (one.box.x, one.box.y, one.box.w, one.box.h), abs=1e-3
        )
        assert many.intensities == pytest.approx(one.intensities, abs=1e-3)
        assert many.expression == pytest.approx(one.expression, abs=1e-4)
    # the frames' results differ, so a frame given another's row would show
    assert alone[0].intensities != pytest.approx(alone[-1].intensities, abs=1e-3)


def faces_config(folder: Path, output: Path, weights: Path, clips_per_worker: int) -> Path:
    """py-feat's faces on ``folder``'s clips, 64 px frames every 2 s, 4 frames a pass."""
    faces = {"backend": "pyfeat", "sample_fps": 0.5, "max_side": 64,
             "pyfeat": {"weights_dir": str(weights), "batch_size": 4}}  # fmt: skip
    config = output.parent / f"{output.name}.yaml"
    config.write_text(yaml.safe_dump({
        "input": str(folder), "output": str(output), "stages": {"faces": faces},
        "executor": {"workers": 1, "clips_per_worker": clips_per_worker},
    }))  # fmt: skip
    return config


def frame_digests(path: Path) -> set[str]:
    """The frames the faces stage analyses in ``path`` (as ``faces_config`` asks), by content."""
    import hashlib

    from merr_factory.media.frames import FrameStream

    return {hashlib.sha1(frame.rgb.tobytes()).hexdigest() for frame in FrameStream(path, 0.5, 64)}


def test_two_clips_in_one_worker_share_passes_and_get_what_each_gets_alone(
    feat_weights: Path,
    offline_feat: None,
    one_torch_thread: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The faces stage with py-feat's REAL architectures (random weights, ``feat_weights``)
    through the runner, ``workers: 1``: two clips (3 and 2 frames, batch_size 4) computed
    one after the other, then at once with ``clips_per_worker: 2``. Together, a pass of the
    models held frames of both clips, and each clip's record and frames.csv are what it got
    alone (floats to the 4th decimal the CSV keeps: a batch's make-up moves float32 results
    by about 1e-8, as the batch size within one clip already does)."""
    import hashlib
    import shutil
    import threading

    from merr_factory import batching
    from merr_factory.backends.faces.base import TimedFrames
    from merr_factory.backends.faces.frames_csv import read_frames_csv
    from merr_factory.backends.faces.pyfeat import PyFeatBackend
    from tests.conftest import CLIPS

    from ..conftest import run_pipeline, tally

    folder = tmp_path / "clips"
    folder.mkdir()
    names = ["sample_00000001", "sample_00000002"]
    for name in names:
        shutil.copy(CLIPS / f"{name}.mp4", folder)
    alone, together = tmp_path / "alone", tmp_path / "together"
    run_pipeline(faces_config(folder, alone, feat_weights, 1), ["ingest", "filter"])
    shutil.copytree(alone, together)
    summary = run_pipeline(faces_config(folder, alone, feat_weights, 1), ["faces"])
    assert tally(summary, "faces")["computed"] == 2

    passes: list[list[str]] = []
    detect = PyFeatBackend.detect_frames

    def recorded(self, frames):
        passes.append([hashlib.sha1(frame.rgb.tobytes()).hexdigest() for frame in frames])
        return detect(self, frames)

    # Both clips' threads start their frames together, and a partial batch waits for the
    # other clip however slow its decoding: the batch's make-up no longer depends on timing.
    both_started = threading.Barrier(2)
    frames_of = TimedFrames.__iter__

    def started_together(self):
        both_started.wait(timeout=30)
        yield from frames_of(self)

    monkeypatch.setattr(PyFeatBackend, "detect_frames", recorded)
    monkeypatch.setattr(TimedFrames, "__iter__", started_together)
    monkeypatch.setattr(batching, "MAX_WAIT_S", 30.0)
    summary = run_pipeline(faces_config(folder, together, feat_weights, 2), ["faces"])
    assert tally(summary, "faces")["computed"] == 2

    first, second = (frame_digests(folder / f"{name}.mp4") for name in names)
    assert (len(first), len(second)) == (3, 2)
    assert sorted(len(batch) for batch in passes) == [1, 4]
    assert any(set(batch) & first and set(batch) & second for batch in passes)
    for name in names:
        records = [json.loads((out / "stages" / "faces" / f"{name}.json").read_text())["data"]
                   for out in (alone, together)]  # fmt: skip
        expressions = [record.pop("expression") for record in records]
        assert records[0] == records[1]
        assert expressions[1] == pytest.approx(expressions[0], abs=1e-4)
        rows = [read_frames_csv(out / "stages" / "faces" / name / "frames.csv")
                for out in (alone, together)]  # fmt: skip
        for one, other in zip(*rows, strict=True):
            assert (other.index, other.time, other.box) == (one.index, one.time, one.box)
            assert other.intensities == pytest.approx(one.intensities, abs=1e-4)
            assert other.presence == one.presence
            assert other.expression == pytest.approx(one.expression, abs=1e-4)
