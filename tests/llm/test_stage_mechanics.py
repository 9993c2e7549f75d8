"""synthesize through the runner against a scripted local OpenAI-compatible endpoint: the
concurrency bound holds across the runner's threads, peak frames travel to backends that take
images, and one failing sample never stops the others. The endpoint's fixed replies only fit
the schema; the model-backed behaviour is tested in test_stages.py and test_openai_server.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("openai", reason="needs the llm-openai extra (pip install openai)")

from ..conftest import run_pipeline, tally
from .conftest import (
    DEFAULT_CUES,
    LLM_STAGES,
    ScriptedServer,
    chat_reply,
    llm_workspace,
    schema_valid_reply,
)


def llm(server: ScriptedServer, concurrency: int) -> dict:
    return {
        "backend": "openai",
        "model": "scripted",
        "base_url": server.base_url,
        "concurrency": concurrency,
        "retry_base_delay": 0.01,
        "max_retries": 1,
        "cache": False,
    }


def test_the_bound_holds_across_runner_threads_and_peak_frames_are_sent(
    write_config, tmp_path: Path
) -> None:
    with ScriptedServer(lambda n, body: (200, chat_reply(schema_valid_reply(body)), 0.3)) as srv:
        path = write_config(
            stages={"synthesize": {"llm": llm(srv, 2), "send_peak_frame": True, "min_cues": 0}}
        )
        workspace = llm_workspace(path, with_peak=True)
        stages = ["ingest", "filter", "peak", *LLM_STAGES[2:]]
        summary = run_pipeline(path, stages, workspace=workspace)
    computed = tally(summary, "synthesize")["computed"]
    assert computed == 6 and tally(summary, "synthesize")["failed"] == 0
    assert srv.max_in_flight == 2  # six samples, two threads, never more than two requests
    with_image = [
        request for request in srv.requests if isinstance(request["messages"][-1]["content"], list)
    ]
    # the samples whose visual cue has a peak (two happy, one sad) send it with both questions
    peaks = [sid for sid, cues in DEFAULT_CUES.items() if cues[0]["peak_index"] is not None]
    assert len(with_image) == 2 * len(peaks)


def test_one_failing_sample_does_not_stop_the_others(write_config, tmp_path: Path) -> None:
    def behaviour(number, body):
        if "passed the exam" in json.dumps(body):  # sample_00000001's transcript
            return 200, chat_reply("not json at all"), 0.0
        return 200, chat_reply(schema_valid_reply(body)), 0.0

    with ScriptedServer(behaviour) as server:
        path = write_config(stages={"synthesize": {"llm": llm(server, 3)}})
        summary = run_pipeline(path, LLM_STAGES, workspace=llm_workspace(path))
    assert tally(summary, "synthesize")["failed"] == 1
    assert tally(summary, "synthesize")["computed"] == 5
    failed = json.loads(
        (tmp_path / "out" / "stages" / "synthesize" / "sample_00000001.json").read_text()
    )
    assert failed["status"] == "failed" and failed["error"]["type"] == "LLMReplyError"
    assert failed["error"]["message"].startswith("invalid reply after one repair")
    assert "raw reply: not json at all" in failed["error"]["traceback"]
    assert tally(summary, "label")["blocked"] == 1


@pytest.mark.parametrize(
    ("backend", "lane"), [("openai", "io:synthesize"), ("llamacpp", "cpu"), ("transformers", "cpu")]
)
def test_a_model_in_process_runs_on_the_cpu_workers_a_server_on_threads(
    write_config, backend: str, lane: str
) -> None:
    """A model in process computes one request at a time on the cores: it takes a CPU worker
    (within the workers' thread budget), never extra threads beside them that fight for the
    same cores; a server's requests wait on the network and run concurrently."""
    from merr_factory.config import load_config
    from merr_factory.executors.local import LocalExecutor
    from merr_factory.run.workspace import open_workspace

    settings = {"backend": backend, "concurrency": 4, "model": "m", "base_url": "http://x/v1"}
    path = write_config(stages={"synthesize": {"llm": settings}}, executor={"workers": 1})
    workspace = open_workspace(load_config(path))
    executor = LocalExecutor(workspace.config.executor, workspace.stages, workspace.store)
    try:
        assert executor.lane("synthesize") == lane
    finally:
        executor.shutdown()
