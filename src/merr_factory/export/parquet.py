"""A Parquet file Hugging Face ``datasets`` loads: one row per coarse or fine sample.

Rejected samples are left out (the card counts them, the curation CSV and the report list
them); coarse samples the MERR files could not take (no peak, say) are in, with
``in_merr_coarse`` false.

``datasets.load_dataset("parquet", data_files="merr.parquet")`` reads it; the dataset card's
front matter points the default config at it. Paths (peak frame, audio, video) are relative
to the export folder. The schema is fixed here, so an empty or odd export still has it.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, create_model

from merr_factory.dataset.entry import ExportEntry
from merr_factory.dataset.merr import MerrSets
from merr_factory.export.media import ExportMedia
from merr_factory.optional import require

PARQUET_FILE = "merr.parquet"
ROW_GROUP = 5_000  # rows made into Arrow columns and written at once


# The file's columns, in order. A column that is an ``ExportEntry`` field takes the entry's
# type and value; the others are derived in ``parquet_row``, with the types given here.
COLUMNS = (
    "sample_id", "name", "source", "video", "peak_frame", "audio", "kind", "duration", "fps",
    "frame_count", "width", "height", "label", "label_source", "ingest_label", "valence",
    "tier", "reasons", "in_merr_coarse", "in_merr_fine", "au_rule_agrees", "llm_agrees",
    "peak_index", "peak_time", "peak_AU_list", "au_sum", "face_ratio", "AU_list",
    "visual_prior_list", "visual_objective", "has_audio", "tone", "audio_prior_list",
    "transcript", "language", "text", "caption", "smp_reason_caption", "open_label",
    "faces_model", "asr_model", "llm_model", "prompt_version",
    "split", "native_label", "arousal", "scale", "speaker", "given_text", "extra",
    "human_checked",
)  # fmt: skip
DERIVED: dict[str, Any] = {
    "video": str,
    "peak_frame": str | None,  # a path in the export (the entry holds the stored file)
    "audio": str | None,
    "in_merr_coarse": bool,
    "in_merr_fine": bool,
    "audio_prior_list": str,
    "text": str,
    "faces_model": str | None,
    "asr_model": str | None,
    "llm_model": str | None,
    "prompt_version": str | None,
    "split": str,  # the Hugging Face split name
    "extra": str | None,  # a JSON object: open-set and compound labels, sentiment...
}
FROM_ENTRY = tuple(name for name in COLUMNS if name not in DERIVED)
_FROM_ENTRY_SET = set(FROM_ENTRY)

ParquetRow: type[BaseModel] = create_model(
    "ParquetRow",
    __doc__="One row of the Parquet file; the Arrow schema is derived from it.",
    **{
        name: (DERIVED[name] if name in DERIVED else ExportEntry.model_fields[name].annotation, ...)
        for name in COLUMNS
    },
)


def arrow_schema(pa: Any, model: type[BaseModel] = ParquetRow) -> Any:
    """The Arrow schema of ``model``'s fields, in order; every column is nullable."""
    return pa.schema(
        [(name, arrow_type(pa, field.annotation)) for name, field in model.model_fields.items()]
    )


def arrow_type(pa: Any, annotation: Any) -> Any:
    """The Arrow type of a field annotation: str, float, int, bool, lists and models."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return arrow_type(pa, inner)
    if typing.get_origin(annotation) is list:
        return pa.list_(arrow_type(pa, typing.get_args(annotation)[0]))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = annotation.model_fields.items()
        return pa.struct([(name, arrow_type(pa, field.annotation)) for name, field in fields])
    scalars = {str: pa.string(), float: pa.float64(), int: pa.int64(), bool: pa.bool_()}
    if annotation in scalars:
        return scalars[annotation]
    raise TypeError(f"no Arrow type for {annotation!r}")


def parquet_row(
    entry: ExportEntry, media: ExportMedia, coarse: set[str], fine: set[str]
) -> dict[str, Any]:
    """One row; ``coarse`` and ``fine`` are the sample ids in the MERR files. The entry's
    fields are as validated; the derived ones have the types ``DERIVED`` gives (checked on
    one row by the tests, rather than on each of 100k here)."""
    return {
        **entry.model_dump(include=_FROM_ENTRY_SET),
        "video": media.video(entry),
        "peak_frame": media.frame(entry),
        "audio": media.audio_file(entry),
        "in_merr_coarse": entry.sample_id in coarse,
        "in_merr_fine": entry.sample_id in fine,
        "audio_prior_list": entry.audio_prior,
        "text": entry.subtitle,
        "faces_model": entry.models.get("faces"),
        "asr_model": entry.models.get("asr"),
        "llm_model": entry.models.get("llm"),
        "prompt_version": entry.models.get("prompt_version"),
        "split": entry.hf_split,
        "extra": json.dumps(entry.extra, ensure_ascii=False, sort_keys=True)
        if entry.extra
        else None,
    }


def split_file(split: str) -> str:
    """The Parquet file of one split, beside the file of all rows."""
    return f"merr-{split}.parquet"


def parquet_splits(entries: list[ExportEntry]) -> list[str]:
    """The splits of the rows the Parquet file holds, each written to its own file, when
    there are several or the one split is not ``train`` (an evaluation set stays ``test``);
    else none: the one file is the ``train`` split."""
    splits = sorted({entry.hf_split for entry in entries if entry.tier != "rejected"})
    return [] if splits in ([], ["train"]) else splits


def write_parquet(
    entries: list[ExportEntry], media: ExportMedia, sets: MerrSets, folder: Path
) -> list[Path]:
    """``merr.parquet`` with every kept row, and one file per split when there are several
    or the one split is not ``train`` (the dataset card's front matter names them as the
    Hugging Face splits)."""
    paths = [_write_rows(entries, media, sets, folder / PARQUET_FILE)]
    for split in parquet_splits(entries):
        rows = [entry for entry in entries if entry.hf_split == split]
        paths.append(_write_rows(rows, media, sets, folder / split_file(split)))
    return paths


def _write_rows(entries: list[ExportEntry], media: ExportMedia, sets: MerrSets, path: Path) -> Path:
    pa = require("pyarrow", "export", "the Parquet export")
    pq = require("pyarrow.parquet", "export", "the Parquet export")
    schema = arrow_schema(pa)
    coarse = {entry.sample_id for entry in sets.coarse}
    fine = {entry.sample_id for entry in sets.fine}
    kept = [entry for entry in entries if entry.tier != "rejected"]
    # Written a row group at a time: 100k rows as Python dicts, or as one Arrow table,
    # would take a few hundred MB.
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, max(len(kept), 1), ROW_GROUP):
            rows = [
                parquet_row(entry, media, coarse, fine) for entry in kept[start : start + ROW_GROUP]
            ]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed pages else
    return path
