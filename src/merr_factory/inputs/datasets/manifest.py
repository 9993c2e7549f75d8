"""A generic manifest: anything else comes in this way (after lhotse's supervision segments).

``root`` is a JSONL file (one object a line) or a CSV file with the columns ``path`` and,
each optional, ``id, start, end`` (or ``duration``), ``label, valence, arousal, scale,
speaker, text, language, split``. Relative paths are read from the manifest's folder. A
sample's id is its ``id``, else the file's stem (plus the start in milliseconds for a
segment). Other columns travel as extras; a line that cannot be used is one problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from merr_factory.inputs.datasets.base import (
    Adapter,
    DatasetInput,
    DatasetSample,
    Problems,
    cell,
    number,
    read_csv_rows,
    read_text,
    word,
)
from merr_factory.inputs.sample_ids import safe_sample_id
from merr_factory.inputs.segment import Segment

KNOWN = {"id", "path", "start", "end", "duration", "label", "valence", "arousal", "scale"}
KNOWN |= {"speaker", "text", "language", "split"}


class Manifest(Adapter):
    name = "manifest"
    label_map: ClassVar = {}
    note = "JSONL or CSV: path, start, end, label, valence, arousal, speaker, text, split"

    def read(self, settings: DatasetInput, problems: Problems) -> Iterator[DatasetSample]:
        path = settings.root
        for line, row in self._rows(path, problems):
            try:
                sample = self._sample(path, line, row)
            except (ValueError, TypeError) as error:
                problems.add(path, line, f"{error}; skipped")
                continue
            if not sample.media.is_file():
                problems.add(path, line, f"no media file {sample.media}")
            yield sample

    def _rows(self, path: Path, problems: Problems) -> Iterator[tuple[int, dict[str, Any]]]:
        if path.suffix.lower() == ".csv":
            yield from read_csv_rows(path, problems, ("path",))
            return
        text = read_text(path, problems)
        for line_no, line in enumerate((text or "").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                problems.add(path, line_no, f"not JSON ({error.msg}); skipped")
                continue
            if not isinstance(row, dict):
                problems.add(path, line_no, "not a JSON object; skipped")
                continue
            yield line_no, row

    def _sample(self, path: Path, line: int, row: dict[str, Any]) -> DatasetSample:
        unknown = sorted(set(row) - KNOWN)
        text = {key: None if row.get(key) is None else str(row[key]) for key in KNOWN}
        media_text = cell(text["path"])
        if media_text is None:
            raise ValueError("no path")
        media = Path(media_text)
        media = media if media.is_absolute() else path.parent / media
        start, end = number(text["start"]), number(text["end"])
        duration = number(text["duration"])
        if end is None and duration is not None:
            end = (start or 0.0) + duration
        segment = None if start is None and end is None else Segment(start or 0.0, end)
        stem = media.stem if segment is None else f"{media.stem}_{round(segment.start * 1000)}"
        return DatasetSample(
            id=safe_sample_id(cell(text["id"]) or stem),
            media=media,
            origin=f"{path}:{line}",
            segment=segment,
            label=word(text["label"]),
            valence=number(text["valence"]),
            arousal=number(text["arousal"]),
            scale=cell(text["scale"]),
            speaker=cell(text["speaker"]),
            text=cell(text["text"]),
            language=cell(text["language"]),
            split=word(text["split"]),
            extra={key: str(row[key]) for key in unknown if row[key] not in (None, "")},
        )
