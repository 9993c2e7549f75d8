"""Benchmark the synthesize stage's LLM throughput against a local OpenAI-compatible server
that answers every request after a fixed artificial latency.

For each concurrency the stage runs over the same samples (replicated sample clips, with
contract-shaped upstream cues) through the real runner and the real ``openai`` backend,
cache off. Reported: requests, wall seconds of the stage, the ideal
(requests x latency / concurrency) and the efficiency ideal / measured.

    python scripts/bench_llm.py --samples 48 --latency 0.2 --concurrency 1 4 16
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import yaml

from merr_factory.config import load_config
from merr_factory.pipeline import Runner, RunOptions
from merr_factory.stages.base import SampleContext, Stage, StageResult, StageSettings
from merr_factory.workspace import open_workspace

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "data" / "clips"

CUES = {
    "visual": {
        "peak_AU_list": ["AU06", "AU12"],
        "peak_index": 10,
        "au_phrases": {"AU06": "cheek raiser", "AU12": "lip corner puller"},
        "rule_support": {"happy": ["AU06", "AU12"]},
        "candidates": [{"emotion": "happy", "score": 0.67}],
        "reference_label": "happy",
        "AU_list": ["AU06", "AU12"],
        "visual_prior_list": ["cheek raiser", "lip corner puller"],
        "visual_objective": "A woman smiles at the camera.",
    },
    "audio": {"has_audio": True, "silent": False, "tone": "joyful", "tone_phrase": None},
    "asr": {"text": "What a day!", "language": "en", "text_en": "What a day!"},
}


class CueStage(Stage[StageSettings]):
    """Stands in for an upstream stage built elsewhere: contract-shaped data, no model."""

    summary = "benchmark input"
    settings_model = StageSettings
    requires: ClassVar[tuple[str, ...]] = ("filter",)

    def process(self, sample: SampleContext) -> StageResult:
        return StageResult(data=CUES[self.name])


def cue_stage(name: str) -> type[CueStage]:
    return type(f"{name.title()}CueStage", (CueStage,), {"name": name})


class LatencyServer:
    """Answers any chat completion with a schema-valid JSON reply after ``latency`` s."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.requests = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests += 1
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                time.sleep(server.latency)
                schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
                reply = {"reasoning": "The smile and the joyful voice show happiness."}
                if "label" in schema.get("properties", {}):
                    reply = {"label": "happy", **reply}
                payload = json.dumps(
                    {
                        "id": "bench",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "bench",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": json.dumps(reply)},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 300,
                            "completion_tokens": 20,
                            "total_tokens": 320,
                        },
                    }
                ).encode()
                with server._lock:
                    server._in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def replicate(target: Path, copies: int) -> None:
    sources = sorted(path for path in CLIPS.iterdir() if path.name.startswith("sample"))
    target.mkdir(parents=True)
    for index in range(copies):
        source = sources[index % len(sources)]
        os.link(source, target / f"clip_{index:06d}{source.suffix}")


def run_once(root: Path, server: LatencyServer, concurrency: int) -> dict[str, float]:
    llm = {
        "backend": "openai",
        "model": "bench",
        "base_url": server.base_url,
        "api_key_env": None,
        "concurrency": concurrency,
        "cache": False,
    }
    config_path = root / f"config-{concurrency}.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "input": str(root / "clips"),
                "output": str(root / "out"),
                "stages": {"synthesize": {"llm": llm}},
            }
        )
    )
    workspace = open_workspace(load_config(config_path))
    facts = workspace.stages["synthesize"].facts
    for name in ("visual", "audio", "asr"):
        workspace.stages[name] = cue_stage(name)(StageSettings(), facts)
    Runner(workspace, RunOptions(stages=["ingest", "filter", "visual", "audio", "asr"],
                                 progress=False)).run()  # fmt: skip
    before, server.max_in_flight = server.requests, 0
    summary = Runner(workspace, RunOptions(stages=["synthesize"], progress=False, force=True)).run()
    tally = summary.tallies[0]
    requests = server.requests - before
    ideal = requests * server.latency / concurrency
    return {
        "concurrency": concurrency,
        "samples": tally.computed,
        "failed": tally.failed,
        "requests": requests,
        "max_in_flight": server.max_in_flight,
        "seconds": round(tally.seconds, 3),
        "ideal_seconds": round(ideal, 3),
        "efficiency": round(ideal / tally.seconds, 3) if tally.seconds else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    server = LatencyServer(args.latency)
    try:
        with tempfile.TemporaryDirectory(prefix="merr-bench-llm-") as temp:
            root = Path(temp)
            replicate(root / "clips", args.samples)
            results = [run_once(root, server, n) for n in args.concurrency]
    finally:
        server.close()
    print(f"synthesize over HTTP, {args.latency * 1000:.0f} ms per request, cache off")
    print(f"{'concurrency':>11} {'samples':>7} {'requests':>8} {'in flight':>9} "
          f"{'seconds':>8} {'ideal s':>8} {'of ideal':>8}")  # fmt: skip
    for row in results:
        print(
            f"{row['concurrency']:>11} {row['samples']:>7} {row['requests']:>8} "
            f"{row['max_in_flight']:>9} {row['seconds']:>8.2f} {row['ideal_seconds']:>8.2f} "
            f"{row['efficiency']:>8.0%}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
