"""Outputs at an fsspec URL (``output_url``) hold what a local output folder holds.

``memory://`` is fsspec's in-process filesystem, so those runs use one in-process worker. The
S3 tests start moto's S3 server on localhost (a real S3 HTTP API, no AWS) and write to it
through s3fs, from worker processes and from Ray actors, as a cluster would.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from merr_factory.config import ConfigError, load_config
from merr_factory.reports.refresh import refresh_report
from merr_factory.reports.status import collect_status
from merr_factory.run.folders import RemoteFolder
from merr_factory.run.planning import State
from merr_factory.run.store import Store
from merr_factory.run.workspace import open_workspace
from tests.conftest import VOLATILE, run_pipeline, stored, tally

fsspec = pytest.importorskip("fsspec", reason="the remote extra (fsspec) is not installed")

MEDIA_STAGES = ["ingest", "filter", "faces", "peak", "audio"]


@pytest.fixture
def memory_url() -> Iterator[str]:
    name = f"merr-{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}"
    memory = fsspec.filesystem("memory")
    if memory.exists(f"/{name}"):
        memory.rm(f"/{name}", recursive=True)


def remote_records(url: str, **options: Any) -> dict[str, dict]:
    """Every record under ``url``, as ``stored`` gives them for a local folder."""
    fs, base = fsspec.core.url_to_fs(url, **options)
    fs.invalidate_cache()
    result = {}
    for path in sorted(fs.glob(f"{base}/stages/*/*.json")):
        record = json.loads(fs.cat_file(path))
        for key in VOLATILE:
            record.pop(key)
        stage, name = path.split("/")[-2:]
        result[f"{stage}/{name}"] = record
    return result


def remote_files(url: str, folder: str, **options: Any) -> dict[str, bytes]:
    fs, base = fsspec.core.url_to_fs(url, **options)
    fs.invalidate_cache()
    root = f"{base}/{folder}"
    return {path[len(root) + 1 :]: fs.cat_file(path) for path in sorted(fs.find(root))}


def local_files(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_run_to_a_url_stores_what_a_local_run_stores(
    write_config, tmp_path: Path, memory_url: str
) -> None:
    run_pipeline(write_config("local.yaml", output=str(tmp_path / "local")), MEDIA_STAGES)
    remote = write_config("remote.yaml", output=str(tmp_path / "work"), output_url=memory_url)
    summary = run_pipeline(remote, MEDIA_STAGES)

    assert tally(summary, "peak")["computed"] >= 3
    assert remote_records(memory_url) == stored(tmp_path / "local")

    def media(files: dict[str, bytes]) -> dict[str, bytes]:  # records differ in timings only
        return {key: data for key, data in files.items() if not key.endswith(".json")}

    assert media(remote_files(memory_url, "stages")) == media(
        local_files(tmp_path / "local" / "stages")
    )
    assert not (tmp_path / "work" / "stages").exists()  # the local folder holds no outputs


def test_a_rerun_on_a_url_reads_listings_not_records(
    write_config, tmp_path: Path, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(output=str(tmp_path / "work"), output_url=memory_url)
    stages = ["ingest", "filter", "audio"]
    run_pipeline(config, stages)
    reads: list[str] = []
    original = RemoteFolder.read_bytes

    def counting(self: RemoteFolder, key: str) -> bytes:
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(RemoteFolder, "read_bytes", counting)
    again = run_pipeline(config, stages)

    assert all(tally(again, stage)["computed"] == 0 for stage in stages)
    assert tally(again, "audio")["skipped"] >= 4
    assert reads and all(key.startswith(".state/") for key in reads)  # the indexes only

    reads.clear()  # status looks at stages never run too: their absence comes from listings
    statuses = collect_status(open_workspace(load_config(config)))
    assert {status.stage: status.counts[State.DONE] for status in statuses}["audio"] >= 4
    assert all(key.startswith(".state/") for key in reads)


def test_a_damaged_remote_record_or_file_is_recomputed(
    write_config, tmp_path: Path, memory_url: str
) -> None:
    config = write_config(output=str(tmp_path / "work"), output_url=memory_url)
    stages = ["ingest", "filter", "audio"]
    run_pipeline(config, stages)
    memory = fsspec.filesystem("memory")
    base = memory_url.removeprefix("memory://")
    wavs = sorted(memory.glob(f"/{base}/stages/audio/*/*.wav"))
    memory.pipe_file(wavs[0], b"a truncated upload")
    memory.pipe_file(f"/{base}/stages/filter/sample_00000002.json", b'{"format": 1, "sta')

    third = run_pipeline(config, stages)

    assert tally(third, "audio")["computed"] >= 1
    assert tally(third, "filter")["computed"] == 1
    assert remote_records(memory_url)["audio/" + wavs[0].split("/")[-2] + ".json"]["status"] == (
        "done"
    )


def test_a_file_changed_after_its_record_fails_the_reader_clearly(
    write_config, tmp_path: Path, memory_url: str
) -> None:
    """Same size, other bytes: the record still verifies, but the download's hash does not."""
    config = write_config(output=str(tmp_path / "work"), output_url=memory_url)
    run_pipeline(config, ["ingest", "filter", "audio"])
    memory = fsspec.filesystem("memory")
    wav = sorted(memory.glob(f"{memory_url.removeprefix('memory://')}/stages/audio/*/*.wav"))[0]
    data = bytearray(memory.cat_file(wav))
    data[-1] ^= 0xFF
    memory.pipe_file(wav, bytes(data))

    summary = run_pipeline(config, ["ingest", "filter", "audio", "asr"])

    sample = wav.split("/")[-2]
    record = remote_records(memory_url)[f"asr/{sample}.json"]
    assert tally(summary, "asr")["failed"] == 1
    assert "does not match its recorded hash" in record["error"]["message"]
    assert sample in record["error"]["message"]


