"""Benchmark of the faces stage: frames per second per backend, decode vs detect, peak memory.

Each measurement runs in its own process, so its peak RSS is its own. For every backend that
can run here it analyses each sample clip at the sample rate, and a long clip (the first
sample looped, ``--long-seconds`` long) to show that memory does not grow with clip length.

    python scripts/bench_faces.py                       # dlib (and py-feat if it can load)
    python scripts/bench_faces.py --backends dlib --fps 5 --long-seconds 120
    python scripts/bench_faces.py --openface-csv-dir DIR  # add OpenFace (CSVs per clip)

Columns: frames analysed, frames per second of analysed frames (whole stage), share of the
time spent decoding/converting frames, in the face model and in a separate expression model
(fer's, on each main face's crop: ``--expression none`` leaves it out), milliseconds of that
expression model per face, and peak RSS of the process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "tests" / "data" / "clips"


def measure(backend: str, clip: Path, fps: float | None, options: dict) -> dict:
    """Run in a child process: analyse one clip, report timings and this process's RSS."""
    from merr_factory.stages.faces import FacesSettings, load_backend

    settings = FacesSettings.model_validate({"backend": backend, "sample_fps": fps, **options})
    started = time.perf_counter()
    faces = load_backend(settings)
    loaded = time.perf_counter()
    from merr_factory.backends.faces.base import ClipRequest

    request = ClipRequest(clip, None if clip.suffix == ".jpg" else fps, settings.max_side)
    table = faces.analyse(request)
    finished = time.perf_counter()
    return {
        "frames": len(table.rows),
        "faces": table.frames_with_face,
        "decoded": table.frames_total,
        "seconds": finished - loaded,
        "load_seconds": loaded - started,
        "decode_seconds": table.decode_seconds,
        "detect_seconds": table.detect_seconds,
        "expression_seconds": table.expression_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def make_long_clip(source: Path, seconds: float, target: Path) -> Path:
    """``source`` looped to ``seconds`` (MPEG-4 Part 2, which every PyAV build can encode)."""
    import av

    with av.open(str(source)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        rate = container.streams.video[0].average_rate or 24
    count = int(seconds * float(rate))
    with av.open(str(target), "w") as output:
        stream = output.add_stream("mpeg4", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "4"}
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return target


def run_child(backend: str, clip: Path, fps: float | None, options: dict) -> dict | str:
    command = [sys.executable, __file__, "--child", backend, str(clip), json.dumps(fps),
               json.dumps(options)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit {done.returncode}"
        return reason.split(": ", 1)[-1][:90]
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for position, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if position == 0:
            print("  ".join("-" * width for width in widths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="dlib,pyfeat")
    parser.add_argument("--fps", type=float, default=5.0, help="sample rate (0: every frame)")
    parser.add_argument("--long-seconds", type=float, default=60.0)
    parser.add_argument("--openface-csv-dir", type=Path, default=None)
    parser.add_argument("--expression", default="auto", help="auto | fer | pyfeat | none")
    args = parser.parse_args()
    fps = args.fps or None
    expression = {"expression": {"model": args.expression}}
    backends = [(name, dict(expression)) for name in args.backends.split(",") if name]
    if args.openface_csv_dir:
        backends.append(("openface", {"openface": {"csv_dir": str(args.openface_csv_dir)}}))
    clips = sorted(p for p in CLIPS.iterdir() if p.suffix in (".mp4", ".avi", ".jpg"))
    header = ["backend", "clip", "frames", "fps", "decode %", "detect %", "expression %",
              "expression ms/face", "peak RSS MB"]  # fmt: skip
    rows = [header]
    with tempfile.TemporaryDirectory() as folder:
        long_clip = make_long_clip(clips[0], args.long_seconds, Path(folder) / "long.avi")
        for backend, options in backends:
            totals = {"frames": 0, "faces": 0, "seconds": 0.0, "decode": 0.0, "detect": 0.0,
                      "expression": 0.0}  # fmt: skip
            for clip in [*clips, long_clip]:
                result = run_child(backend, clip, fps, options)
                if isinstance(result, str):
                    rows.append([backend, clip.name, *["-"] * 6, f"cannot run: {result}"])
                    break
                rows.append([
                    backend, clip.name, str(result["frames"]),
                    f"{result['frames'] / result['seconds']:.1f}",
                    *shares(result["decode_seconds"], result["detect_seconds"],
                            result["expression_seconds"], result["faces"]),
                    f"{result['peak_rss_mb']:.0f}",
                ])  # fmt: skip
                if clip != long_clip:
                    totals["frames"] += result["frames"]
                    totals["faces"] += result["faces"]
                    totals["seconds"] += result["seconds"]
                    totals["decode"] += result["decode_seconds"]
                    totals["detect"] += result["detect_seconds"]
                    totals["expression"] += result["expression_seconds"]
            if totals["frames"]:
                rows.append([
                    backend, "ALL sample clips", str(totals["frames"]),
                    f"{totals['frames'] / totals['seconds']:.1f}",
                    *shares(totals["decode"], totals["detect"], totals["expression"],
                            int(totals["faces"])),
                    "",
                ])  # fmt: skip
    print(f"faces stage at sample_fps={fps}, max_side=640, expression {args.expression}; "
          f"long clip: {args.long_seconds:.0f} s")  # fmt: skip
    print_table(rows)


def shares(decode: float, detect: float, expression: float, faces: int) -> list[str]:
    """Decode, detect and expression as % of their sum, and expression ms per face."""
    busy = decode + detect + expression or 1e-9
    per_face = f"{1000 * expression / faces:.2f}" if faces and expression else "-"
    return [f"{100 * part / busy:.1f}" for part in (decode, detect, expression)] + [per_face]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, name, path, rate, extra = sys.argv
        print(json.dumps(measure(name, Path(path), json.loads(rate), json.loads(extra))))
    else:
        main()
