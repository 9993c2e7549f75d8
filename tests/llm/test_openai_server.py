"""The openai backend against a real OpenAI-compatible server: ``python -m llama_cpp.server``
serving SmolLM2-135M-Instruct on 127.0.0.1 (started and stopped by the fixture)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("openai", reason="needs the llm-openai extra (pip install openai)")
pytest.importorskip("llama_cpp", reason="needs the llm-llamacpp extra (llama-cpp-python)")

from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.llm import LLMClient, LLMSettings, make_backend
from merr_factory.llm.cues import Cues
from merr_factory.llm.messages import merr_messages, open_messages
from merr_factory.llm.prompts import load_prompts
from merr_factory.llm.schemas import MerrReasoning, open_prediction_model

from ..conftest import run_pipeline, tally
from .conftest import LLM_STAGES, SAD_VISUAL, SPEECH_AUDIO, asr, llm_workspace, make_cues


def client(base_url: str, cache: Path | None = None, **overrides) -> LLMClient:
    options = {
        "backend": "openai",
        "model": "smollm2",
        "base_url": base_url,
        # llama.cpp's server takes a schema beside {"type": "json_object"}
        "json_mode": "json_object",
        "max_tokens": 200,
        "timeout": 60.0,
    }
    settings = LLMSettings(**(options | overrides))
    backend = make_backend(settings)
    backend.load()
    return LLMClient(backend, settings, cache_dir=cache)


def cues(transcript: str) -> Cues:
    return make_cues(SAD_VISUAL, SPEECH_AUDIO, asr(transcript))


def test_open_prediction_over_http_is_schema_constrained(llama_server: str, tmp_path) -> None:
    llm = client(llama_server, cache=tmp_path)
    schema = open_prediction_model(MERR_LABELS)
    reply, usage = llm.ask(open_messages(load_prompts(), cues("I lost it."), MERR_LABELS), schema)
    assert reply.label in MERR_LABELS and reply.reasoning
    assert usage.calls >= 1 and usage.prompt_tokens > 100 and usage.completion_tokens > 0
    assert llm.backend.model_id == f"smollm2@{llama_server}"
    assert len(list(tmp_path.rglob("*.json"))) == 1


def test_concurrent_requests_all_answer(llama_server: str) -> None:
    llm = client(llama_server, concurrency=2)
    prompts = load_prompts()
    questions = [merr_messages(prompts, cues(f"Clip number {n}."), "sad") for n in range(4)]
    clients: dict[int, object] = {}

    def ask(messages):
        reply = llm.ask(messages, MerrReasoning)
        clients[threading.get_ident()] = llm.backend.client()
        return reply

    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(ask, questions))
    assert len(replies) == 4
    assert all(reply.reasoning and usage.calls >= 1 for reply, usage in replies)
    # one client (and connection pool) per thread, never shared: no queueing on a pool lock
    assert len({id(c) for c in clients.values()}) == len(clients) >= 2
    assert llm.backend.client() is llm.backend.client()  # and kept for the thread's next call


def test_the_synthesize_stage_over_http(llama_server: str, write_config, tmp_path) -> None:
    llm = {
        "backend": "openai",
        "model": "smollm2",
        "base_url": llama_server,
        "json_mode": "json_object",
        "max_tokens": 200,
        "concurrency": 2,
    }
    path = write_config(stages={"synthesize": {"llm": llm}})
    summary = run_pipeline(path, LLM_STAGES, workspace=llm_workspace(path))
    assert tally(summary, "synthesize")["failed"] == 0
    assert tally(summary, "synthesize")["computed"] > 0
    record = (tmp_path / "out" / "stages" / "synthesize" / "sample_00000001.json").read_text()
    assert '"backend": "openai"' in record and f"smollm2@{llama_server}" in record
