"""Benchmark the pipeline on the sample clips: the same as ``merr-build bench`` (the same
options; see ``merr-build bench --help`` and ``merr_factory.bench`` for what it measures).

    python scripts/bench.py --copies 50 --scale-samples 100000 --json bench.json --markdown bench.md
"""

from __future__ import annotations

import sys

from merr_factory.cli import app

if __name__ == "__main__":
    app(["bench", *sys.argv[1:]])
