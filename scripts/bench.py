"""Benchmark the pipeline on the bundled sample clips replicated to many samples.

Prints, per stage, samples per second, wall and CPU seconds; then the wall time of a
no-op re-run (everything current) and of ``status``; then the peak resident memory.
Media is hard-linked, not copied, so a large replica costs no disk.

    python scripts/bench.py --copies 1000 [--json bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from merr_factory.config import load_config
from merr_factory.pipeline import Runner, RunOptions, RunSummary
from merr_factory.stages import STAGES
from merr_factory.status import collect_status
from merr_factory.workspace import open_workspace

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "clips"


def replicate(target: Path, copies: int) -> None:
    sources = sorted(path for path in CLIPS.iterdir() if path.name.startswith("sample"))
    target.mkdir(parents=True)
    for index in range(copies):
        source = sources[index % len(sources)]
        os.link(source, target / f"clip_{index:06d}{source.suffix}")


def timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``action``; return its result, wall seconds and CPU seconds of this process."""
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    result = action()
    return result, time.perf_counter() - wall_before, time.process_time() - cpu_before


def run(config_path: Path) -> RunSummary:
    config = load_config(config_path)
    stages = [stage.name for stage in STAGES if stage.built]
    return Runner(open_workspace(config), RunOptions(stages=stages, progress=False)).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=600, help="samples to replicate to")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="merr-bench-") as temp:
        root = Path(temp)
        replicate(root / "clips", args.copies)
        config_path = root / "config.yaml"
        config_path.write_text(
            yaml.safe_dump({"input": str(root / "clips"), "output": str(root / "out")})
        )
        summary, wall, cpu = timed(lambda: run(config_path))
        _, noop_wall, _ = timed(lambda: run(config_path))
        config = load_config(config_path)
        _, status_wall, _ = timed(lambda: collect_status(open_workspace(config)))
    results = {
        "machine": machine(),
        "samples": args.copies,
        "stages": [
            {
                "stage": tally.stage,
                "samples_per_s": round(tally.computed / tally.seconds, 1)
                if tally.seconds
                else None,
                "wall_s": round(tally.seconds, 3),
            }
            for tally in summary.tallies
        ],
        "first_run_wall_s": round(wall, 3),
        "first_run_cpu_s": round(cpu, 3),
        "noop_rerun_wall_s": round(noop_wall, 3),
        "status_wall_s": round(status_wall, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def render(results: dict[str, Any]) -> str:
    lines = [
        f"{results['samples']} samples on {results['machine']}",
        "",
        "| stage | samples/s | wall s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {s['stage']} | {s['samples_per_s']} | {s['wall_s']} |" for s in results["stages"]]
    lines += [
        "",
        f"first run: {results['first_run_wall_s']} s wall, {results['first_run_cpu_s']} s CPU",
        f"no-op re-run: {results['noop_rerun_wall_s']} s; status: {results['status_wall_s']} s",
        f"peak RSS: {results['peak_rss_mb']} MB",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
