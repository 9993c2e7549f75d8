"""A served review app over an export run of the sample clips (stand-in model stages)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from merr_factory.config import load_config
from merr_factory.review.app import open_review, review_workspace
from merr_factory.review.server import ReviewApp, make_server
from tests.export.conftest import copy_clips, run_export, write_export_config


@dataclass
class Served:
    app: ReviewApp
    url: str
    output: Path
    config: Path


def serve(config: Path, annotator: str = "ann", host: str = "127.0.0.1") -> Iterator[Served]:
    loaded = load_config(config)
    app = open_review(review_workspace(loaded), annotator)
    server = make_server(app, host, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(app, f"http://{host}:{server.server_address[1]}", loaded.output, config)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("review-run")
    config = write_export_config(root, copy_clips(root))
    run_export(config)
    return config


@pytest.fixture
def served(exported: Path) -> Iterator[Served]:
    yield from serve(exported)
