"""The LLM benchmark alone (``merr-build bench`` runs it too): the synthesize stage against a
stub OpenAI-compatible server with a fixed latency, at several numbers of requests in flight,
and, with ``--raw N``, the stage's seconds per call against the bare library's on the same
requests (SmolLM2 in process with llama-cpp-python, and through ``python -m llama_cpp.server``)
and the prompt layout's cost on that server.

    python scripts/bench_llm.py --samples 256 --latency 0.2 --concurrency 1 8 32 --raw 12
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from merr_factory import bench_llm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--raw", type=int, default=0, help="samples for the raw-cost runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="merr-bench-llm-") as temp:
        results = bench_llm.measure_llm(
            Path(temp), args.samples, args.raw, args.latency, tuple(args.concurrency)
        )
    print(bench_llm.render_markdown(results, args.latency))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
