"""Benchmark the export on many synthetic samples (contract-shaped upstream records).

Prints the per-sample cost of gathering an export entry (the stage's ``process``), the time
to write every format (``finalize``) and each format alone, a second export of the same
entries (and whether it is byte-identical), and the peak resident memory. The upstream
stages' files are a real peak frame cut from a bundled clip and a short wav, hard-linked
for every sample, so a large run costs no disk.

    python -m benchmarks.export --samples 2000 [--json bench_export.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import av

from benchmarks.common import CLIPS
from benchmarks.scale import PER_SAMPLE_STAGES, sample_data, stage_templates
from merr_factory.dataset.entry import ExportEntry, build_entry
from merr_factory.export.settings import ALL_FORMATS, ExportSettings
from merr_factory.export.writer import write_export
from merr_factory.media.probe import probe_media
from merr_factory.run.records import Artifact, Record
from merr_factory.run.store import Store

CLIP = CLIPS / "sample_00000001.mp4"
TEMPLATES = stage_templates(probe_media(CLIP, "video"))


def make_media(folder: Path) -> tuple[Path, Path]:
    """A real JPEG peak frame from a bundled clip and one second of silence as a wav."""
    frame_path, wav_path = folder / "peak_frame.jpg", folder / "audio.wav"
    with av.open(str(CLIP)) as container:
        next(container.decode(video=0)).to_image().save(frame_path, format="JPEG", quality=90)
    with wave.open(str(wav_path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 16000)
    return frame_path, wav_path


def artifact(path: Path) -> Artifact:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Artifact(path=path.name, size=path.stat().st_size, sha256=sha)


def upstream_records(index: int, store: Store, frame: Path, wav: Path) -> dict[str, Record]:
    """One sample's upstream records, each its stage's output model (the same data as the
    scale benchmark's, ``benchmarks.scale``)."""
    sample = f"sample_{index:08d}"
    files = {"peak": frame, "audio": wav}
    records = {}
    for stage in PER_SAMPLE_STAGES:
        data = sample_data(stage, index, sample, f"{sample}.mp4", TEMPLATES[stage])
        artifacts = []
        if stage in files:
            record = Record(stage=stage, sample=sample, status="done", fingerprint="")
            target = store.root / store.artifact_key(record, files[stage].name)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(files[stage], target)
            artifacts = [artifact(files[stage])]
        records[stage] = Record(
            stage=stage, sample=sample, status="done", fingerprint="", data=data,
            artifacts=artifacts,
        )  # fmt: skip
    return records


def snapshot(folder: Path) -> dict[str, str]:
    """Each file's SHA-256, by path (digests, not bytes: the clips are in there too)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


def fresh(root: Path, name: str) -> Path:
    folder = root / ".tmp" / name
    folder.mkdir(parents=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "samples": args.samples,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        store = Store(root)
        frame, wav = make_media(root)
        upstream = [upstream_records(i, store, frame, wav) for i in range(args.samples)]
        start = time.perf_counter()
        entries: list[ExportEntry] = [
            build_entry(records["ingest"].sample, CLIP, records, store) for records in upstream
        ]
        gather = time.perf_counter() - start
        results["process_ms_per_sample"] = round(1000 * gather / args.samples, 3)
        settings = ExportSettings()
        start = time.perf_counter()
        write_export(entries, settings, store, fresh(root, "first"))
        results["finalize_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        write_export(entries, settings, store, fresh(root, "second"))
        results["re_export_s"] = round(time.perf_counter() - start, 3)
        results["byte_identical"] = snapshot(root / ".tmp" / "first") == snapshot(
            root / ".tmp" / "second"
        )
        for name in ALL_FORMATS:
            start = time.perf_counter()
            write_export(entries, ExportSettings(formats=[name]), store, fresh(root, name))
            results[f"format_{name}_s"] = round(time.perf_counter() - start, 3)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    width = max(len(key) for key in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
