"""Benchmark the pipeline on the sample clips (same as ``merr-build bench``); see
``merr_factory.bench`` for what it measures.

    python scripts/bench.py --copies 50 --scale-samples 100000 --json bench.json --markdown bench.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from merr_factory.bench import main


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark merr-build on the sample clips.")
    parser.add_argument("--copies", type=int, default=50, help="samples for the throughput runs")
    parser.add_argument(
        "--scale-samples", type=int, default=100_000, help="done samples for the bookkeeping"
    )
    parser.add_argument("--scale-dir", type=Path, help="where to build them (e.g. /dev/shm)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the tables as markdown here")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse()
    main(args.copies, args.scale_samples, args.json, args.markdown, args.scale_dir)
