"""The names of the files stages write beside their records, in one place: a producer and its
consumers (later stages, the export) can never disagree on one."""

from __future__ import annotations

FRAMES_CSV = "frames.csv"  # faces: one row per analysed frame (``read_frames_csv``)
PEAK_FRAME = "peak_frame.jpg"  # peak: the whole frame at the expression's peak
PEAK_FACE = "peak_face.jpg"  # peak: the main face cut from that frame
AUDIO_WAV = "audio.wav"  # audio: the clip's sound, 16 kHz mono 16-bit PCM
