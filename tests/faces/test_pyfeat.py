"""The py-feat backend: its adapter on py-feat's real detector output shipped in the wheel
(``Feat_Test.csv``, read with py-feat's own ``read_feat``), and its failure without weights.

The real detector itself needs weights from Hugging Face, which these machines cannot reach:
``test_no_weights_*`` runs the real loading code to the point where py-feat asks the hub.
"""

from __future__ import annotations

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


def run_cli(tmp_path: Path, clips: Path, faces: dict, env: dict) -> subprocess.CompletedProcess:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "input": str(clips), "output": str(tmp_path / "out"),
        "stages": {"faces": {"backend": "pyfeat", "pyfeat": faces}},
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
    assert log.count("py-feat could not load its model weights") == 3  # once, then per sample
    assert log.count("They are not in the py-feat wheel") == 1  # the how-to: once
    assert "weights_dir" in log and "backend: dlib" in log
    records = list((tmp_path / "out" / "stages" / "faces").glob("*.json"))
    assert len(records) == 2  # each sample has a failure record with the reason
    assert all("pyfeat faces backend did not load" in path.read_text() for path in records)
