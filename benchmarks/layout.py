"""What the prompt layout costs a server with a prefix cache (part of ``python -m benchmarks``).

The shipped layout is: the system prompt (the same for every request), then the clue block
(the same for a sample's two or three questions), then the question. The alternative puts
the question before the clues, so that the question would be shared across samples instead.
Both are sent to ``python -m llama_cpp.server``, which keeps the previous request's
evaluated tokens and reuses their longest common prefix, as the stage's requests in the
stage's order, each with ``max_tokens`` 1: what is measured is the prompt's evaluation, not
the (layout-dependent) length of the reply. The server's CPU seconds are the figure (it runs
on one thread), so other jobs on a shared machine change it little; wall seconds go beside.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import start_llama_server
from merr_factory.llm.base import GenerationParams, Message
from merr_factory.llm.messages import CLOSE_MARK

SHIPPED, QUESTION_FIRST = "clues first (shipped)", "question first"


def question_first(messages: list[Message]) -> list[Message]:
    """The same request with the user message's question moved before its clue block."""
    user = messages[-1]
    clues, mark, question = user.content.partition(CLOSE_MARK)
    if user.role != "user" or not mark:
        return messages
    moved = f"{question.strip()}\n\n{clues}{mark}"
    return [*messages[:-1], replace(user, content=moved)]


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_prompt_layout(
    requests: list[tuple[list[Message], GenerationParams]], threads: int = 1
) -> dict[str, Any]:
    """Prompt evaluation per request on a fresh llama_cpp.server, both layouts, in the
    order shipped, question first, question first, shipped (so warming favours neither)."""
    from merr_factory.llm.llamacpp_backend import default_gguf
    from merr_factory.llm.openai_backend import OpenAIBackend
    from merr_factory.llm.settings import LLMSettings

    process, base_url = start_llama_server(default_gguf(), threads)
    spent: dict[str, list[tuple[float, float | None]]] = {SHIPPED: [], QUESTION_FIRST: []}
    try:
        llm = {"model": "smollm2", "base_url": base_url, "api_key_env": None}
        backend = OpenAIBackend(LLMSettings(backend="openai", json_mode="json_object", **llm))
        backend.load()
        client = backend.client()  # the library's client, nothing of ours around it
        for layout in (SHIPPED, QUESTION_FIRST, QUESTION_FIRST, SHIPPED):
            cpu_before, started = process_cpu_seconds(process.pid), time.perf_counter()
            for messages, params in requests:
                sent = messages if layout == SHIPPED else question_first(messages)
                client.chat.completions.create(
                    **backend.request(sent, replace(params, max_tokens=1))
                )
            wall = time.perf_counter() - started
            cpu_after = process_cpu_seconds(process.pid)
            cpu = (
                cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
            )
            spent[layout].append((wall, cpu))
    finally:
        process.terminate()
        process.wait(timeout=30)
    return _layout_result(spent, len(requests))


def _layout_result(
    spent: dict[str, list[tuple[float, float | None]]], calls: int
) -> dict[str, Any]:
    def per_call(layout: str, index: int) -> float | None:
        values = [entry[index] for entry in spent[layout]]
        if not calls or any(value is None for value in values):
            return None
        return round(sum(values) / len(values) / calls, 3)  # type: ignore[arg-type]

    result: dict[str, Any] = {"calls": calls}
    for key, layout in (("shipped", SHIPPED), ("question_first", QUESTION_FIRST)):
        result[f"{key}_cpu_s_per_call"] = per_call(layout, 1)
        result[f"{key}_wall_s_per_call"] = per_call(layout, 0)
    shipped, other = result["shipped_cpu_s_per_call"], result["question_first_cpu_s_per_call"]
    result["shipped_over_question_first"] = round(shipped / other, 3) if shipped and other else None
    return result
