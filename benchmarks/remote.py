"""Resume cost with the outputs in S3 (``output_url``): a first run and a no-op re-run of ten
light stages, against moto's S3 server on localhost (a real S3 HTTP API, not AWS: a local
server answers in about a millisecond, so real buckets add their network latency to the
first run; the re-run's requests are one listing page per 1,000 objects plus the indexes).

    python -m benchmarks.remote --samples 2000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import fsspec

from benchmarks.common import free_port, replicate, write_config
from benchmarks.throughput import run
from merr_factory.config import load_config
from merr_factory.reports.status import collect_status
from merr_factory.run.workspace import Workspace, open_workspace
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings


class StandIn(Stage[StageSettings]):
    """A light stage with a small record, for measuring what resuming costs."""

    summary = "benchmark stand-in"
    settings_model = StageSettings

    def process(self, sample: SampleContext) -> StageResult:
        return StageResult(data={"sample": sample.source.id, "stage": self.name})


def _stand_in(name: str, after: str) -> Stage:
    stage_class = type(f"StandIn_{name}", (StandIn,), {"name": name, "requires": (after,)})
    return stage_class(StageSettings(), RunFacts(label_set=()))


def measure_resume(root: Path, samples: int, **output: Any) -> dict[str, Any]:
    """First run and no-op re-run of ten light stages; ``output`` may give an output_url."""
    clips = replicate(root / "noop-clips", samples)
    config_path = write_config(root, "noop", clips, workers=1, **output)
    config = load_config(config_path)

    def workspace() -> Workspace:
        space = open_workspace(config)
        previous = "filter"
        for index in range(3, 11):
            name = f"stage{index:02d}"
            space.stages[name] = _stand_in(name, previous)
            previous = name
        return space

    names = ["ingest", "filter", *(f"stage{index:02d}" for index in range(3, 11))]
    _, first_wall = run(workspace(), names)
    start = time.perf_counter()
    space = workspace()  # discovery of the files is part of a re-run
    again, _ = run(space, names)
    noop_wall = time.perf_counter() - start
    start = time.perf_counter()
    collect_status(workspace())
    status_wall = time.perf_counter() - start
    return {
        "samples": samples,
        "stages": len(names),
        "first_run_wall_s": round(first_wall, 2),
        "noop_rerun_wall_s": round(noop_wall, 3),
        "noop_skipped": sum(tally.skipped for tally in again.tallies),
        "status_wall_s": round(status_wall, 3),
    }


def start_s3() -> tuple[subprocess.Popen, str]:
    """moto's S3 server in its own process (so it does not share this one's GIL)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, endpoint
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto's S3 server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(variable, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server, endpoint = start_s3()
    try:
        bucket = f"merr-bench-{uuid.uuid4().hex[:8]}"
        fsspec.filesystem("s3", endpoint_url=endpoint).mkdir(bucket)
        with tempfile.TemporaryDirectory(prefix="merr-bench-s3-") as temp:
            result = measure_resume(
                Path(temp),
                args.samples,
                output_url=f"s3://{bucket}/run",
                storage_options={"endpoint_url": endpoint},
            )
    finally:
        server.terminate()
    print(json.dumps({"output": "s3 (moto server on localhost)", **result}, indent=1))


if __name__ == "__main__":
    main()
