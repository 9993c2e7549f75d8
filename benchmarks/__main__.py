"""``python -m benchmarks``: the whole benchmark (``suite.py``); a count of 0 skips a part.

    python -m benchmarks --copies 50 --scale-samples 100000 --json bench.json --markdown bench.md

``--help`` lists the options; ``make bench`` runs it with the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from benchmarks.suite import BenchPlan, main
from merr_factory.logs import setup_console_logging

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def bench(
    copies: Annotated[
        int, typer.Option(min=0, help="Samples for the throughput runs (0: none).")
    ] = 50,
    scale_samples: Annotated[
        int,
        typer.Option(min=0, help="Synthetic done samples for the bookkeeping at scale (0: none)."),
    ] = 100_000,
    scale_dir: Annotated[
        Path | None,
        typer.Option(help="Where to build them (default: /dev/shm when it has room, else TMPDIR)."),
    ] = None,
    llm_samples: Annotated[
        int, typer.Option(min=0, help="Samples for synthesize against a stub server (0: none).")
    ] = 256,
    llm_raw_samples: Annotated[
        int, typer.Option(min=0, help="Samples for the stage against the bare library (0: none).")
    ] = 8,
    schedule: Annotated[
        Literal["streaming", "barrier"],
        typer.Option(
            help="barrier: run the barrier schedule beside the streaming one on the same "
            "samples; streaming: the streaming runs only, no side-by-side."
        ),
    ] = "barrier",
    schedule_samples: Annotated[int, typer.Option(min=1, help="Samples for --schedule.")] = 24,
    frames: Annotated[
        bool, typer.Option(help="Decoding's share of the faces stage, py-feat's batch tables.")
    ] = True,
    segments: Annotated[
        bool, typer.Option(help="A 5 s segment of a 5-minute file against the same 5 s file.")
    ] = True,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write the tables as markdown.")] = None,
) -> None:
    """Benchmark: per-stage throughput on the sample clips, 2 workers against 1, what an LLM
    call costs (stub server, bare library, prompt layout), the barrier schedule side by side,
    and the bookkeeping (no-op re-run, status, memory, export, report) at 100k."""
    setup_console_logging(False)
    plan = BenchPlan(
        copies,
        scale_samples,
        scale_dir,
        llm_samples,
        llm_raw_samples,
        schedule,
        schedule_samples,
        frames,
        segments,
    )
    main(plan, json_path, markdown)


if __name__ == "__main__":
    app(prog_name="python -m benchmarks")
