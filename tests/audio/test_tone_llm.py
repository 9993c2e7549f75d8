"""The audio-LLM tone backend's protocol and validation. No audio-language model runs here
(none ships on PyPI): a stand-in OpenAI-compatible server on 127.0.0.1 records each request and
replies with fixed text. So this checks what we send (the wav as ``input_audio``, MERR's option
list, the key from the named variable) and how replies are judged against the list, including
replies outside it; it does not test any model's judgement of tone."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openai", reason="the tone-openai extra is not installed")
pytest.importorskip(
    "faster_whisper", reason="the audio extra (faster-whisper's VAD) is not installed"
)

from merr_factory.backends.tone import parse_tone
from merr_factory.prosody.tone import TONES
from tests.http_stub import send_json

from ..conftest import run_pipeline, tally


class StandIn:
    """What the stand-in server answers, and what it was sent."""

    def __init__(self) -> None:
        self.reply = "calm"
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []


@pytest.fixture
def server() -> Iterator[tuple[str, StandIn]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.auth.append(self.headers.get("Authorization"))
            reply = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": state.reply},
                    }
                ],
            }
            send_json(self, reply)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("answer", "tone"),
    [
        ("calm", "calm"),
        ("  Joyful.\n", "joyful"),
        ("The tone is SAD", "sad"),
        ("angry or fearful", None),  # two options: not one answer
        ("happy", None),  # not in the list
        ("", None),
        ("calmly", None),  # a word containing an option is not the option
    ],
)
def test_answers_are_judged_against_the_list(answer: str, tone: str | None) -> None:
    assert parse_tone(answer).tone == tone


def llm_config(write_config, url: str, **extra: Any) -> Path:
    settings = {
        "tone_backend": "openai",
        "audio_llm": {"base_url": url, "model": "qwen2-audio", **extra},
    }
    return write_config(stages={"audio": settings})


def audio_record(tmp_path: Path, sample: str) -> dict[str, Any]:
    return json.loads((tmp_path / "out" / "stages" / "audio" / f"{sample}.json").read_text())


def test_the_wav_and_options_are_sent_and_a_valid_answer_is_the_tone(
    server, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = server
    state.reply = "Doubtful"
    monkeypatch.setenv("MERR_TEST_AUDIO_KEY", "secret-123")
    config = llm_config(write_config, url, api_key_env="MERR_TEST_AUDIO_KEY")
    summary = run_pipeline(config, stages=["ingest", "filter", "audio"])
    assert tally(summary, "audio")["failed"] == 0
    assert len(state.requests) == 4  # the four clips with speech; none for the others
    request = state.requests[0]
    assert request["model"] == "qwen2-audio" and request["temperature"] == 0
    parts = {part["type"]: part for part in request["messages"][0]["content"]}
    wav = base64.b64decode(parts["input_audio"]["input_audio"]["data"])
    assert wav[:4] == b"RIFF" and parts["input_audio"]["input_audio"]["format"] == "wav"
    assert all(tone in parts["text"]["text"] for tone in TONES)
    assert state.auth == ["Bearer secret-123"] * 4
    data = audio_record(tmp_path, "sample_00000001")["data"]
    assert (data["tone"], data["tone_source"]) == ("doubtful", "audio_llm")
    assert data["tone_phrase"].startswith("speaks in a doubtful,")
    for path in (tmp_path / "out").rglob("*"):  # the key is never written anywhere
        assert not path.is_file() or b"secret-123" not in path.read_bytes(), path


def test_an_answer_outside_the_list_keeps_the_prosody_tone(
    server, write_config, tmp_path: Path
) -> None:
    url, state = server
    state.reply = "happy and excited"
    run_pipeline(llm_config(write_config, url), stages=["ingest", "filter", "audio"])
    data = audio_record(tmp_path, "sample_00000001")["data"]
    assert data["tone_source"] == "prosody" and data["tone"] in TONES
    assert data["tone_llm_answer"] == "happy and excited"


def test_a_missing_key_variable_fails_the_samples_with_one_line(
    server, write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    monkeypatch.delenv("MERR_TEST_NO_SUCH_KEY", raising=False)
    config = llm_config(write_config, url, api_key_env="MERR_TEST_NO_SUCH_KEY")
    summary = run_pipeline(config, stages=["ingest", "filter", "audio"])
    # A stage that cannot be set up fails all its samples with the reason (one policy, the
    # host's), the clips without sound too; the next run retries them all.
    assert tally(summary, "audio")["failed"] == 6
    error = audio_record(tmp_path, "sample_00000001")["error"]
    assert "MERR_TEST_NO_SUCH_KEY is not set" in error["message"]
