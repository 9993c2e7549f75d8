"""The names of the files stages write beside their records, in one place: a producer and its
consumers (later stages, the export) can never disagree on one."""

from __future__ import annotations

FRAMES_CSV = "frames.csv"  # faces: one row per analysed frame (``read_frames_csv``)
PEAK_FRAME = "peak_frame.jpg"  # peak: the whole frame at the expression's peak
PEAK_FACE = "peak_face.jpg"  # peak: the main face cut from that frame
AUDIO_WAV = "audio.wav"  # audio: the clip's sound, 16 kHz mono 16-bit PCM
# features: Emotion-LLaMA's utterance-level features, float32 arrays of shape (1024,); the
# export places each as ``<export>/<file stem>/<sample>.npy`` (Emotion-LLaMA's folders).
HUBERT_UTT = "HL-UTT.npy"  # audio: HuBERT-large, mean over time
MAE_UTT = "mae_340_UTT.npy"  # face crops: MAE ViT-Large, mean over frames
VIDEOMAE_UTT = "maeV_399_UTT.npy"  # face-crop clips: VideoMAE-Large, mean over tubelets
# features with ``frame_level: true``: the same features before the utterance mean, (T, 1024).
HUBERT_FRA = "HL-FRA.npy"  # one row per 20 ms of audio
MAE_FRA = "mae_340_FRA.npy"  # one row per face crop
VIDEOMAE_FRA = "maeV_399_FRA.npy"  # one row per tubelet (2 frames) of each 16-frame clip
