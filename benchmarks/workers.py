"""Where the second worker's speed-up goes: per stage, the CPU seconds a sample costs with one
worker and with two (the same work: a rise is contention, not the runner), and the machine's
own ceiling, a fixed torch workload (one thread, the size of the feature encoders' layers) in
one process against two processes at once; what a fresh worker process pays before its first
sample (imports, each stage's set-up); and ``merr-build run`` as a whole command with one
worker and with two, each a fresh process as a user runs it (the throughput part's one-worker
run is in the benchmark's own process, whose warm-up already imported every library).

    python -m benchmarks.workers --copies 12 [--whole-commands]

The pipeline runs the stages up to the features stage (the LLM is measured elsewhere), with
the sample config's settings and one library thread per worker, as the throughput part does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import replicate, write_config
from merr_factory.config import load_config
from merr_factory.run.pipeline import Runner, RunOptions
from merr_factory.run.workspace import open_workspace

STAGES = ["ingest", "filter", "faces", "peak", "audio", "asr", "features"]
# a ViT-large layer's matrix products: 197 tokens x 1024 -> 4096 -> 1024, as the encoders do
PROBE = """
import time, torch
torch.set_num_threads(1)
x, a, b = torch.randn(197, 1024), torch.randn(1024, 4096), torch.randn(4096, 1024)
torch.mm(torch.mm(x, a), b)
started = time.perf_counter()
for _ in range({rounds}):
    torch.mm(torch.mm(x, a), b)
print(time.perf_counter() - started)
"""


def probe_scaling(rounds: int = 400) -> dict[str, float]:
    """Seconds of the fixed workload alone, and each of two copies' seconds run at once."""
    command = [sys.executable, "-c", PROBE.format(rounds=rounds)]
    alone = float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    pair = [float(process.communicate()[0]) for process in both]
    return {
        "alone_s": round(alone, 2),
        "two_at_once_s": [round(value, 2) for value in pair],
        "speedup_2_over_1": round(2 * alone / max(pair), 2),
    }


# A fresh process as a worker starts: import, build the stages, set each up (models loaded).
WORKER_START = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from merr_factory.config import load_config
from merr_factory.run.workspace import open_workspace
stages = open_workspace(load_config(Path(sys.argv[1]))).stages
seconds = {"imports": time.perf_counter() - started}
for name, stage in stages.items():
    begun = time.perf_counter()
    stage.setup()
    seconds[name] = time.perf_counter() - begun
print(json.dumps({name: round(value, 2) for name, value in seconds.items()}))
"""


def worker_start(config: Path) -> dict[str, float]:
    """Seconds a fresh process spends importing and setting up each stage."""
    command = [sys.executable, "-c", WORKER_START, str(config)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def whole_command(root: Path, clips: Path, workers: int) -> float:
    """Wall seconds of ``merr-build run`` over every stage, a fresh process."""
    config = write_config(root, f"command-w{workers}", clips, workers)
    command = [sys.executable, "-m", "merr_factory", "run", "--config", str(config), "--quiet"]
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False)
    return round(time.perf_counter() - started, 1)


def per_stage(root: Path, clips: Path, workers: int) -> dict[str, Any]:
    workspace = open_workspace(load_config(write_config(root, f"w{workers}", clips, workers)))
    started = time.perf_counter()
    summary = Runner(workspace, RunOptions(stages=STAGES, progress=False)).run()
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 1),
        "stages": {
            tally.stage: {
                "s_per_sample": round(tally.seconds / tally.computed, 3),
                "cpu_s_per_sample": round(tally.cpu_seconds / tally.computed, 3),
            }
            for tally in summary.tallies
            if tally.computed
        },
    }


def measure(root: Path, copies: int, whole_commands: bool = False) -> dict[str, Any]:
    clips = replicate(root / "clips", copies)
    per_stage(root / "warm-up", replicate(root / "warm", 2), 1)  # one-time compiles
    load = os.getloadavg()
    one = per_stage(root, clips, 1)
    two = per_stage(root, clips, 2)
    results: dict[str, Any] = {
        "copies": copies,
        "one_worker": one,
        "two_workers": two,
        "speedup_2_over_1": round(one["wall_s"] / two["wall_s"], 2),
        "probe": probe_scaling(),
        "worker_start_s": worker_start(write_config(root, "start", clips, 1)),
    }
    if whole_commands:
        alone, pair = (whole_command(root, clips, workers) for workers in (1, 2))
        results["whole_command_s"] = {"one_worker": alone, "two_workers": pair}
        results["whole_command_speedup"] = round(alone / pair, 2)
    results["load_average"] = [round(value, 2) for value in (*load, *os.getloadavg())]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="1 worker against 2, per stage.")
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument(
        "--whole-commands", action="store_true", help="also merr-build run, 1 and 2 workers"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    with tempfile.TemporaryDirectory(prefix="merr-bench-workers-") as temp:
        results = measure(Path(temp), args.copies, args.whole_commands)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
