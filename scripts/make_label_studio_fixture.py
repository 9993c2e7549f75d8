"""Remake ``tests/review/data/label_studio_export.json``: a JSON export made by a real Label
Studio through its REST API, from the tasks ``merr-build review --to label-studio`` writes.

Label Studio runs in a virtual environment of its own (it pins Django, ``openai<2`` and
``pyarrow`` 24, which conflict with this project's)::

    python3 -m venv /tmp/ls-venv && /tmp/ls-venv/bin/pip install label-studio==1.23.2
    python scripts/make_label_studio_fixture.py --label-studio /tmp/ls-venv/bin/label-studio

Steps: the sample clips through the export with the test suite's stand-in model stages (the
run ``tests/review/conftest.py`` makes, so the sample ids and machine labels match);
``merr-build review --to label-studio``; Label Studio started offline on a fresh data folder;
a project with the written labeling config; the tasks imported with their predictions; one
annotation per task posted as annotators answer (an accept, a rejection, a relabel, an
accept with an edited reasoning, a skipped task); the JSON export saved; the server stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's stand-in run

from merr_factory.config import load_config  # noqa: E402
from tests.export.conftest import copy_clips, run_export, write_export_config  # noqa: E402

FIXTURE = ROOT / "tests" / "review" / "data" / "label_studio_export.json"
USER, PASSWORD, TOKEN = "fixture@example.com", "fixture-password-1", "fixturetoken0123456789"
EDITED = "She smiles broadly and her voice lifts: happy."
TRANSCRIPT = "I can't believe it."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label-studio", default="/tmp/ls-venv/bin/label-studio")
    parser.add_argument("--port", type=int, default=18089)
    parser.add_argument("--out", type=Path, default=FIXTURE)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ls-fixture-") as temp:
        root = Path(temp)
        tasks_dir, labels = write_tasks(root)
        server = start(options.label_studio, options.port, root / "ls-data", tasks_dir)
        try:
            export = annotate_and_export(f"http://127.0.0.1:{options.port}", tasks_dir, labels)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(export, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"wrote {options.out}: {len(export)} tasks")


def write_tasks(root: Path) -> tuple[Path, list[str]]:
    """The stand-in export of the sample clips, then ``review --to label-studio``; returns
    the tasks' folder and the label set."""
    config = write_export_config(root, copy_clips(root))
    run_export(config)
    tasks_dir = root / "tasks"
    command = [sys.executable, "-m", "merr_factory", "review", "--config", str(config)]
    subprocess.run([*command, "--to", "label-studio", str(tasks_dir)], check=True)
    return tasks_dir, list(load_config(config).label_set)


def start(program: str, port: int, data: Path, documents: Path) -> subprocess.Popen[bytes]:
    """Label Studio offline on a fresh SQLite data folder; returns once /health answers."""
    environment = os.environ | {
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(documents),
    }
    command = [
        program, "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
        "--username", USER, "--password", PASSWORD, "--user-token", TOKEN,
    ]  # fmt: skip
    log = (data.parent / "label-studio.log").open("wb")
    server = subprocess.Popen(
        command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    os.killpg(server.pid, signal.SIGTERM)
    raise SystemExit(f"Label Studio did not answer in 180 s; see {log.name}")


def call(base: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


def choice(name: str, value: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": "cues", "type": "choices", "value": {"choices": [value]}}


def text(name: str, value: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": "cues", "type": "textarea", "value": {"text": [value]}}


def answers(position: int, data: dict[str, Any], labels: list[str]) -> dict[str, Any] | None:
    """What an annotator does with the task at ``position`` (by sample id; None: left
    alone)."""
    label = data["label"]
    other = next(name for name in labels if name != label)
    plan = [
        {"result": [choice("label", label), choice("verdict", "accept")]},
        {"result": [choice("verdict", "reject")]},
        {"result": [choice("label", other), choice("verdict", "accept")]},
        {
            "result": [
                choice("label", label),
                choice("verdict", "accept"),
                text("reasoning", EDITED),
                text("transcript", TRANSCRIPT),
            ]
        },
        {"result": [], "was_cancelled": True},  # skipped
    ]
    return plan[position] if position < len(plan) else None


def annotate_and_export(base: str, tasks_dir: Path, labels: list[str]) -> list[dict[str, Any]]:
    config = (tasks_dir / "label_config.xml").read_text("utf-8")
    project = call(base, "POST", "/api/projects", {"title": "merr review", "label_config": config})
    tasks = json.loads((tasks_dir / "tasks.json").read_text("utf-8"))
    call(base, "POST", f"/api/projects/{project['id']}/import", tasks)
    listed = call(base, "GET", f"/api/tasks?project={project['id']}&page_size=100")
    items = listed["tasks"] if isinstance(listed, dict) else listed
    items.sort(key=lambda item: item["data"]["sample_id"])
    for position, item in enumerate(items):
        annotation = answers(position, item["data"], labels)
        if annotation is not None:
            call(base, "POST", f"/api/tasks/{item['id']}/annotations", annotation)
    path = f"/api/projects/{project['id']}/export?exportType=JSON&download_all_tasks=true"
    return call(base, "GET", path)


if __name__ == "__main__":
    main()
