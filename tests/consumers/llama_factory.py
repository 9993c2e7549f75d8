"""LLaMA-Factory's reading of a ShareGPT dataset, as far as it can reject ours: a
re-implementation of ``SharegptDatasetConverter`` (github.com/hiyouga/LLaMA-Factory,
src/llamafactory/data/converter.py: role alternation, message count, ``_find_medias`` under
``media_dir``) and of the multimodal plugin's checks (data/mm_plugin.py ``_validate_input``:
a template without an audio token refuses audios; ``_validate_messages``: one placeholder per
media file). Written for these tests from the public code; no model or processor runs.
"""

from __future__ import annotations

import os
from typing import Any

VIDEO_PLACEHOLDER, AUDIO_PLACEHOLDER, IMAGE_PLACEHOLDER = "<video>", "<audio>", "<image>"
# data/template.py: which tokens each template's plugin has (a few of each kind).
TEMPLATES = {
    "qwen2_omni": {"video", "audio", "image"},
    "qwen3_omni": {"video", "audio", "image"},
    "minicpm_o": {"video", "audio", "image"},
    "qwen2_vl": {"video", "image"},
    "llava_next_video": {"video", "image"},
}


class DatasetError(ValueError):
    pass


def convert(example: dict[str, Any], info: dict[str, Any], media_dir: str) -> dict[str, Any]:
    """One ShareGPT example as the converter turns it into prompt, response and media."""
    columns, tags = info["columns"], info["tags"]
    role, content = tags["role_tag"], tags["content_tag"]
    accept = ((tags["user_tag"],), (tags["assistant_tag"],))
    messages = example[columns["messages"]]
    aligned = []
    for turn, message in enumerate(messages):
        if message[role] not in accept[turn % 2]:
            raise DatasetError(f"Invalid role tag in {messages}.")
        aligned.append({"role": message[role], "content": message[content]})
    if len(aligned) % 2 != 0:
        raise DatasetError(f"Invalid message count in {messages}.")
    return {
        "_prompt": aligned[:-1],
        "_response": aligned[-1:],
        "_videos": _find_medias(example.get(columns["videos"]), media_dir)
        if "videos" in columns
        else None,
        "_audios": _find_medias(example.get(columns["audios"]), media_dir)
        if "audios" in columns
        else None,
    }


def _find_medias(medias: list[str] | None, media_dir: str) -> list[str] | None:
    if not medias:
        return None
    found = []
    for media in medias:
        path = os.path.join(media_dir, media)
        if not os.path.isfile(path):
            raise DatasetError(f"Media {media} does not exist in `media_dir`.")
        found.append(path)
    return found


def check_for_template(converted: dict[str, Any], template: str) -> None:
    """The plugin's input and placeholder checks for ``template``."""
    tokens = TEMPLATES[template]
    videos, audios = converted["_videos"] or [], converted["_audios"] or []
    if videos and "video" not in tokens:
        raise DatasetError("This model does not support video input.")
    if audios and "audio" not in tokens:
        raise DatasetError("This model does not support audio input.")
    messages = converted["_prompt"] + converted["_response"]
    text = "".join(message["content"] for message in messages)
    if len(videos) != text.count(VIDEO_PLACEHOLDER):
        raise DatasetError(f"The number of videos does not match the {VIDEO_PLACEHOLDER} tokens.")
    if len(audios) != text.count(AUDIO_PLACEHOLDER):
        raise DatasetError(f"The number of audios does not match the {AUDIO_PLACEHOLDER} tokens.")
