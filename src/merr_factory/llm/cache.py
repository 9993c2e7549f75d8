"""Replies already paid for, on disk under the output folder.

The key is a digest of the backend, the model's identity, the full messages and every
generation parameter (schema included), so switching the model, the prompt or the temperature
never returns another call's answer. Only replies that passed the schema are stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from merr_factory.llm.base import GenerationParams, Message
from merr_factory.run.atomic import write_json_atomic
from merr_factory.run.records import digest


def cache_key(
    backend: str, model_id: str, messages: list[Message], params: GenerationParams
) -> str:
    return digest(
        {
            "backend": backend,
            "model": model_id,
            "messages": [message.as_key() for message in messages],
            "params": {
                "temperature": params.temperature,
                "max_tokens": params.max_tokens,
                "json_schema": params.json_schema,
                "seed": params.seed,
            },
        }
    )


class ReplyCache:
    """One JSON file per reply: ``<root>/<key[:2]>/<key>.json`` (atomic writes)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent or unreadable: ask again
        return entry if isinstance(entry, dict) and entry.get("key") == key else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        write_json_atomic(self._path(key), {**entry, "key": key})
