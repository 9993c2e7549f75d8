"""Resume cost with the outputs in S3 (``output_url``): a first run and a no-op re-run of ten
light stages, against moto's S3 server on localhost (a real S3 HTTP API, not AWS: a local
server answers in about a millisecond, so real buckets add their network latency to the
first run; the re-run's requests are one listing page per 1,000 objects plus the indexes).

    python scripts/bench_remote.py --samples 2000
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

import fsspec

from merr_factory.bench import measure_resume


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
