"""Benchmark of the faces stage: frames per second per backend, decode vs detect, peak memory.

Each measurement runs in its own process, so its peak RSS is its own. For every backend that
can run here it analyses each sample clip at the sample rate, a 960x540 H.264 clip (the first
sample upscaled and looped to ``--big-seconds``, x264's defaults: a keyframe every 250
frames, B-frames) to show the decode share at the size of real footage, and a long clip (the
first sample looped, ``--long-seconds`` long) to show that memory does not grow with clip
length.

    python -m benchmarks.faces                       # dlib (and py-feat if it can load)
    python -m benchmarks.faces --backends dlib --fps 5 --long-seconds 120
    python -m benchmarks.faces --openface-csv-dir DIR  # add OpenFace (CSVs per clip)
    python -m benchmarks.faces --backends dlib --pyfeat-batches 1,8,32  # + batch table
    python -m benchmarks.faces --backends dlib --pyfeat-clips 4x6  # + across-clip table

Columns: frames analysed, frames the decoder produced of the clip's frames (the rest are left
out: see ``media/decode_plan.py``), frames per second of analysed frames (whole stage), share
of the time spent decoding/converting frames, in the face model and in a separate expression
model (fer's, on each main face's crop: ``--expression none`` leaves it out), milliseconds of
that expression model per face, and peak RSS of the process.

``--pyfeat-batches`` adds milliseconds per frame of py-feat's real ``Detectorv2`` at each
batch size, on the 960x540 clip's frames at 5 fps shrunk to 640x360, with random weights
(``scripts/make_pyfeat_weights.py``; one face per frame, as in a talking-head clip), on
``--pyfeat-device`` (default cpu) with ``--torch-threads`` threads: the cost of the
architecture, not of trained weights.

``--pyfeat-clips NxF`` adds the same detector on N clips of F frames each (960x540 clips
made from the first N sample clips, analysed at 5 fps, shrunk to 640x360), computed one
after the other (``clips_per_worker: 1``) and by N threads sharing the backend
(``clips_per_worker: N``, as a worker's threads do), with py-feat's ``batch_size`` 8:
milliseconds per frame (decoding included), passes of the models and frames per pass.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import CLIPS, REPO, child_env

SELF = (sys.executable, "-m", "benchmarks.faces")  # this module, run in a child process


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
        "decoded": table.frames_decoded,
        "total": table.frames_total,
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


def make_big_clip(source: Path, seconds: float, target: Path) -> Path:
    """``source`` upscaled to 960x540 and looped back and forth to ``seconds`` (the motion
    stays continuous), H.264 with x264's defaults (a keyframe every 250 frames, B-frames)."""
    import av

    with av.open(str(source)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        rate = container.streams.video[0].average_rate or 24
    back_and_forth = frames + frames[-2:0:-1]
    with av.open(str(target), "w") as output:
        stream = output.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 960, 540, "yuv420p"
        for index in range(int(seconds * float(rate))):
            picture = av.VideoFrame.from_ndarray(
                back_and_forth[index % len(back_and_forth)], format="rgb24"
            ).reformat(width=960, height=540, format="yuv420p")
            for packet in stream.encode(picture):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return target


def measure_batches(clip: Path, sizes: list[int], threads: int, device: str) -> dict[str, float]:
    """Run in a child process: ms per frame of py-feat's ``Detectorv2`` (random weights, one
    face per frame) at each batch size, after one warm-up batch of that size."""
    import itertools

    from merr_factory.media.frames import iter_frames

    backend = pyfeat_backend(threads, device)
    frames = list(itertools.islice(iter_frames(clip, 5.0, 640), max(sizes)))
    per_frame = {}
    for size in sizes:
        batch = frames[:size]
        backend.detect_frames(batch)  # warm-up at this size
        repeats = max(1, 4 // size)
        started = time.perf_counter()
        for _ in range(repeats):
            backend.detect_frames(batch)
        per_frame[str(size)] = 1000 * (time.perf_counter() - started) / (repeats * size)
    return per_frame


def pyfeat_backend(threads: int, device: str):
    """py-feat's ``Detectorv2`` with random weights, keeping one face per frame."""
    import torch

    from merr_factory.backends.faces.pyfeat import PyFeatBackend

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        weights = make_pyfeat_weights(Path(folder))
        backend = PyFeatBackend(weights_dir=weights, device=device, emotion_head=True)
        backend.setup()
    # The random detector calls a face every anchor that survives suppression (15 or so on
    # 640x360): keep the best one per frame, as in a talking-head clip.
    backend._detector.face_detector.keep_top_k = 1
    return backend


def make_pyfeat_weights(folder: Path) -> Path:
    """``scripts/make_pyfeat_weights.py``'s checkpoints in ``folder`` (the script imported
    from its path, not run as a command)."""
    script = REPO / "scripts" / "make_pyfeat_weights.py"
    spec = importlib.util.spec_from_file_location("make_pyfeat_weights", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_pyfeat_weights(folder)


def measure_clips(paths: list[Path], threads: int, device: str) -> dict[str, dict]:
    """Run in a child process: the clips one after the other, then on one thread each
    (sharing the backend and its batcher): ms per frame, passes, frames per pass."""
    from concurrent.futures import ThreadPoolExecutor

    from merr_factory.backends.faces.base import ClipRequest

    backend = pyfeat_backend(threads, device)
    requests = [ClipRequest(path, 5.0, 640) for path in paths]
    passes: list[int] = []
    detect = backend.batcher.fn

    def counted(frames: list) -> list:
        passes.append(len(frames))
        return detect(frames)

    backend.batcher.fn = counted
    backend.analyse(requests[0])  # warm-up
    results = {}
    for clips_per_worker in (1, len(paths)):
        passes.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(clips_per_worker) as pool:
            tables = list(pool.map(backend.analyse, requests))
        seconds = time.perf_counter() - started
        frames = sum(len(table.rows) for table in tables)
        results[str(clips_per_worker)] = {
            "frames": frames, "ms_per_frame": 1000 * seconds / frames,
            "passes": len(passes), "frames_per_pass": frames / len(passes),
        }  # fmt: skip
    return results


def make_in_child(kind: str, source: Path, seconds: float, target: Path) -> Path:
    """Make a clip (``big`` or ``long``) in a child process: this process's peak RSS (x264's
    buffers, the source frames) would be inherited by the measuring children, as Linux
    keeps it across exec."""
    command = [*SELF, "--make-clip", kind, str(source), str(seconds), str(target)]
    subprocess.run(command, check=True, env=child_env())
    return target


def run_child(backend: str, clip: Path, fps: float | None, options: dict) -> dict | str:
    command = [*SELF, "--child", backend, str(clip), json.dumps(fps), json.dumps(options)]
    return child_result(command)


def child_result(command: list[str]) -> dict | str:
    """The JSON the child printed last, or why it failed (its last line)."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=child_env())
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
    parser.add_argument("--big-seconds", type=float, default=20.0, help="the 960x540 clip")
    parser.add_argument("--openface-csv-dir", type=Path, default=None)
    parser.add_argument("--expression", default="auto", help="auto | fer | pyfeat | none")
    parser.add_argument("--pyfeat-batches", default="", help="e.g. 1,8,32: the batch table")
    parser.add_argument("--torch-threads", type=int, default=1, help="for the batch table")
    parser.add_argument("--pyfeat-device", default="cpu", help="for the batch table: cpu, cuda")
    parser.add_argument("--pyfeat-clips", default="", help="e.g. 4x6: the across-clip table")
    args = parser.parse_args()
    fps = args.fps or None
    expression = {"expression": {"model": args.expression}}
    backends = [(name, dict(expression)) for name in args.backends.split(",") if name]
    if args.openface_csv_dir:
        backends.append(("openface", {"openface": {"csv_dir": str(args.openface_csv_dir)}}))
    clips = sorted(p for p in CLIPS.iterdir() if p.suffix in (".mp4", ".avi", ".jpg"))
    with tempfile.TemporaryDirectory() as folder:
        made = Path(folder)
        big_clip = make_in_child("big", clips[0], args.big_seconds, made / "big_960x540.mp4")
        long_clip = make_in_child("long", clips[0], args.long_seconds, made / "long.avi")
        rows = [stage_rows(backend, clips, [big_clip, long_clip], fps, options)
                for backend, options in backends]  # fmt: skip
        batches = batch_table(big_clip, args) if args.pyfeat_batches else []
        across = clips_table(clips, made, args) if args.pyfeat_clips else []
    print(
        f"faces stage at sample_fps={fps}, max_side=640, expression {args.expression}; "
        f"960x540 clip: {args.big_seconds:.0f} s; long clip: {args.long_seconds:.0f} s"
    )
    header = ["backend", "clip", "frames", "decoded", "fps", "decode %", "detect %",
              "expression %", "expression ms/face", "peak RSS MB"]  # fmt: skip
    print_table([header, *(row for backend_rows in rows for row in backend_rows)])
    if batches:
        print(f"\npy-feat Detectorv2, random weights, one face per frame, 640x360 frames, "
              f"{args.pyfeat_device}, torch threads {args.torch_threads}")  # fmt: skip
        print_table(batches)
    if across:
        print(f"\npy-feat Detectorv2 as above, clips x frames {args.pyfeat_clips}, batch_size 8, "
              f"{args.pyfeat_device}, torch threads {args.torch_threads}")  # fmt: skip
        print_table(across)


def stage_rows(
    backend: str, clips: list[Path], extra: list[Path], fps: float | None, options: dict
) -> list[list[str]]:
    """One backend's rows: each clip, then the sample clips together (``extra`` left out)."""
    rows = []
    totals = {"frames": 0, "faces": 0, "seconds": 0.0, "decode": 0.0, "detect": 0.0,
              "expression": 0.0}  # fmt: skip
    for clip in [*clips, *extra]:
        result = run_child(backend, clip, fps, options)
        if isinstance(result, str):
            rows.append([backend, clip.name, *["-"] * 7, f"cannot run: {result}"])
            break
        rows.append([
            backend, clip.name, str(result["frames"]), f"{result['decoded']}/{result['total']}",
            f"{result['frames'] / result['seconds']:.1f}",
            *shares(result["decode_seconds"], result["detect_seconds"],
                    result["expression_seconds"], result["faces"]),
            f"{result['peak_rss_mb']:.0f}",
        ])  # fmt: skip
        if clip not in extra:
            totals["frames"] += result["frames"]
            totals["faces"] += result["faces"]
            totals["seconds"] += result["seconds"]
            totals["decode"] += result["decode_seconds"]
            totals["detect"] += result["detect_seconds"]
            totals["expression"] += result["expression_seconds"]
    if totals["frames"]:
        rows.append([
            backend, "ALL sample clips", str(totals["frames"]), "",
            f"{totals['frames'] / totals['seconds']:.1f}",
            *shares(totals["decode"], totals["detect"], totals["expression"],
                    int(totals["faces"])),
            "",
        ])  # fmt: skip
    return rows


def batch_table(clip: Path, args: argparse.Namespace) -> list[list[str]]:
    """The rows of py-feat's ms per frame at each batch size (or why it cannot run)."""
    command = [*SELF, "--batch-child", args.pyfeat_batches, str(clip),
               str(args.torch_threads), args.pyfeat_device]  # fmt: skip
    result = child_result(command)
    if isinstance(result, str):
        return [["batch", "ms/frame"], ["-", f"cannot run: {result}"]]
    rows = [["batch", "ms/frame", "frames/s"]]
    for size, ms in result.items():
        rows.append([size, f"{ms:.0f}", f"{1000 / ms:.2f}"])
    return rows


def clips_table(clips: list[Path], folder: Path, args: argparse.Namespace) -> list[list[str]]:
    """The rows of py-feat on N clips of F frames, one clip at a time and N at once."""
    count, frames = (int(part) for part in args.pyfeat_clips.split("x"))
    videos = [clip for clip in clips if clip.suffix != ".jpg"]
    made = [make_in_child("big", videos[i % len(videos)], frames / 5.0, folder / f"clip{i}.mp4")
            for i in range(count)]  # fmt: skip
    command = [*SELF, "--clips-child", json.dumps([str(p) for p in made]),
               str(args.torch_threads), args.pyfeat_device]  # fmt: skip
    result = child_result(command)
    if isinstance(result, str):
        return [["clips_per_worker", "ms/frame"], ["-", f"cannot run: {result}"]]
    rows = [["clips_per_worker", "frames", "ms/frame", "passes", "frames/pass"]]
    for clips_per_worker, found in result.items():
        rows.append([clips_per_worker, str(found["frames"]), f"{found['ms_per_frame']:.0f}",
                     str(found["passes"]), f"{found['frames_per_pass']:.1f}"])  # fmt: skip
    return rows


def shares(decode: float, detect: float, expression: float, faces: int) -> list[str]:
    """Decode, detect and expression as % of their sum, and expression ms per face."""
    busy = decode + detect + expression or 1e-9
    per_face = f"{1000 * expression / faces:.2f}" if faces and expression else "-"
    return [f"{100 * part / busy:.1f}" for part in (decode, detect, expression)] + [per_face]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, name, path, rate, extra = sys.argv
        print(json.dumps(measure(name, Path(path), json.loads(rate), json.loads(extra))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--make-clip":
        _, _, kind, path, length, out = sys.argv
        maker = make_big_clip if kind == "big" else make_long_clip
        maker(Path(path), float(length), Path(out))
    elif len(sys.argv) > 1 and sys.argv[1] == "--batch-child":
        _, _, sizes, path, threads, device = sys.argv
        chosen = [int(size) for size in sizes.split(",")]
        print(json.dumps(measure_batches(Path(path), chosen, int(threads), device)))
    elif len(sys.argv) > 1 and sys.argv[1] == "--clips-child":
        _, _, paths, threads, device = sys.argv
        chosen_paths = [Path(path) for path in json.loads(paths)]
        print(json.dumps(measure_clips(chosen_paths, int(threads), device)))
    else:
        main()
