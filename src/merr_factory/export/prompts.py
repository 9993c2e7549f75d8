"""Instruction wording for the training formats, and a deterministic choice among them.

The Emotion-LLaMA instructions use that project's own question lists and prompt frame, as its
training dataset builds them (github.com/ZebangCheng/Emotion-LLaMA,
minigpt4/datasets/datasets/first_face.py: ``emotion_instruction_pool``,
``reason_instruction_pool``, ``caption_instruction_pool`` and the instruction format in
``__getitem__``), plus the multimodal-description prompt of its dataset page
(docs/dataset/index.md, "Supported Tasks"). Emotion-LLaMA draws a question at random per
task; an export must be reproducible, so each (sample, task) gets one chosen by a hash of its
name: same inputs, same files.
"""

from __future__ import annotations

import hashlib

# first_face.py: emotion_instruction_pool (its one active entry, the nine MERR labels).
EMOTION_PROMPTS = (
    "Please determine which emotion label in the video represents: happy, sad, neutral, "
    "angry, worried, surprise, fear, contempt, doubt.",
)
# first_face.py: reason_instruction_pool, which both [reason] and [reason_v2] draw from.
REASON_PROMPTS = (
    "Please analyze all the clues in the video and reason out the emotional label of the "
    "person in the video.",
    "What is the emotional state of the person in the video? Please tell me the reason.",
    "What are the facial expressions and vocal tone used in the video? What is the intended "
    "meaning behind his words? Which emotion does this reflect?",
    "Please integrate information from various modalities to infer the emotional category of "
    "the person in the video.",
    "Could you describe the emotion-related features of the individual in the video? What "
    "emotional category do they fall into?",
)
# first_face.py: caption_instruction_pool, and the dataset page's multimodal description.
CAPTION_PROMPTS = (
    "Please describe the details of the expression and tone the video.",
    "Can you provide a description of the facial expression and tone shown by the person in "
    "the video?",
    "Could you outline the facial expressions and vocal tones displayed in the video?",
    "Detail the expressions and tone used in the video.",
    "Explain the visual and auditory expressions captured in the video.",
    "Provide an analysis of the expressions and tone featured in the video.",
    "Describe the person's facial expressions, tone of voice, and the overall emotion conveyed.",
)
# Emotion-LLaMA's video and feature slots, then "The person in video says: {sentence}. ",
# then " [{task}] {question} " (its format string: two spaces before the task, one after).
EMOTION_LLAMA_FRAME = (
    "<video><VideoHere></video> <feature><FeatureHere></feature> "
    "The person in video says: {sentence}.  [{task}] {question} "
)
CHAT_PROMPT = (
    "What emotion does the person in this clip feel? Use the facial expression, the tone "
    "of voice and the words, and explain your answer."
)


def pick(options: tuple[str, ...], *key: str) -> str:
    """One of ``options``, always the same for the same key."""
    digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def said(subtitle: str) -> str:
    """The subtitle clause of the ShareGPT question."""
    return f'The person in the video says: "{subtitle}".' if subtitle else "No speech."


def conclusion(reasoning: str, label: str) -> str:
    return f"{reasoning} So the emotion is: {label}." if reasoning else label
