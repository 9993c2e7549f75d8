"""How well ``merr-build estimate`` predicts a real run: on the sample clips replicated
(hard links), the pilot's projection against the real runs' wall times.

- the pilot (``--pilot`` samples spread over the input) runs into output A and projects the
  whole input and the run after it;
- the real run into A (it reuses the pilot's records): against the "after the pilot" figure;
- a fresh run of every sample into output B: against the "whole input" figure.

Each run's wall time is its runner's (``RunSummary.seconds``, as ``runs/*.json`` keeps it),
with the sample config's stage settings and the LLM's reply cache off (``write_config``).
The machine's load average is printed beside: other jobs on shared cores move every figure.

    python -m benchmarks.estimate --copies 50 --pilot 10 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import replicate, write_config
from merr_factory.config import load_config
from merr_factory.preflight.estimate import estimate, render_estimate
from merr_factory.run.pipeline import Runner, RunOptions
from merr_factory.run.workspace import open_workspace


def _run_all(config_path: Path) -> float:
    workspace = open_workspace(load_config(config_path))
    options = RunOptions(stages=list(workspace.stages), progress=False)
    return Runner(workspace, options).run().seconds


def _error(projected: float, real: float) -> float:
    return round((projected - real) / real, 3) if real else float("nan")


def measure_estimate(root: Path, copies: int, pilot: int, workers: int) -> dict[str, Any]:
    clips = replicate(root / "clips", copies)
    config_a = write_config(root, "estimated", clips, workers)
    load_before = os.getloadavg()
    result = estimate(open_workspace(load_config(config_a)), pilot)
    print(render_estimate(result, load_config(config_a).executor), flush=True)
    after_pilot = _run_all(config_a)
    whole = _run_all(write_config(root, "fresh", clips, workers))
    return {
        "copies": copies,
        "pilot": pilot,
        "workers": workers,
        "pilot_wall_s": result.pilot_wall_s,
        "projected_after_pilot_s": result.after_pilot.wall_s,
        "real_after_pilot_s": round(after_pilot, 1),
        "error_after_pilot": _error(result.after_pilot.wall_s, after_pilot),
        "projected_whole_s": result.whole_input.wall_s,
        "real_whole_s": round(whole, 1),
        "error_whole": _error(result.whole_input.wall_s, whole),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="estimate's projection against real runs.")
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--pilot", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="merr-bench-estimate-") as temp:
        results = measure_estimate(Path(temp), args.copies, args.pilot, args.workers)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
