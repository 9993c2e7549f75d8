"""A Parquet file Hugging Face ``datasets`` loads: one row per coarse or fine sample.

Rejected samples are left out (the card counts them, the curation CSV and the report list
them); coarse samples the MERR files could not take (no peak, say) are in, with
``in_merr_coarse`` false.

``datasets.load_dataset("parquet", data_files="merr.parquet")`` reads it; the dataset card's
front matter points the default config at it. Paths (peak frame, audio, video) are relative
to the export folder. The schema is fixed here, so an empty or odd export still has it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..optional import require
from .entry import ExportEntry
from .media import ExportMedia
from .merr import MerrSets

PARQUET_FILE = "merr.parquet"

# Columns copied as they are from the export entry; the others are derived below.
FROM_ENTRY = (
    "sample_id",
    "name",
    "source",
    "kind",
    "duration",
    "fps",
    "frame_count",
    "width",
    "height",
    "label",
    "label_source",
    "ingest_label",
    "valence",
    "tier",
    "au_rule_agrees",
    "llm_agrees",
    "peak_index",
    "peak_time",
    "peak_AU_list",
    "au_sum",
    "face_ratio",
    "AU_list",
    "visual_prior_list",
    "visual_objective",
    "has_audio",
    "tone",
    "transcript",
    "language",
    "caption",
    "smp_reason_caption",
    "open_label",
)


def _schema(pa: Any) -> Any:
    text, number, integer, flag = pa.string(), pa.float64(), pa.int64(), pa.bool_()
    reason = pa.struct([("code", text), ("message", text)])
    return pa.schema(
        [
            ("sample_id", text),
            ("name", text),
            ("source", text),
            ("video", text),
            ("peak_frame", text),
            ("audio", text),
            ("kind", text),
            ("duration", number),
            ("fps", number),
            ("frame_count", integer),
            ("width", integer),
            ("height", integer),
            ("label", text),
            ("label_source", text),
            ("ingest_label", text),
            ("valence", number),
            ("tier", text),
            ("reasons", pa.list_(reason)),
            ("in_merr_coarse", flag),
            ("in_merr_fine", flag),
            ("au_rule_agrees", flag),
            ("llm_agrees", flag),
            ("peak_index", integer),
            ("peak_time", number),
            ("peak_AU_list", pa.list_(text)),
            ("au_sum", number),
            ("face_ratio", number),
            ("AU_list", pa.list_(text)),
            ("visual_prior_list", pa.list_(text)),
            ("visual_objective", text),
            ("has_audio", flag),
            ("tone", text),
            ("audio_prior_list", text),
            ("transcript", text),
            ("language", text),
            ("text", text),
            ("caption", text),
            ("smp_reason_caption", text),
            ("open_label", text),
            ("faces_model", text),
            ("asr_model", text),
            ("llm_model", text),
            ("prompt_version", text),
        ]
    )


def parquet_row(
    entry: ExportEntry, media: ExportMedia, coarse: set[str], fine: set[str]
) -> dict[str, Any]:
    """One row; ``coarse`` and ``fine`` are the sample ids in the MERR files."""
    return {
        **entry.model_dump(include=set(FROM_ENTRY)),
        "video": media.video(entry),
        "peak_frame": media.frame(entry),
        "audio": media.audio_file(entry),
        "reasons": [reason.model_dump() for reason in entry.reasons],
        "in_merr_coarse": entry.sample_id in coarse,
        "in_merr_fine": entry.sample_id in fine,
        "audio_prior_list": entry.audio_prior,
        "text": entry.subtitle,
        "faces_model": entry.models.get("faces"),
        "asr_model": entry.models.get("asr"),
        "llm_model": entry.models.get("llm"),
        "prompt_version": entry.models.get("prompt_version"),
    }


def write_parquet(
    entries: list[ExportEntry], media: ExportMedia, sets: MerrSets, folder: Path
) -> Path:
    pa = require("pyarrow", "export", "the Parquet export")
    pq = require("pyarrow.parquet", "export", "the Parquet export")
    schema = _schema(pa)
    coarse = {entry.sample_id for entry in sets.coarse}
    fine = {entry.sample_id for entry in sets.fine}
    rows = [
        parquet_row(entry, media, coarse, fine) for entry in entries if entry.tier != "rejected"
    ]
    table = pa.Table.from_pylist(rows, schema=schema)
    path = folder / PARQUET_FILE
    pq.write_table(table, path, compression="zstd")
    return path
