"""Benchmark the pipeline on the sample clips (same as ``merr-build bench``); see
``merr_factory.bench`` for what it measures.

    python scripts/bench.py --copies 50 --noop-samples 10000 --json bench.json --markdown bench.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from merr_factory.bench import main


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark merr-build on the sample clips.")
    parser.add_argument("--copies", type=int, default=50, help="samples for the throughput runs")
    parser.add_argument(
        "--noop-samples", type=int, default=10_000, help="samples for the resume run"
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the table as markdown here")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse()
    main(args.copies, args.noop_samples, args.json, args.markdown)
