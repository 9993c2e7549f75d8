"""The LLM benchmark alone (``merr-build bench`` runs it too): the synthesize stage against a
stub OpenAI-compatible server with a fixed latency, at several numbers of requests in flight,
and, with ``--raw``, the stage's seconds per call against the bare library's on the same
requests (SmolLM2 in process with llama-cpp-python, and through ``python -m llama_cpp.server``).

    python scripts/bench_llm.py --samples 256 --latency 0.2 --concurrency 1 8 32 --raw 12
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from merr_factory import bench_llm
from merr_factory.bench import replicate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--raw", type=int, default=0, help="samples for the raw-cost runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"in_flight": [], "raw": []}
    with tempfile.TemporaryDirectory(prefix="merr-bench-llm-") as temp:
        root = Path(temp)
        clips = replicate(root / "clips", args.samples)
        server = bench_llm.StubServer(args.latency)
        try:
            for concurrency in args.concurrency:
                row = bench_llm.measure_in_flight(root, clips, server, concurrency)
                results["in_flight"].append(row)
        finally:
            server.close()
        if args.raw:
            few = replicate(root / "raw-clips", args.raw)
            results["raw"].append(bench_llm.measure_llamacpp_raw(root, few))
            results["raw"].append(bench_llm.measure_server_raw(root, few, threads=1))
    print(bench_llm.render_markdown(results, args.latency))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
