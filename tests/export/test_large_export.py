"""What lets the export write 100k entries quickly and in bounded memory, shown to give the
same files: the indented JSON writer, the Parquet rows, the compact entries."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from merr_factory.dataset.entry import ExportEntry, MediaFile, read_entry
from merr_factory.export.jsonfile import indented, write_indented, write_indented_items
from merr_factory.export.media import ExportMedia
from merr_factory.export.parquet import ParquetRow, parquet_row
from merr_factory.stage_data import Reason

from .test_merr import entry


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """JSON values of every kind, with the strings and numbers json escapes or spells out."""
    kinds = ["str", "int", "float", "bool", "none"] + (
        ["list", "dict", "empty"] if depth < 4 else []
    )
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(rng.choice(['a', 'é', '"', '\\', '\n', '\u2028', '\x00', '</', '😀', ' '])
                       for _ in range(rng.randint(0, 6)))  # fmt: skip
    if kind == "int":
        return rng.randint(-(10**20), 10**20)
    if kind == "float":
        return rng.choice([0.1, -0.0, 1e-05, 1e300, math.nan, math.inf, -math.inf, 2.5])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "empty":
        return rng.choice([[], {}])
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["".join(rng.choice('ab"é\n') for _ in range(rng.randint(0, 3))) for _ in range(4)]
    return {key: random_value(rng, depth + 1) for key in keys}


@pytest.mark.parametrize("indent", [1, 2, 4])
def test_the_indented_writer_writes_what_json_dumps_writes(indent: int, tmp_path: Path) -> None:
    rng = random.Random(indent)
    for _ in range(500):
        value = random_value(rng)
        assert indented(value, indent) == json.dumps(value, indent=indent, ensure_ascii=False)
    path = tmp_path / "document.json"
    document = {f"clip_{i}": random_value(rng) for i in range(300)}
    write_indented(path, document, indent)
    assert path.read_text() == json.dumps(document, indent=indent, ensure_ascii=False) + "\n"
    write_indented_items(path, iter(document.items()), indent)
    assert path.read_text() == json.dumps(document, indent=indent, ensure_ascii=False) + "\n"


def test_a_parquet_row_has_the_types_of_its_schema() -> None:
    """Rows are not validated one by one (100k of them): their types are checked here."""
    full = entry(
        "s1",
        tier="fine",
        reasons=[Reason(code="duplicate", message="repeats s0")],
        peak_frame=MediaFile(path="stages/peak/s1/peak_frame.jpg", sha256="a" * 64),
        models={"faces": "dlib/hog", "asr": None, "llm": "x", "prompt_version": "3"},
        transcript="Hello\\nthere",
        tone_phrase="speaks softly",
    )
    media = ExportMedia(frames={"s1": "frames/s1.jpg"}, audio={"s1": "audio/s1.wav"})
    for sample in (full, entry("s2")):
        row = parquet_row(sample, media, coarse={"s1"}, fine=set())
        assert ParquetRow.model_validate(row).model_dump() == row
        assert list(row) != [] and set(row) == set(ParquetRow.model_fields)


def test_compact_entries_equal_the_validated_ones() -> None:
    data = entry(
        "s1", reasons=[Reason(code="no_face", message="no face")], peak_AU_list=["AU12"],
        peak_frame=MediaFile(path="stages/peak/s1/peak_frame.jpg", sha256="b" * 64),
        models={"faces": "dlib/hog"}, transcript="Hi.", text_en="Hi.",
    ).model_dump()  # fmt: skip
    strings: dict[str, str] = {}
    first, second = read_entry(data, strings), read_entry(dict(data, sample_id="s2"), strings)
    assert first == ExportEntry.model_validate(data)
    assert first.model_dump() == data
    assert first.label is second.label and first.models["faces"] is second.models["faces"]
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
