"""``merr-build doctor``: a preflight of a config in seconds, loading no model.

One ``Check`` per row: what was checked, ok or not, and a one-line fix. The checks: each
backend's packages can be imported; each model id or folder resolves (a local folder, the
Hugging Face cache, or the hub answering within a timeout); each OpenAI-compatible endpoint
lists its model and answers a 1-token request; the GPUs the stages ask for are visible with
enough free memory; the output folder is writable; the free disk covers the output.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merr_factory.backends.asr import resolve_model
from merr_factory.config import Config
from merr_factory.optional import MissingDependencyError

# Output bytes per sample when no pilot has measured it (the sample run: frames, crops,
# wav, features, records; ~2 MB a clip); ``estimate`` writes the measured one.
DEFAULT_BYTES_PER_SAMPLE = 2_000_000
ESTIMATE_FILE = "estimate.json"
# GPU memory (GB, fp16) each model needs, by a word in its name; unknown models: 2 GB.
GPU_GB = {"large-v3": 4.0, "large": 4.0, "medium": 2.5, "hubert-large": 1.5, "mae-large": 1.0}
DEFAULT_GPU_GB = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        status = "ok" if self.ok else "PROBLEM"
        fix = "" if self.ok or not self.fix else f"  -> {self.fix}"
        return f"{status:8}{self.name}: {self.detail}{fix}"


# Packages each (stage, backend) imports, and the extra that installs them.
PACKAGES: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("faces", "dlib"): (("dlib",), "faces-dlib"),
    ("faces", "pyfeat"): (("feat", "torch"), "faces-pyfeat"),
    ("asr", "faster-whisper"): (("faster_whisper",), "asr-faster-whisper"),
    ("asr", "whisper"): (("whisper",), "asr-whisper"),
    ("asr", "transformers"): (("transformers", "torch"), "asr-transformers"),
    ("audio", "qwen2-audio"): (("transformers", "torch"), "tone-qwen2-audio"),
    ("audio", "openai"): (("openai",), "llm-openai"),
    ("features", "transformers"): (("transformers", "torch"), "features"),
    ("visual", "openai"): (("openai",), "llm-openai"),
    ("visual", "transformers"): (("transformers", "torch"), "vision-transformers"),
    ("synthesize", "openai"): (("openai",), "llm-openai"),
    ("synthesize", "llamacpp"): (("llama_cpp",), "llm-llamacpp"),
    ("synthesize", "transformers"): (("transformers", "torch"), "llm-transformers"),
    ("executor", "ray"): (("ray",), "ray"),
}


def backends(config: Config) -> list[tuple[str, str]]:
    """(stage, backend) of every model-backed part of the run."""
    stages = config.stages
    found = [
        ("faces", stages.faces.backend),
        ("asr", stages.asr.backend),
        ("audio", stages.audio.tone_backend),
        ("features", stages.features.backend),
        ("visual", stages.visual.scene.backend),
        ("executor", config.executor.kind),
    ]
    synthesize = stages.synthesize
    if synthesize.merr_reasoning or synthesize.open_prediction or synthesize.judge:
        found.append(("synthesize", stages.synthesize.llm.backend))
    return [item for item in found if item in PACKAGES]


def package_check(stage: str, backend: str, modules: tuple[str, ...], extra: str) -> Check:
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    name = f"packages {stage}/{backend}"
    if not missing:
        return Check(name, True, ", ".join(modules))
    fix = f"pip install 'merr-factory[{extra}]'"
    return Check(name, False, f"cannot import {', '.join(missing)}", fix)


def models(config: Config) -> list[tuple[str, str]]:
    """(setting, model id or folder) of every model loaded in process."""
    stages = config.stages
    found: list[tuple[str, str]] = []
    if stages.asr.backend in ("faster-whisper", "whisper", "transformers"):
        found.append(("asr.model", stages.asr.model))
    if stages.features.backend == "transformers":
        for key in ("hubert_model", "mae_model", "videomae_model"):
            found.append((f"features.{key}", getattr(stages.features, key)))
    if stages.audio.tone_backend == "qwen2-audio":
        found.append(("audio.qwen2_audio.model", stages.audio.qwen2_audio.model))
    if stages.visual.scene.backend == "transformers" and stages.visual.scene.model:
        found.append(("visual.scene.model", stages.visual.scene.model))
    llm = stages.synthesize.llm
    if llm.backend != "openai" and (llm.model_path or llm.model):
        found.append(("synthesize.llm", str(llm.model_path or llm.model)))
    return found


def model_check(setting: str, model: str, asr_backend: str, hub_timeout: float) -> Check:
    name = f"model {setting}"
    try:
        resolved = resolve_model(model)
    except MissingDependencyError as error:
        return Check(name, False, str(error).split(";")[0], f"pip install the package for {model}")
    if Path(resolved).expanduser().exists():
        return Check(name, True, f"local {resolved}")
    repo = _hub_repo(resolved, asr_backend if setting == "asr.model" else "")
    if repo is None:
        return Check(name, False, f"{resolved} does not exist", f"fix {setting} to a folder")
    if _cached(repo):
        return Check(name, True, f"{repo} in the Hugging Face cache")
    reached = _hub_answers(repo, hub_timeout)
    if reached is True:
        return Check(name, True, f"{repo} on the hub (downloaded on first use)")
    fix = f"huggingface-cli download {repo} where there is network, then copy the cache here"
    return Check(name, False, f"{repo}: not cached and {reached}", fix)


def _hub_repo(model: str, asr_backend: str) -> str | None:
    """The hub repo a model name means; None for a path that is not there."""
    if asr_backend == "faster-whisper" and "/" not in model:
        return f"Systran/faster-whisper-{model}"
    if asr_backend == "whisper" and "/" not in model:
        return f"openai/whisper-{model}"
    if model.count("/") == 1 and not model.startswith((".", "/", "~")):
        return model
    return None


def _cached(repo: str) -> bool:
    from huggingface_hub import scan_cache_dir

    try:
        return any(item.repo_id == repo for item in scan_cache_dir().repos)
    except Exception:
        return False  # no cache folder yet


def _hub_answers(repo: str, timeout: float) -> bool | str:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return "HF_HUB_OFFLINE is set"
    try:
        with urllib.request.urlopen(f"{endpoint}/api/models/{repo}", timeout=timeout):
            return True
    except urllib.error.HTTPError as error:
        return f"the hub says {error.code} (a private repo needs HF_TOKEN; check the id)"
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return f"the hub {endpoint} did not answer within {timeout:g} s ({reason})"


def endpoints(config: Config) -> list[tuple[str, str, str, str | None]]:
    """(setting, base_url, model, api key variable) of every OpenAI-compatible server."""
    stages = config.stages
    found = []
    llm = stages.synthesize.llm
    if llm.backend == "openai":
        url = llm.base_url or "https://api.openai.com/v1"
        found.append(("synthesize.llm", url, llm.model or "", llm.api_key_env))
    scene = stages.visual.scene
    if scene.backend == "openai":
        url = scene.base_url or "https://api.openai.com/v1"
        found.append(("visual.scene", url, scene.model or "", scene.api_key_env))
    audio_llm = stages.audio.audio_llm
    if stages.audio.tone_backend == "openai" and audio_llm is not None:
        found.append(
            ("audio.audio_llm", audio_llm.base_url, audio_llm.model, audio_llm.api_key_env)
        )
    return found


def endpoint_check(
    setting: str, url: str, model: str, key_env: str | None, timeout: float
) -> Check:
    name = f"endpoint {setting}"
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(key_env) if key_env else None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    base = url.rstrip("/")
    try:
        listed = _request(f"{base}/models", headers, None, timeout)
    except OSError as error:
        fix = f"start the server at {base} (e.g. vllm serve {model}) or fix base_url"
        return Check(name, False, f"{base}/models did not answer ({_why(error)})", fix)
    ids = [item.get("id") for item in listed.get("data", []) if isinstance(item, dict)]
    if model not in ids:
        shown = ", ".join(str(i) for i in ids[:5]) or "none"
        fix = f"set {setting}.model to one the server serves"
        return Check(name, False, f"{base} does not serve {model!r} (serves: {shown})", fix)
    body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}
    try:
        _request(f"{base}/chat/completions", headers, body, timeout)
    except OSError as error:
        fix = f"check the server's log; set {key_env or 'api_key_env'} if it needs a key"
        return Check(name, False, f"a 1-token request failed ({_why(error)})", fix)
    return Check(name, True, f"{base} serves {model} and answered a 1-token request")


def _request(url: str, headers: dict[str, str], body: Any, timeout: float) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read() or b"{}")


def _why(error: OSError) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    return str(getattr(error, "reason", error))


def gpu_demands(config: Config) -> list[tuple[str, float]]:
    """(stage, GB of GPU memory) of each stage that asks for a GPU."""
    stages = config.stages
    asking: list[tuple[str, list[str]]] = [
        ("faces", [stages.faces.pyfeat.device] if stages.faces.backend == "pyfeat" else []),
        ("asr", [stages.asr.options.device] if stages.asr.backend != "given" else []),
        ("features", [stages.features.device] if stages.features.backend != "none" else []),
    ]
    demands = []
    for stage, devices in asking:
        resources = config.executor.resources.get(stage)
        wants = any(d.startswith("cuda") for d in devices) or bool(
            resources and resources.num_gpus > 0
        )
        if wants:
            names = [model for setting, model in models(config) if setting.startswith(stage)]
            demands.append((stage, sum(_gb(name) for name in names) or DEFAULT_GPU_GB))
    return demands


def _gb(model: str) -> float:
    return next((gb for word, gb in GPU_GB.items() if word in model), DEFAULT_GPU_GB)


def visible_gpus() -> list[tuple[str, float]]:
    """(name, free GB) of each GPU nvidia-smi shows; [] without one."""
    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=name,memory.free", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [line.rsplit(",", 1) for line in out.stdout.strip().splitlines() if "," in line]
    return [(name.strip(), float(free) / 1024) for name, free in rows]


def gpu_check(stage: str, gigabytes: float, gpus: list[tuple[str, float]]) -> Check:
    name = f"gpu {stage}"
    if not gpus:
        fix = "run on a node with an NVIDIA GPU and its driver, or set the stage's device: cpu"
        return Check(name, False, "asks for a GPU but none is visible (nvidia-smi)", fix)
    best = max(free for _, free in gpus)
    if best < gigabytes:
        fix = "free GPU memory, or lower batch_size / use a smaller model"
        return Check(name, False, f"needs ~{gigabytes:.1f} GB, the most free is {best:.1f} GB", fix)
    return Check(name, True, f"~{gigabytes:.1f} GB of {best:.1f} GB free on {gpus[0][0]}")


def output_check(output: Path) -> Check:
    probe = output / f".doctor-{uuid.uuid4().hex}"
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        fix = "choose an output folder you can write to"
        return Check("output", False, f"{output} is not writable ({error.strerror})", fix)
    return Check("output", True, f"{output} is writable")


def bytes_per_sample(output: Path) -> tuple[float, str]:
    """Output bytes per sample: the last estimate's measurement, else the default."""
    try:
        measured = json.loads((output / ESTIMATE_FILE).read_text())["bytes_per_sample"]
        return float(measured), "measured by estimate"
    except (OSError, ValueError, KeyError, TypeError):
        return float(DEFAULT_BYTES_PER_SAMPLE), "default; run estimate to measure"


