"""ShareGPT JSON for LLaMA-Factory, and the ``dataset_info.json`` entry that registers it.

Media placeholders always match the media lists (LLaMA-Factory's mm_plugin checks both):
``<video>`` once with one ``videos`` path, ``<audio>`` once with one ``audios`` path and only
when the clip has audio (an ``<audio>`` tag without its file is the fault of the nearest
existing tool). Two variants (``sharegpt_media``): ``video+audio`` for the omni templates,
the only ones that accept audio, and ``video`` (no ``<audio>``, no ``audios`` column) for the
video templates. Paths are relative to the export folder: point LLaMA-Factory's ``media_dir``
(or ``dataset_dir``) at it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from merr_factory.dataset.entry import ExportEntry
from merr_factory.export.jsonfile import write_indented_list
from merr_factory.export.media import ExportMedia
from merr_factory.export.prompts import CHAT_PROMPT, conclusion, said
from merr_factory.export.settings import ShareGptMedia

SHAREGPT_FILE = "merr_sharegpt.json"
DATASET_INFO_FILE = "dataset_info.json"


def sharegpt_record(entry: ExportEntry, video: str | None, audio: str | None) -> dict[str, Any]:
    """One conversation: the clip (and its audio) and the question, then the reasoned label."""
    tags = ("<video>" if video else "") + ("<audio>" if audio else "")
    question = f"{tags}{said(entry.subtitle)} {CHAT_PROMPT}"
    reasoning = entry.smp_reason_caption if entry.tier == "fine" else entry.caption
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": conclusion(reasoning or "", entry.label or "")},
        ],
        "videos": [video] if video else [],
        "audios": [audio] if audio else [],
    }


def dataset_info(name: str, with_audio: bool = True) -> dict[str, Any]:
    columns = {"messages": "messages", "videos": "videos"}
    if with_audio:
        columns["audios"] = "audios"
    return {
        name: {
            "file_name": SHAREGPT_FILE,
            "formatting": "sharegpt",
            "columns": columns,
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
            },
        }
    }


def write_sharegpt(
    entries: list[ExportEntry],
    media: ExportMedia,
    folder: Path,
    name: str,
    variant: ShareGptMedia = "video+audio",
) -> list[Path]:
    with_audio = variant == "video+audio"

    def records() -> Iterator[dict[str, Any]]:  # one at a time: 100k would take 100 MB
        for entry in entries:
            record = sharegpt_record(
                entry, media.video(entry), media.audio_file(entry) if with_audio else None
            )
            if not with_audio:
                del record["audios"]
            yield record

    data_path = folder / SHAREGPT_FILE
    write_indented_list(data_path, records(), indent=1)
    info_path = folder / DATASET_INFO_FILE
    info_path.write_text(json.dumps(dataset_info(name, with_audio), indent=2) + "\n", "utf-8")
    return [data_path, info_path]
