"""What the benchmark's parts share: the repository's paths (the sample clips, the sample
config, the placeholder feature models), the sample clips replicated, the sample config
written for a measurement, the child process that reports its own peak memory, a llama.cpp
server, and the environment of a child that imports the benchmarks.

The parts import this module, never one another's helpers, so no part imports another in a
circle. Only the benchmarks read the repository's folders; the installed package never does.
It imports nothing of the package: the faces part's measuring children import it, and their
peak memory is measured.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from merr_factory.run.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / "tests" / "data" / "clips"
SAMPLE_CONFIG = REPO / "configs" / "sample.yaml"
PLACEHOLDER_MODELS = REPO / "models" / "placeholder-features"


def replicate(target: Path, copies: int) -> Path:
    """``copies`` hard links to the sample media (cycling through them) in ``target``."""
    sources = sorted(path for path in CLIPS.iterdir() if path.name.startswith("sample"))
    target.mkdir(parents=True, exist_ok=True)
    for index in range(copies):
        source = sources[index % len(sources)]
        link = target / f"clip_{index:06d}{source.suffix}"
        if not link.exists():
            os.link(source, link)
    return target


def placeholder_feature_models() -> Path:
    """The random-weight encoders the sample config's features stage loads (``make demo``
    writes them too; no model hub is needed)."""
    if not (PLACEHOLDER_MODELS / ".written").exists():
        script = REPO / "scripts" / "make_feature_models.py"
        command = [sys.executable, str(script), "--out", str(PLACEHOLDER_MODELS)]
        subprocess.run(command, check=True, capture_output=True)
        (PLACEHOLDER_MODELS / ".written").touch()
    return PLACEHOLDER_MODELS


def write_config(
    root: Path,
    name: str,
    clips: Path,
    workers: int,
    llm: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """The sample config on ``clips``, with the LLM's reply cache off: the replicated clips
    would otherwise hit it and make synthesize look far faster than it is. Its paths into
    the repository (the placeholder feature models) are made absolute. ``llm``: the
    synthesize stage's LLM settings instead of the sample config's (a served LLM)."""
    raw = yaml.safe_load(SAMPLE_CONFIG.read_text())
    features = raw["stages"].get("features", {})
    for key, value in features.items():
        if isinstance(value, str) and value.startswith(f"{PLACEHOLDER_MODELS.parent.name}/"):
            placeholder_feature_models()
            features[key] = str(REPO / value)
    executor = {"workers": workers, "threads_per_worker": 1}
    raw.update(input=str(clips), output=str(root / name), executor=executor, **extra)
    if llm is not None:
        raw["stages"]["synthesize"]["llm"] = llm
    raw["stages"]["synthesize"]["llm"]["cache"] = False
    raw.pop("labels", None)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def per_sample_stages(workspace: Workspace) -> list[str]:
    """The stages without whole-set ones (the export is measured on its own)."""
    return [name for name, stage in workspace.stages.items() if not stage.has_finalize()]


# Run merr-build in a child that reports its own memory high-water mark (VmHWM) at exit. The
# child's ru_maxrss would not do: Linux carries the parent's peak over into a forked child.
CHILD_REPORTING_PEAK = """
import atexit, sys
def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    sys.stderr.write(f"\\nVmHWM_kB={peak}\\n")
atexit.register(report)
from merr_factory.cli import main
sys.argv[0] = "merr-build"
main()
"""


def child_env() -> dict[str, str]:
    """This process's environment with the repository first on ``PYTHONPATH``: a child
    started as ``python -m benchmarks.PART`` (or ``-c``) imports the benchmarks whatever
    its working directory."""
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_llama_server(model: Path, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m llama_cpp.server`` on a free port, once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    # n_threads_batch (prompt processing) defaults to every core: on shared cores its
    # threads spin as generation's would, so it gets the same count
    command += ["--port", str(port), "--n_threads", str(threads)]
    command += ["--n_threads_batch", str(threads), "--n_ctx", "2048"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=2).close()
            return process, base_url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("llama_cpp.server exited at start") from None
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("llama_cpp.server did not answer within 120 s")
