"""The schedule side-by-side of ``python -m benchmarks --schedule barrier``.

The nearest existing tool (MER-Factory) runs the extraction (faces, AUs, audio, speech) for
the whole set first and only then the per-sample LLM chain, 4 requests in flight. This runner
streams instead: a sample's LLM questions start as soon as its own cues are ready, while other
samples are still being extracted. Both schedules run here on the same samples, with the same
stages, models and settings (the sample config's offline models, reply cache off), each into
its own output folder; the ratio of their wall times is what the streaming schedule saves.
The sample config's LLM is SmolLM2 in process, which takes a CPU worker one request at a time
(MER-Factory's 4 requests in flight apply to a server), so both schedules call it alike.

With ``served`` (``measure_served_schedules``), the LLM is behind a server that costs no
local CPU, as vLLM on a GPU elsewhere would be: the stub server of ``benchmarks/llm.py`` in its
own process, answering each request after a random 2-4 s with valid JSON for the synthesize
stage's schemas, 32 requests in flight. Extraction and LLM calls can then overlap; the barrier
schedule waits for all extraction before its first request.

For a fair comparison both schedules first run once on a few other samples (models
downloaded or compiled, files in the page cache), then twice each in the order streaming,
barrier, barrier, streaming, so that a machine that speeds up or slows down during the
measurement favours neither; the figure is the mean of each pair.

Alone: ``python -m benchmarks.schedule --samples 24 [--served [--in-flight N]]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import per_sample_stages, replicate, write_config
from benchmarks.llm import StubServer
from merr_factory.config import load_config
from merr_factory.run.pipeline import Runner, RunOptions
from merr_factory.run.workspace import open_workspace

LLM_STAGES = ("synthesize", "label")
ORDER = ("streaming", "barrier", "barrier", "streaming")
WARM_UP_SAMPLES = 4
SERVED_LATENCY_S = (2.0, 4.0)  # a 7B model on vLLM: a few hundred tokens out per call
SERVED_IN_FLIGHT = 32
FEW_IN_FLIGHT = 4  # MER-Factory's default concurrency


def _wall(config_path: Path, phases: list[list[str]]) -> float:
    """Seconds to run ``phases`` one after the other (each phase a whole-set run)."""
    workspace = open_workspace(load_config(config_path))
    started = time.perf_counter()
    for stages in phases:
        Runner(workspace, RunOptions(stages=stages, progress=False)).run()
    return time.perf_counter() - started


def _phases(config_path: Path) -> dict[str, list[list[str]]]:
    """Each schedule's phases: streaming runs every stage at once; barrier runs the
    extraction for the whole set, then the LLM chain."""
    stages = per_sample_stages(open_workspace(load_config(config_path)))
    extraction = [name for name in stages if name not in LLM_STAGES]
    chain = [name for name in stages if name in LLM_STAGES]
    return {"streaming": [stages], "barrier": [extraction, chain]}


def measure_schedules(
    root: Path, clips: Path, workers: int = 2, llm: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Wall seconds of the streaming schedule and of the barrier one on ``clips`` (``llm``:
    the synthesize stage's LLM settings instead of the sample config's)."""
    warm = replicate(root / "schedule-warm-up", WARM_UP_SAMPLES)
    phases = _phases(write_config(root, "warm-up-streaming", warm, workers, llm))
    for schedule in ("streaming", "barrier"):
        _wall(write_config(root, f"warm-up-{schedule}", warm, workers, llm), phases[schedule])
    walls: dict[str, list[float]] = {"streaming": [], "barrier": []}
    for run, schedule in enumerate(ORDER):
        config_path = write_config(root, f"{schedule}-{run}", clips, workers, llm)
        walls[schedule].append(round(_wall(config_path, phases[schedule]), 2))
    streaming = sum(walls["streaming"]) / len(walls["streaming"])
    barrier = sum(walls["barrier"]) / len(walls["barrier"])
    return {
        "samples": sum(1 for _ in clips.iterdir()),
        "workers": workers,
        "streaming_runs_s": walls["streaming"],
        "barrier_runs_s": walls["barrier"],
        "streaming_wall_s": round(streaming, 2),
        "barrier_wall_s": round(barrier, 2),
        "barrier_over_streaming": round(barrier / streaming, 3) if streaming else None,
    }


def measure_served_schedules(
    root: Path,
    clips: Path,
    workers: int = 2,
    latency: tuple[float, float] = SERVED_LATENCY_S,
    in_flight: int = SERVED_IN_FLIGHT,
) -> dict[str, Any]:
    """The two schedules with the synthesize stage's LLM behind the stub server (a random
    ``latency`` per request, ``in_flight`` requests at once): no local CPU for the LLM."""
    server = StubServer(*latency)
    try:
        llm = {
            "backend": "openai",
            "model": "bench",
            "base_url": server.base_url,
            "api_key_env": None,
            "concurrency": in_flight,
        }
        results = measure_schedules(root / "served", clips, workers, llm)
        results["llm_requests"] = server.stats()["requests"]
    finally:
        server.close()
    return {**results, "latency_s": list(latency), "in_flight": in_flight}


def main() -> None:
    parser = argparse.ArgumentParser(description="The schedules side by side, alone.")
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--served", action="store_true", help="the LLM behind the stub server")
    parser.add_argument(
        "--in-flight", type=int, default=SERVED_IN_FLIGHT, help="served: requests at once"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"  # as the whole benchmark sets (suite.py)
    with tempfile.TemporaryDirectory(prefix="merr-bench-schedule-") as temp:
        clips = replicate(Path(temp) / "clips", args.samples)
        if args.served:
            results = measure_served_schedules(
                Path(temp), clips, args.workers, in_flight=args.in_flight
            )
        else:
            results = measure_schedules(Path(temp), clips, args.workers)
    results["load_average"] = [round(value, 2) for value in os.getloadavg()]
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
