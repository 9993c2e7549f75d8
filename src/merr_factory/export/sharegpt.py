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
from collections.abc import Iterator, Sequence
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


def dataset_info(name: str, with_audio: bool = True, splits: Sequence[str] = ()) -> dict[str, Any]:
    """The entry for all conversations, and one per split (``{name}_{split}``, its own file)
    when the input gives several splits."""
    columns = {"messages": "messages", "videos": "videos"}
    if with_audio:
        columns["audios"] = "audios"
    files = {name: SHAREGPT_FILE} | {
        f"{name}_{split}": split_sharegpt_file(split) for split in splits
    }
    return {
        entry: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": columns,
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
            },
        }
        for entry, file_name in files.items()
    }


def split_sharegpt_file(split: str) -> str:
    return f"merr_sharegpt_{split}.json"


def write_sharegpt(
    entries: list[ExportEntry],
    media: ExportMedia,
    folder: Path,
    name: str,
    variant: ShareGptMedia = "video+audio",
) -> list[Path]:
    with_audio = variant == "video+audio"

    def records(chosen: list[ExportEntry]) -> Iterator[dict[str, Any]]:  # one at a time
        for entry in chosen:
            record = sharegpt_record(
                entry, media.video(entry), media.audio_file(entry) if with_audio else None
            )
            if not with_audio:
                del record["audios"]
            yield record

    data_path = folder / SHAREGPT_FILE
    write_indented_list(data_path, records(entries), indent=1)  # 100k dicts: 100 MB, so lazily
    paths = [data_path]
    splits = sorted({entry.hf_split for entry in entries})
    splits = splits if len(splits) > 1 else []
    for split in splits:
        paths.append(folder / split_sharegpt_file(split))
        chosen = [entry for entry in entries if entry.hf_split == split]
        write_indented_list(paths[-1], records(chosen), indent=1)
    info_path = folder / DATASET_INFO_FILE
    info = dataset_info(name, with_audio, splits)
    info_path.write_text(json.dumps(info, indent=2) + "\n", "utf-8")
    return [*paths, info_path]