def disk_check(output: Path, samples: int) -> Check:
    per_sample, source = bytes_per_sample(output)
    needed = per_sample * samples
    where = output if output.exists() else next(p for p in output.parents if p.exists())
    free = shutil.disk_usage(where).free
    detail = f"{samples} samples x {per_sample / 1e6:.1f} MB ({source}) = {needed / 1e9:.2f} GB"
    if free < needed:
        fix = "free disk space or choose an output on a larger disk (or an output_url)"
        return Check("disk", False, f"{detail}, only {free / 1e9:.2f} GB free", fix)
    return Check("disk", True, f"{detail}; {free / 1e9:.1f} GB free")


def run_checks(config: Config, samples: int, hub_timeout: float = 5.0) -> list[Check]:
    checks = [package_check(s, b, *PACKAGES[(s, b)]) for s, b in backends(config)]
    asr_backend = config.stages.asr.backend
    checks += [model_check(s, m, asr_backend, hub_timeout) for s, m in models(config)]
    checks += [endpoint_check(*endpoint, timeout=hub_timeout) for endpoint in endpoints(config)]
    demands = gpu_demands(config)
    gpus = visible_gpus() if demands else []
    checks += [gpu_check(stage, gb, gpus) for stage, gb in demands]
    checks.append(output_check(config.output))
    checks.append(disk_check(config.output, samples))
    return checks
