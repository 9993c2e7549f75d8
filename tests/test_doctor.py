"""``merr-build doctor``: each failure mode prints its own row with a fix, and the exit
status is 1; a config whose every part is here passes. Servers are local stand-ins
(tests/http_stub.py); the hub is made unreachable by pointing HF_ENDPOINT at a closed port."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from merr_factory.cli import app
from merr_factory.config import load_config
from merr_factory.preflight.doctor import (
    ESTIMATE_FILE,
    Check,
    endpoint_check,
    package_check,
    run_checks,
)
from tests.http_stub import send_json


def problems(checks: list[Check]) -> list[str]:
    return [check.line() for check in checks if not check.ok]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server(BaseHTTPRequestHandler):
    served = ("served-model",)
    chat_status = 200

    def do_GET(self) -> None:
        send_json(self, {"data": [{"id": name} for name in self.served]})

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        assert body["max_tokens"] == 1
        reply = {"choices": [{"message": {"role": "assistant", "content": "H"}}]}
        send_json(self, reply, self.chat_status)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    _Server.chat_status = 200


def test_a_config_whose_parts_are_all_here_passes(write_config) -> None:
    result = CliRunner().invoke(app, ["doctor", "--config", str(write_config())])
    assert result.exit_code == 0, result.output
    assert "packages faces/dlib" in result.output and "0 problem(s)" in result.output


def test_a_missing_package_names_the_extra() -> None:
    line = package_check("faces", "pyfeat", ("no_such_module_here",), "faces-pyfeat").line()
    assert line == (
        "PROBLEM packages faces/pyfeat: cannot import no_such_module_here"
        "  -> pip install 'merr-factory[faces-pyfeat]'"
    )


def test_a_missing_model_folder_and_an_unreachable_hub(
    write_config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    features = {
        "backend": "transformers",
        "hubert_model": str(tmp_path / "no-such-folder"),
        "mae_model": "someone/not-cached-anywhere",
    }
    config = load_config(write_config(stages={"features": features}))
    lines = problems(run_checks(config, 6, hub_timeout=1))
    assert any(
        f"model features.hubert_model: {tmp_path / 'no-such-folder'} does not exist" in line
        for line in lines
    )
    hub = [line for line in lines if "features.mae_model" in line]
    assert "not cached and the hub" in hub[0] and "did not answer within 1 s" in hub[0]
    assert "huggingface-cli download someone/not-cached-anywhere" in hub[0]


def test_an_endpoint_that_is_down_lacks_the_model_or_fails_a_request(server: str) -> None:
    down = endpoint_check("synthesize.llm", f"http://127.0.0.1:{closed_port()}/v1", "m", None, 2)
    assert not down.ok and "/v1/models did not answer" in down.line()
    assert "-> start the server at" in down.line()
    other = endpoint_check("synthesize.llm", server, "llama-3", None, 2)
    assert "does not serve 'llama-3' (serves: served-model)" in other.line()
    assert endpoint_check("synthesize.llm", server, "served-model", None, 2).ok
    _Server.chat_status = 500
    failing = endpoint_check("synthesize.llm", server, "served-model", None, 2)
    assert "a 1-token request failed (HTTP 500)" in failing.line()


def test_a_stage_asking_for_a_gpu_that_is_not_there(write_config, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi: no GPU visible
    features = {"backend": "transformers", "device": "cuda"}
    config = load_config(write_config(stages={"features": features}))
    lines = problems(run_checks(config, 6, hub_timeout=0.5))
    assert any(line.startswith("PROBLEM gpu features: asks for a GPU but none") for line in lines)


def test_an_output_that_cannot_be_written(write_config, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = CliRunner().invoke(
        app, ["doctor", "--config", str(write_config()), "--output", str(blocker / "out")]
    )
    assert result.exit_code == 1
    assert f"PROBLEM output: {blocker / 'out'} is not writable" in result.output


def test_a_disk_too_small_for_the_estimated_output(write_config, tmp_path: Path) -> None:
    config = load_config(write_config())
    config.output.mkdir(parents=True)
    (config.output / ESTIMATE_FILE).write_text(json.dumps({"bytes_per_sample": 1e18}))
    line = next(line for line in problems(run_checks(config, 6)) if "disk" in line)
    assert "6 samples x 1000000000000.0 MB (measured by estimate)" in line
    assert "GB free  -> free disk space" in line
