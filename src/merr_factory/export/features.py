"""``features.json``: which pre-extracted features the export holds, made by which models, and
whether they are placeholders (random-weight models: the layout is right, the numbers mean
nothing). Emotion-LLaMA itself reads only the ``.npy`` files (``<feature>/<name>.npy``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from merr_factory.dataset.entry import ExportEntry
from merr_factory.dataset.merr import EMOTION_LLAMA_FEATURES
from merr_factory.export.media import ExportMedia

FEATURES_FILE = "features.json"
PLACEHOLDER_NOTE = (
    "PLACEHOLDERS: made by random-weight models (scripts/make_feature_models.py); the files "
    "have Emotion-LLaMA's layout and shapes but carry no information. Do not train on them."
)


def features_summary(entries: list[ExportEntry], media: ExportMedia) -> dict[str, Any]:
    """Per feature folder: how many of the samples have it, the models, placeholders or not."""
    summary: dict[str, Any] = {}
    for name in EMOTION_LLAMA_FEATURES:
        having = [entry for entry in entries if name in media.features.get(entry.sample_id, {})]
        having_ids = {entry.sample_id for entry in having}  # a set: 100k entries, not 100k^2
        summary[name] = {
            "samples": len(having),
            "missing": sorted(e.name for e in entries if e.sample_id not in having_ids),
            "models": sorted({e.feature_models[name] for e in having if name in e.feature_models}),
            "placeholder": any(name in entry.placeholder_features for entry in having),
        }
    return summary


def has_placeholders(summary: dict[str, Any]) -> bool:
    return any(item["placeholder"] for item in summary.values())


def write_features_summary(summary: dict[str, Any], folder: Path) -> Path:
    document: dict[str, Any] = {"features": summary}
    if has_placeholders(summary):
        document["note"] = PLACEHOLDER_NOTE
    path = folder / FEATURES_FILE
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return path
