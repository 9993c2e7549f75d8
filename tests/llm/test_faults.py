"""The openai backend and LLMClient against a local server that misbehaves on purpose:
429s, 5xx, replies slower than the timeout, broken JSON. Checks retries, the one repair
attempt, failure records that keep the raw reply, the cache that stores no failures, the
bound on requests in flight, and run totals that count the attempts of failed samples.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("openai", reason="needs the llm-openai extra (pip install openai)")

from merr_factory.llm import (
    LLMClient,
    LLMError,
    LLMReplyError,
    LLMSettings,
    Message,
    TransientLLMError,
    make_backend,
)
from merr_factory.llm.schemas import open_prediction_model
from merr_factory.reports.run_report import render_summary

from ..conftest import run_pipeline
from .conftest import LLM_STAGES, ScriptedServer, chat_reply, llm_workspace

LABELS = ("neutral", "happy", "sad")
SCHEMA = open_prediction_model(LABELS)
GOOD = json.dumps({"label": "happy", "reasoning": "She smiles widely."})
MESSAGES = [Message("system", "Reply with JSON."), Message("user", "How does she feel?")]


def client_for(server: ScriptedServer, cache: Path | None = None, **overrides) -> LLMClient:
    options = {
        "backend": "openai",
        "model": "scripted",
        "base_url": server.base_url,
        "api_key_env": "MERR_TEST_NO_SUCH_KEY",
        "timeout": 2.0,
        "max_retries": 3,
        "retry_base_delay": 0.01,
    }
    settings = LLMSettings(**(options | overrides))
    backend = make_backend(settings)
    backend.load()
    return LLMClient(backend, settings, cache_dir=cache)


def test_429_and_503_are_retried_with_backoff_then_succeed() -> None:
    def behaviour(number, body):
        if number == 0:
            return 429, {"error": {"message": "slow down"}}, 0.0
        if number == 1:
            return 503, {"error": {"message": "overloaded"}}, 0.0
        return 200, chat_reply(GOOD, 40, 12), 0.0

    with ScriptedServer(behaviour) as server:
        reply, usage = client_for(server).ask(MESSAGES, SCHEMA)
    assert reply.label == "happy"
    assert len(server.requests) == 3
    assert usage.retries == 2 and usage.calls == 1
    assert (usage.prompt_tokens, usage.completion_tokens) == (40, 12)


def test_retries_run_out_with_a_transient_error() -> None:
    with (
        ScriptedServer(lambda n, b: (429, {"error": {"message": "no"}}, 0.0)) as server,
        pytest.raises(TransientLLMError, match="gave up after 3 attempts"),
    ):
        client_for(server, max_retries=2).ask(MESSAGES, SCHEMA)
    assert len(server.requests) == 3


def test_a_reply_slower_than_the_timeout_is_retried() -> None:
    def behaviour(number, body):
        delay = 1.5 if number == 0 else 0.0  # the first request sleeps past the timeout
        return 200, chat_reply(GOOD), delay

    with ScriptedServer(behaviour) as server:
        reply, usage = client_for(server, timeout=0.5).ask(MESSAGES, SCHEMA)
    assert reply.label == "happy"
    assert usage.retries == 1
    assert len(server.requests) == 2


def test_a_bad_request_is_not_retried() -> None:
    with (
        ScriptedServer(lambda n, b: (400, {"error": {"message": "bad"}}, 0.0)) as server,
        pytest.raises(LLMError, match="400") as caught,
    ):
        client_for(server).ask(MESSAGES, SCHEMA)
    assert not isinstance(caught.value, TransientLLMError)
    assert len(server.requests) == 1


def test_broken_json_gets_one_repair_that_sees_the_problem(tmp_path: Path) -> None:
    def behaviour(number, body):
        if number == 0:
            return 200, chat_reply('{"label": "happy", "reasoning": '), 0.0  # cut off
        return 200, chat_reply(GOOD), 0.0

    with ScriptedServer(behaviour) as server:
        reply, usage = client_for(server, cache=tmp_path).ask(MESSAGES, SCHEMA)
    assert reply.reasoning == "She smiles widely."
    assert usage.repairs == 1 and usage.calls == 2
    repair = server.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"label": "happy", "reasoning": '}
    assert "could not be used" in repair[-1]["content"]
    assert '"enum"' in repair[-1]["content"]  # the schema is restated


def test_invalid_twice_is_a_failure_that_keeps_the_raw_reply_and_is_not_cached(
    tmp_path: Path,
) -> None:
    bad = json.dumps({"label": "disgust", "reasoning": "Nose wrinkled."})
    with (
        ScriptedServer(lambda n, b: (200, chat_reply(bad), 0.0)) as server,
        pytest.raises(LLMReplyError) as caught,
    ):
        client_for(server, cache=tmp_path).ask(MESSAGES, SCHEMA)
    assert len(server.requests) == 2  # the reply and exactly one repair
    assert caught.value.raw_reply == bad
    assert "disgust" in str(caught.value).splitlines()[1]  # kept in the failure's text
    assert "label" in caught.value.reason
    assert not list(tmp_path.rglob("*.json"))  # no failure in the cache


def test_a_cached_reply_is_served_without_a_request(tmp_path: Path) -> None:
    with ScriptedServer(lambda n, b: (200, chat_reply(GOOD, 30, 9), 0.0)) as server:
        client = client_for(server, cache=tmp_path)
        first, first_usage = client.ask(MESSAGES, SCHEMA)
        second, second_usage = client.ask(MESSAGES, SCHEMA)
        other_model = client_for(server, cache=tmp_path, model="another-model")
        _, third_usage = other_model.ask(MESSAGES, SCHEMA)
    assert first == second
    assert (first_usage.calls, second_usage.calls, second_usage.cache_hits) == (1, 0, 1)
    assert third_usage.calls == 1  # switching model never returns the other model's answer
    assert len(server.requests) == 2
    assert len(list(tmp_path.rglob("*.json"))) == 2


def test_requests_in_flight_never_exceed_the_bound() -> None:
    with ScriptedServer(lambda n, b: (200, chat_reply(GOOD), 0.1)) as server:
        client = client_for(server, concurrency=3)
        questions = [[*MESSAGES, Message("user", f"clip {i}")] for i in range(12)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = list(pool.map(lambda m: client.ask(m, SCHEMA)[0], questions))
    assert len(replies) == 12 and len(server.requests) == 12
    assert server.max_in_flight == 3  # 8 threads asked, the bound held, and it was reached


def test_the_api_key_comes_from_the_named_variable_and_is_sent_only_as_a_header(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "sk-test-" + "x" * 20
    monkeypatch.setenv("MERR_TEST_KEY", secret)
    seen: list[str] = []
    lock = threading.Lock()

    def behaviour(number, body):
        with lock:
            seen.append(json.dumps(body))
        return 200, chat_reply(GOOD), 0.0

    with ScriptedServer(behaviour) as server:
        client = client_for(server, cache=tmp_path, api_key_env="MERR_TEST_KEY")
        client.ask(MESSAGES, SCHEMA)
    assert client.backend.client().api_key == secret
    assert not any(secret in body for body in seen)
    assert all(secret not in path.read_text() for path in tmp_path.rglob("*.json"))


def test_images_travel_as_data_urls_and_key_the_cache(tmp_path: Path) -> None:
    image = Path(__file__).parents[1] / "data" / "clips" / "sample_00000006.jpg"
    with ScriptedServer(lambda n, b: (200, chat_reply(GOOD), 0.0)) as server:
        client = client_for(server, cache=tmp_path / "cache")
        with_image = [*MESSAGES[:1], Message("user", "How does she feel?", images=(image,))]
        client.ask(with_image, SCHEMA)
        _, usage = client.ask(MESSAGES, SCHEMA)  # the same text without the image
    content = server.requests[0]["messages"][1]["content"]
    assert content[0] == {"type": "text", "text": "How does she feel?"}
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,") and len(url) > 1000
    assert usage.calls == 1  # not served the reply to the message with the image


def test_run_totals_count_the_attempts_of_failed_samples(write_config, tmp_path: Path) -> None:
    """The server is down (503 to every request): each sample's question is tried twice and
    fails; the run's totals and each failure record still count both attempts."""
    llm = {
        "backend": "openai",
        "model": "scripted",
        "max_retries": 1,
        "retry_base_delay": 0.01,
        "cache": False,
        "concurrency": 2,
    }
    with ScriptedServer(lambda n, b: (503, {"error": {"message": "down"}}, 0.0)) as server:
        path = write_config(
            stages={"synthesize": {"llm": {**llm, "base_url": server.base_url}, "min_cues": 0}}
        )
        stages = LLM_STAGES[: LLM_STAGES.index("synthesize") + 1]
        summary = run_pipeline(path, stages, workspace=llm_workspace(path))
    synthesize = next(item for item in summary.tallies if item.stage == "synthesize")
    assert synthesize.failed == 6 and synthesize.computed == 0
    assert len(server.requests) == 12  # two attempts per sample
    assert synthesize.metrics["attempts"] == len(server.requests)
    assert synthesize.metrics["retries"] == 6
    assert synthesize.metrics["calls"] == 0  # none was answered
    assert "attempts 12" in render_summary(summary)
    folder = tmp_path / "out" / "stages" / "synthesize"
    failures = [json.loads(path.read_text()) for path in folder.glob("*.json")]
    assert len(failures) == 6
    for failure in failures:  # per sample, too
        assert failure["status"] == "failed"
        assert failure["error"]["type"] == "TransientLLMError"
        assert failure["error"]["kind"] == "environment"
        assert failure["provenance"]["usage"]["attempts"] == 2
        assert failure["provenance"]["usage"]["retries"] == 1
        assert len(failure["provenance"]["calls"]) == 1
