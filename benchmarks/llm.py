"""The LLM part of the benchmark: what the synthesize stage adds to a model call.

- **Raw cost.** The synthesize stage runs over N samples whose upstream cues are stand-ins
  (contract-shaped records, a different transcript and scene per sample), with the reply cache
  off; every request it makes is recorded. The same requests are then sent again, in the same
  order, straight to the library (``llama_cpp.Llama.create_chat_completion`` in process, or the
  ``openai`` client against ``python -m llama_cpp.server``), with nothing of ours around them.
  The ratio of the two seconds per call is what the stage, the client and the runner cost.
- **Throughput in flight.** Against a stub OpenAI-compatible server in its own process that
  answers every request after a fixed latency, the stage's wall time against the ideal
  (requests x latency / requests in flight).

Run alone (``python -m benchmarks`` runs it too): the stub server at several numbers of
requests in flight and, with ``--raw N``, the raw-cost ratios and the prompt layout's cost::

    python -m benchmarks.llm --samples 256 --latency 0.2 --concurrency 1 8 32 --raw 12
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import yaml

from benchmarks.common import child_env, replicate, start_llama_server
from benchmarks.layout import measure_prompt_layout
from merr_factory.config import load_config
from merr_factory.llm.base import Completion, GenerationParams, LLMBackend, Message
from merr_factory.run.pipeline import Runner, RunOptions
from merr_factory.run.workspace import Workspace, open_workspace
from merr_factory.stage_data import (
    AsrData,
    AsrSegmentData,
    AudioData,
    Candidate,
    StageOutput,
    VisualData,
)
from merr_factory.stages.base import SampleContext, Stage, StageResult, StageSettings

Requests = list[tuple[list[Message], GenerationParams]]
SCENES = (
    "A woman in a red coat smiles at someone off camera in a bright kitchen.",
    "A man in a grey suit sits at an office desk and looks down at a letter.",
    "Two people talk on a park bench; the one facing the camera frowns.",
    "A young man stands by a window at night, his arms crossed.",
    "An older woman leans towards the camera in a dim living room.",
    "A girl in a school uniform turns around quickly in a corridor.",
)
SPEECH = (
    "What a day! I never thought we would actually win it.",
    "I told you already, I am not going to sign this.",
    "Why would you do that without asking me first?",
    "It's fine. Really. I just need some time alone.",
    "Are you sure? Nobody told me anything about it.",
    "Oh! You scared me. I didn't hear you come in.",
)
TONES = ("joyful", "firm", "angry", "flat", "worried", "startled")
RULE_AUS = (
    ("happy", ["AU06", "AU12"]),
    ("angry", ["AU04", "AU07"]),
    ("angry", ["AU04", "AU23"]),
    ("sad", ["AU01", "AU15"]),
    ("worried", ["AU20"]),
    ("surprise", ["AU01", "AU02", "AU26"]),
)
PHRASES = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU06": "cheek raiser", "AU07": "lid tightener", "AU12": "lip corner puller",
    "AU15": "lip corner depressor", "AU20": "lip stretcher", "AU23": "lip tightener",
    "AU26": "jaw drop",
}  # fmt: skip


def stand_in_cues(index: int) -> dict[str, StageOutput]:
    """Contract-shaped visual, audio and asr records for the ``index``-th sample: varied text,
    so no two samples send the same prompt."""
    pick = index % len(SCENES)
    label, aus = RULE_AUS[pick]
    speech = f"{SPEECH[pick]} (take {index})"
    return {
        "visual": VisualData(
            peak_AU_list=aus,
            peak_index=10,
            au_phrases={au: PHRASES[au] for au in aus},
            rule_support={label: aus},
            candidates=[Candidate(emotion=label, score=0.6)],
            reference_label=label,
            AU_list=aus,
            visual_prior_list=[PHRASES[au] for au in aus],
            visual_objective=SCENES[pick],
        ),
        "audio": AudioData(
            has_audio=True,
            silent=False,
            duration=3.0,
            prosody=None,
            speech_segments=[(0.2, 2.8)],
            tone=TONES[pick],
            tone_phrase=None,
            tone_source="prosody",
        ),
        "asr": AsrData(
            backend="bench",
            model="bench",
            text=speech,
            language="en",
            segments=[AsrSegmentData(start=0.2, end=2.8, text=speech)],
            text_en=speech,
            confidence=None,
        ),
    }


class CueStage(Stage[StageSettings]):
    """Stands in for an upstream stage: contract-shaped data, no model."""

    summary = "benchmark input"
    settings_model = StageSettings
    requires: ClassVar[tuple[str, ...]] = ("filter",)

    def process(self, sample: SampleContext) -> StageResult:
        index = int(sample.source.id.rsplit("_", 1)[-1])
        return StageResult(data=stand_in_cues(index)[self.name])


def cue_workspace(root: Path, clips: Path, llm: dict[str, Any], name: str) -> Workspace:
    """A workspace on ``clips`` whose visual, audio and asr stages are stand-ins, computed."""
    config_path = root / f"{name}.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "input": str(clips),
                "output": str(root / name),
                # the stand-ins run in this process; one thread for a model in process, as
                # each of two workers has on two cores (more threads spin on shared cores)
                "executor": {"workers": 1, "threads_per_worker": 1},
                "stages": {"synthesize": {"llm": {**llm, "cache": False}}},
            }
        )
    )
    workspace = open_workspace(load_config(config_path))
    facts = workspace.stages["synthesize"].facts
    for stage in ("visual", "audio", "asr"):
        stage_class = type(f"{stage.title()}CueStage", (CueStage,), {"name": stage})
        workspace.stages[stage] = stage_class(StageSettings(), facts)
    options = RunOptions(stages=["ingest", "filter", "visual", "audio", "asr"], progress=False)
    Runner(workspace, options).run()
    return workspace


class RecordingBackend(LLMBackend):
    """Any backend, with every request it is asked recorded (for the replay)."""

    def __init__(self, inner: LLMBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.takes_images = inner.takes_images
        self.requests: Requests = []
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def load(self) -> None:
        self.inner.load()

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        with self._lock:
            self.requests.append((messages, params))
        return self.inner.complete(messages, params)


@dataclass
class StageRun:
    samples: int
    calls: int
    wall_s: float
    requests: Requests

    @property
    def seconds_per_call(self) -> float:
        return self.wall_s / self.calls if self.calls else float("nan")


def run_synthesize(workspace: Workspace) -> StageRun:
    """The synthesize stage alone, forced, with its model loaded before the clock starts."""
    stage = workspace.stages["synthesize"]
    recorder = RecordingBackend(stage.backend())
    stage._backend = recorder  # the benchmark looks inside on purpose
    stage.setup()
    runner = Runner(workspace, RunOptions(stages=["synthesize"], progress=False, force=True))
    started = time.perf_counter()
    summary = runner.run()
    wall = time.perf_counter() - started
    tally = summary.tallies[0]
    return StageRun(tally.computed, len(recorder.requests), wall, recorder.requests)


def replay_seconds(
    requests: Requests,
    call: Callable[[list[Message], GenerationParams], Any],
) -> float:
    """Wall seconds to send ``requests`` one after the other through ``call``."""
    started = time.perf_counter()
    for messages, params in requests:
        call(messages, params)
    return time.perf_counter() - started


# -- a stub server with a fixed latency, in its own process ----------------------------------


def _stub_reply(body: dict[str, Any]) -> bytes:
    schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
    reply: dict[str, Any] = {"reasoning": "The smile and the joyful voice show happiness."}
    if "label" in schema.get("properties", {}):
        reply = {"label": "happy", **reply}
    if "accept" in schema.get("properties", {}):
        reply = {"accept": True, "why": "The clues support it."}
    return json.dumps(
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
            "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320},
        }
    ).encode()


def serve_stub(latency: float, latency_max: float | None = None) -> None:
    """The stub server's process: answers chat completions after ``latency`` s (keep-alive
    HTTP/1.1, as real servers do), or after a random time between ``latency`` and
    ``latency_max`` s, and GET /stats with its request counts."""
    wait = random.Random(0)
    state = {"requests": 0, "in_flight": 0, "max_in_flight": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without TCP_NODELAY the body waits for the
        # client's delayed ACK (40 ms on Linux), which real servers do not add.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, payload: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            with lock:
                payload = json.dumps(state).encode()
                state["max_in_flight"] = state["in_flight"]
            self._send(payload)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state["requests"] += 1
                state["in_flight"] += 1
                state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
            with lock:
                seconds = wait.uniform(latency, latency_max) if latency_max else latency
            time.sleep(seconds)
            with lock:
                state["in_flight"] -= 1
            self._send(_stub_reply(body))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    print(server.server_address[1], flush=True)  # the port, for the parent
    server.serve_forever()


class StubServer:
    """An OpenAI-compatible stub with a fixed latency (or a random one up to
    ``latency_max``), served by a child process so that its own work does not compete with
    the client for this process's interpreter lock."""

    def __init__(self, latency: float, latency_max: float | None = None) -> None:
        self.latency = latency
        code = f"from benchmarks.llm import serve_stub; serve_stub({latency!r}, {latency_max!r})"
        self._process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=child_env()
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, int]:
        """Requests served so far and the most in flight since the last call."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as reply:
            return json.loads(reply.read())

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def measure_in_flight(
    root: Path, clips: Path, server: StubServer, concurrency: int
) -> dict[str, Any]:
    """The synthesize stage against the stub with ``concurrency`` requests in flight."""
    llm = {
        "backend": "openai",
        "model": "bench",
        "base_url": server.base_url,
        "api_key_env": None,
        "concurrency": concurrency,
    }
    workspace = cue_workspace(root, clips, llm, f"stub-{concurrency}")
    before = server.stats()
    run = run_synthesize(workspace)
    after = server.stats()
    requests = after["requests"] - before["requests"]
    # a sample asks its questions one after the other: at most one request each in flight
    ideal = requests * server.latency / min(concurrency, run.samples or 1)
    return {
        "concurrency": concurrency,
        "samples": run.samples,
        "requests": requests,
        "max_in_flight": after["max_in_flight"],
        "wall_s": round(run.wall_s, 3),
        "ideal_s": round(ideal, 3),
        "of_ideal": round(ideal / run.wall_s, 3) if run.wall_s else 0.0,
    }


# -- raw cost ----------------------------------------------------------------------------------


def measure_llamacpp_raw(root: Path, clips: Path, threads: int | None = None) -> dict[str, Any]:
    """synthesize with llama-cpp-python in process against the bare library on its requests."""
    from merr_factory.llm.llamacpp_backend import LlamaCppBackend

    workspace = cue_workspace(root, clips, {"backend": "llamacpp", "concurrency": 1}, "llamacpp")
    run = run_synthesize(workspace)
    settings = workspace.stages["synthesize"].settings.llm
    bare = LlamaCppBackend(settings)
    bare.load()
    llama = bare._llama  # the library object itself, nothing of ours around it

    def call(messages: list[Message], params: GenerationParams) -> Any:
        return llama.create_chat_completion(**bare.request(messages, params))

    raw = replay_seconds(run.requests, call)
    return _ratio("llamacpp in process", run, raw)


def _ratio(name: str, run: StageRun, raw_wall: float) -> dict[str, Any]:
    raw_per_call = raw_wall / len(run.requests) if run.requests else float("nan")
    return {
        "backend": name,
        "samples": run.samples,
        "calls": run.calls,
        "stage_s_per_call": round(run.seconds_per_call, 3),
        "raw_s_per_call": round(raw_per_call, 3),
        "ratio": round(run.seconds_per_call / raw_per_call, 3) if raw_per_call else None,
    }


def measure_server_raw(root: Path, clips: Path, threads: int) -> tuple[dict[str, Any], Requests]:
    """synthesize with the ``openai`` backend against ``python -m llama_cpp.server`` (the same
    GGUF) against the bare ``openai`` client sending the same requests to the same server;
    also returns those requests (the prompt layout is measured on them)."""
    from merr_factory.llm.llamacpp_backend import default_gguf
    from merr_factory.llm.openai_backend import OpenAIBackend
    from merr_factory.llm.settings import LLMSettings

    process, base_url = start_llama_server(default_gguf(), threads)
    try:
        llm = {
            "backend": "openai",
            "model": "smollm2",
            "base_url": base_url,
            "api_key_env": None,
            "json_mode": "json_object",  # llama.cpp's server takes the schema beside it
            "concurrency": 1,  # the server computes one request at a time
        }
        workspace = cue_workspace(root, clips, llm, "llama-server")
        run = run_synthesize(workspace)
        bare = OpenAIBackend(LLMSettings(**llm))
        bare.load()
        client = bare.client()  # the library's client, nothing of ours around it

        def call(messages: list[Message], params: GenerationParams) -> Any:
            return client.chat.completions.create(**bare.request(messages, params))

        raw = replay_seconds(run.requests, call)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return _ratio("openai -> llama_cpp.server", run, raw), run.requests


def render_markdown(results: dict[str, list[dict[str, Any]]], latency: float) -> str:
    """The two LLM tables of the benchmark, with their goals."""
    lines = [
        f"synthesize against a stub server answering after {latency * 1000:.0f} ms (goal: 0.9 "
        "of the ideal at 32 in flight)",
        "",
        "| in flight | samples | requests | most in flight | wall s | ideal s | of ideal |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['concurrency']} | {r['samples']} | {r['requests']} | {r['max_in_flight']} "
        f"| {r['wall_s']} | {r['ideal_s']} | {r['of_ideal']:.2f} |"
        for r in results.get("in_flight", [])
    ]
    if results.get("raw"):
        lines += [
            "",
            "synthesize against the bare library on the same requests (goal: ratio <= 1.25)",
            "",
            "| backend | samples | calls | stage s/call | raw s/call | ratio |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['backend']} | {r['samples']} | {r['calls']} | {r['stage_s_per_call']} "
            f"| {r['raw_s_per_call']} | {r['ratio']} |"
            for r in results["raw"]
        ]
    lines += _layout_lines(results.get("layout", []))
    return "\n".join(lines)


def _layout_lines(layout: list[dict[str, Any]]) -> list[str]:
    if not layout:
        return []
    r = layout[0]
    return [
        "",
        "prompt evaluation on llama_cpp.server, the stage's requests in its order with max_tokens "
        "1 (server CPU s per request; goal: the shipped layout costs no more)",
        "",
        "| calls | clues first (shipped) | question first | shipped / question first |",
        "|---:|---:|---:|---:|",
        f"| {r['calls']} | {r['shipped_cpu_s_per_call']} | {r['question_first_cpu_s_per_call']} "
        f"| {r['shipped_over_question_first']} |",
    ]


def measure_llm(
    root: Path,
    samples: int,
    raw_samples: int,
    latency: float = 0.2,
    concurrencies: tuple[int, ...] = (8, 32),
) -> dict[str, list[dict[str, Any]]]:
    """The LLM measurements of the benchmark: the stub server at each of
    ``concurrencies`` requests in flight on ``samples`` samples; the raw-cost ratios and the
    prompt layout on ``raw_samples`` (0: skipped)."""
    results: dict[str, list[dict[str, Any]]] = {"in_flight": [], "raw": []}
    clips = replicate(root / "llm-clips", samples)
    server = StubServer(latency)
    try:
        for concurrency in concurrencies:
            results["in_flight"].append(measure_in_flight(root, clips, server, concurrency))
    finally:
        server.close()
    if raw_samples:
        few = replicate(root / "llm-raw-clips", raw_samples)
        results["raw"].append(measure_llamacpp_raw(root, few))
        server_ratio, requests = measure_server_raw(root, few, threads=1)
        results["raw"].append(server_ratio)
        results["layout"] = [measure_prompt_layout(requests, threads=1)]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="The LLM benchmark alone.")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--raw", type=int, default=0, help="samples for the raw-cost runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="merr-bench-llm-") as temp:
        results = measure_llm(
            Path(temp), args.samples, args.raw, args.latency, tuple(args.concurrency)
        )
    print(render_markdown(results, args.latency))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
