"""Emotion-LLaMA's training dataset, as far as it opens our files: a re-implementation of
``FeatureFaceDataset`` (github.com/ZebangCheng/Emotion-LLaMA,
minigpt4/datasets/datasets/first_face.py: the constructor, ``__getitem__`` for the tasks
``emotion``, ``reason`` and ``reason_v2``, ``extract_frame`` and ``get``), with the same
folders, file names, keys, parsing and shapes; no model runs. Written for these tests from the
public code, not copied; torch is replaced by numpy where only shapes matter.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np

EMOS = ["neutral", "angry", "happy", "sad", "worried", "surprise", "fear", "contempt", "doubt"]
FEATURE_FOLDERS = ("mae_340_UTT", "maeV_399_UTT", "HL-UTT")  # the order ``get`` stacks them
TASK_QUESTION = {  # one question per task is enough: the pools only vary the wording
    "emotion": "Please determine which emotion label in the video represents: ...",
    "reason": "Please analyze all the clues in the video and reason out the emotional label.",
    "reason_v2": "Please analyze all the clues in the video and reason out the emotional label.",
}


def blip_caption(caption: str, max_words: int = 200) -> str:
    """LAVIS' BlipCaptionProcessor.pre_caption, the text processor Emotion-LLaMA configures."""
    caption = re.sub(r"([.!\"()*#:;~])", " ", caption.lower())
    caption = re.sub(r"\s{2,}", " ", caption).rstrip("\n").strip(" ")
    words = caption.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else caption


class FeatureFaceDataset:
    def __init__(self, vis_root: str, ann_path: str) -> None:
        import pandas as pd

        self.vis_root = vis_root
        self.file_path = os.path.dirname(ann_path)
        with open(ann_path) as handle:
            self.tmp = [line.strip().split(" ") for line in handle]
        self.emo2idx = {emo: index for index, emo in enumerate(EMOS)}
        with open(os.path.join(self.file_path, "MERR_coarse_grained.json")) as handle:
            self.coarse = json.load(handle)
        with open(os.path.join(self.file_path, "MERR_fine_grained.json")) as handle:
            self.fine = json.load(handle)
        self.character_lines = pd.read_csv(os.path.join(self.file_path, "transcription_en_all.csv"))

    def __len__(self) -> int:
        return len(self.tmp)

    def item(self, index: int, task: str) -> dict[str, Any]:
        """``__getitem__`` with the task given instead of drawn at random."""
        t = self.tmp[index]
        video_name = t[0]
        video_path = os.path.join(self.vis_root, video_name + ".mp4")
        if not os.path.exists(video_path):
            video_path = os.path.join(self.vis_root, video_name + ".avi")
        image = self.extract_frame(video_path)
        face, video, audio = self.get(video_name)
        video_features = np.concatenate([_row(face), _row(video), _row(audio)], axis=0)
        if task == "emotion":
            answer = blip_caption(t[2])
        elif task == "reason":
            answer = blip_caption(self.coarse[video_name]["caption"])
        else:
            answer = blip_caption(self.fine[video_name]["smp_reason_caption"])
        emotion = self.emo2idx[t[2]]
        lines = self.character_lines
        sentence = lines.loc[lines["name"] == video_name, "sentence"].values[0]
        character_line = f"The person in video says: {sentence}. "
        instruction = (
            f"<video><VideoHere></video> <feature><FeatureHere></feature> {character_line} "
            f"[{task}] {TASK_QUESTION[task]} "
        )
        return {
            "image": image,
            "video_features": video_features,
            "instruction_input": instruction,
            "answer": answer,
            "emotion": emotion,
            "image_id": video_name,
            "sentence": sentence,
        }

    @staticmethod
    def extract_frame(video_path: str) -> np.ndarray:
        import cv2

        capture = cv2.VideoCapture(video_path)
        success, frame = capture.read()
        if not success:
            raise ValueError("Failed to read video file:", video_path)
        capture.release()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def get(self, video_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        face, video, audio = (
            np.load(os.path.join(self.file_path, folder, video_name + ".npy"))
            for folder in FEATURE_FOLDERS
        )
        return face, video, audio


def _row(features: np.ndarray) -> np.ndarray:
    """``unsqueeze(0)`` of a 1-d feature, as ``__getitem__`` does before ``torch.cat``."""
    return features[None, :] if features.ndim == 1 else features
