#!/usr/bin/env python3
"""Make the phone-style rotated sample clip, ``tests/data/rotated/phone_portrait.mp4``.

A phone held upright films a portrait picture but stores it the way its sensor lies,
landscape, with a display matrix in the stream that says how to turn it for display. This
script makes such a clip from the bundled ``tests/data/clips/sample_00000001.mp4``, with PyAV
only (no ffmpeg binary)::

    python scripts/make_rotated_clip.py

- the first ``SECONDS`` s of the source (48 frames at 24 fps);
- upright picture: the 216 x 270 (w x h, portrait) crop at x = ``CROP_X`` that holds the face;
- stored picture: that crop turned 90 degrees counter-clockwise (270 x 216, landscape, the
  head pointing left), H.264 (libx264, yuv420p, crf 18, one thread), re-encoded once: the
  pixels of an H.264 stream cannot be turned without decoding them;
- display matrix: a 90 degree clockwise turn, the angle FFmpeg reports as -90 (PyAV's
  ``VideoFrame.rotation`` and ``VideoStream.set_display_rotation`` count counter-clockwise),
  as an iPhone's portrait clips carry; ``ffprobe`` shows "rotation of -90.00 degrees";
- audio: the source's AAC packets of those seconds, copied (not re-encoded).

Decoded upright (``ffmpeg`` with its default autorotation, or merr-factory's frame reader),
frame ``i`` is ``source_frame_i[:, CROP_X:CROP_X + 216]`` up to the codec's loss.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE = REPO_ROOT / "tests" / "data" / "clips" / "sample_00000001.mp4"
DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "rotated" / "phone_portrait.mp4"

SECONDS = 2.0
CROP_X, CROP_WIDTH = 237, 216  # the face's box in the source is about x 242-449, y 57-243
DISPLAY_ROTATION = -90  # counter-clockwise degrees, as PyAV and FFmpeg's display matrix count
CRF = 18


def upright_crop(rgb: np.ndarray) -> np.ndarray:
    """The portrait part of a source frame: what the rotated clip shows upright."""
    return rgb[:, CROP_X : CROP_X + CROP_WIDTH]


def stored_picture(upright: np.ndarray) -> np.ndarray:
    """How a phone stores ``upright`` when its display matrix turns by ``DISPLAY_ROTATION``:
    turned the other way (np.rot90 counts counter-clockwise, as the display matrix does)."""
    return np.ascontiguousarray(np.rot90(upright, k=-DISPLAY_ROTATION // 90))


def make_clip(source: Path, target: Path) -> int:
    """Write the rotated clip; returns the number of video frames written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    frames = 0
    with (
        av.open(str(source)) as reader,
        av.open(str(target), "w", options={"fflags": "+bitexact"}) as writer,
    ):
        video_in = reader.streams.video[0]
        audio_in = reader.streams.audio[0]
        rate = video_in.average_rate or Fraction(24)
        video = writer.add_stream(
            "libx264", rate=rate, options={"crf": str(CRF), "threads": "1", "flags": "+bitexact"}
        )
        # Stored landscape: the upright crop's height across, its width down (270 x 216).
        video.width, video.height = video_in.codec_context.height, CROP_WIDTH
        video.pix_fmt = "yuv420p"
        video.set_display_rotation(DISPLAY_ROTATION)
        audio = writer.add_stream_from_template(audio_in)
        for frame in reader.decode(video_in):
            if frame.time is None or frame.time >= SECONDS - 1e-6:
                break
            picture = av.VideoFrame.from_ndarray(
                stored_picture(upright_crop(frame.to_ndarray(format="rgb24"))), format="rgb24"
            )
            picture.pts, picture.time_base = frames, Fraction(1) / rate
            writer.mux(video.encode(picture.reformat(format="yuv420p")))
            frames += 1
        writer.mux(video.encode())
        reader.seek(0)
        for packet in reader.demux(audio_in):
            if packet.dts is None or packet.pts is None:
                continue
            if float(packet.pts * audio_in.time_base) >= SECONDS:
                break
            packet.stream = audio
            writer.mux(packet)
    return frames


def check_clip(target: Path) -> str:
    """What the written clip holds, checked against what it should."""
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        first = next(container.decode(stream))
        size = (first.width, first.height)
        rotation = first.rotation
    if size != (270, CROP_WIDTH) or rotation != DISPLAY_ROTATION:
        raise SystemExit(f"{target}: stored {size}, rotation {rotation}: not what was meant")
    return f"stored {size[0]}x{size[1]}, display rotation {rotation}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    frames = make_clip(args.source, args.out)
    facts = check_clip(args.out)
    print(f"{args.out}: {frames} frames, {facts}, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