def test_the_export_at_a_url_equals_a_local_export(tmp_path: Path, memory_url: str) -> None:
    from tests.export.conftest import copy_clips, run_export, write_export_config
    from tests.export.stand_ins import with_stand_ins

    clips = copy_clips(tmp_path)
    (tmp_path / "local").mkdir()
    (tmp_path / "remote").mkdir()
    local = run_export(write_export_config(tmp_path / "local", clips))
    config = write_export_config(tmp_path / "remote", clips)
    raw = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**raw, "output_url": memory_url}))
    remote = run_export(config)

    assert remote.tally().final == "written"
    exported = remote_files(memory_url, "export")
    assert exported.keys() == local_files(local.export).keys()
    differ = [key for key, data in local_files(local.export).items() if exported[key] != data]
    assert differ == []
    store = Store(tmp_path / "remote" / "out", RemoteFolder(memory_url, {}, tmp_path / "cache"))
    assert store.final_fingerprint("export") is not None
    workspace = with_stand_ins(open_workspace(load_config(config)))
    assert refresh_report(workspace) == f"{memory_url}/export/report.html"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"output": "s3://bucket/run"}, "put a URL in output_url"),
        ({"output_url": "not a url"}, "output_url must be a URL"),
        (
            {
                "output_url": "s3://b/r",
                "storage_options": {"client_kwargs": {"aws_secret_access_key": "x"}},
            },
            "client_kwargs.aws_secret_access_key: credentials must come from the environment",
        ),
    ],
)
def test_output_url_settings_are_checked(write_config, settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(**settings))


# --- S3: a real S3 API (moto's server) on localhost, reached through s3fs ---------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("s3fs", reason="the remote extra (s3fs) is not installed")
    moto_server = pytest.importorskip(
        "moto.server", reason="moto is not installed (the test-s3 extra)"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; credentials go in the environment, as users must give them."""
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(variable, value)
    bucket = f"merr-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("s3", endpoint_url=s3_endpoint, skip_instance_cache=True)
    fs.mkdir(bucket)
    return bucket


def test_worker_processes_write_the_same_records_to_s3(
    write_config, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    stages = ["ingest", "filter", "audio"]
    run_pipeline(write_config("local.yaml", output=str(tmp_path / "local")), stages)
    options = {"endpoint_url": s3_endpoint}
    url = f"s3://{s3_bucket}/run"
    config = write_config(
        "s3.yaml",
        output=str(tmp_path / "work"),
        output_url=url,
        storage_options=options,
        executor={"workers": 2, "threads_per_worker": 1},
    )
    summary = run_pipeline(config, stages)
    assert tally(summary, "audio")["computed"] >= 4
    assert remote_records(url, **options) == stored(tmp_path / "local")

    again = run_pipeline(config, stages)
    assert all(tally(again, stage)["computed"] == 0 for stage in stages)


def test_ray_actors_write_the_same_records_to_s3(
    write_config, tmp_path: Path, s3_endpoint: str, s3_bucket: str, monkeypatch
) -> None:
    """A local Ray (2 CPUs) started by the test; its actors reach S3 as a cluster's would."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    run_pipeline(write_config("local.yaml", output=str(tmp_path / "local")))
    options = {"endpoint_url": s3_endpoint}
    url = f"s3://{s3_bucket}/ray"
    resources = {"ingest": {"num_cpus": 0.5, "actors": 2}, "filter": {"num_cpus": 1}}
    config = write_config(
        "ray.yaml",
        output=str(tmp_path / "work"),
        output_url=url,
        storage_options=options,
        executor={"kind": "ray", "resources": resources},
    )
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        summary = run_pipeline(config)
    finally:
        ray.shutdown()
    assert tally(summary, "ingest")["computed"] == 6
    assert remote_records(url, **options) == stored(tmp_path / "local")


def test_the_download_cache_keeps_to_its_size_limit(tmp_path: Path, memory_url: str) -> None:
    """Least recently used copies go first, down to 80% of the limit; recent ones stay."""
    memory = fsspec.filesystem("memory")
    base = memory_url.removeprefix("memory://")
    folder = RemoteFolder(memory_url, {}, tmp_path / "cache", cache_bytes=1000)
    copies = []
    for index in range(5):
        data = bytes([index]) * 300
        memory.pipe_file(f"/{base}/files/f{index}.bin", data)
        copy = folder.local_file(f"files/f{index}.bin", hashlib.sha256(data).hexdigest())
        assert copy is not None and copy.read_bytes() == data
        copies.append(copy)
    long_ago = time.time() - 3600
    for age, path in enumerate(copies[:2]):
        os.utime(path, (long_ago + age, long_ago + age))

    folder.trim_cache()

    assert [path.exists() for path in copies] == [False, False, True, True, True]
