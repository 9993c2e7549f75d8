"""Dataset adapters: ``input: {dataset: NAME, root: DIR}`` read in the dataset's own layout.

Each adapter (one module per dataset) yields ``DatasetSample``s; ``read_dataset`` maps their
labels to the run's label set and turns them into the ``SampleSource`` + ``LabelRow`` pairs
that the rest of the run knows, checking ids and time ranges on the way.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from merr_factory.inputs.datasets.base import Adapter, DatasetInput, DatasetSample, Problems
from merr_factory.inputs.datasets.cremad import CremaD
from merr_factory.inputs.datasets.dfew import Dfew, Mafw
from merr_factory.inputs.datasets.iemocap import Iemocap
from merr_factory.inputs.datasets.labelmap import map_label, merged_map
from merr_factory.inputs.datasets.manifest import Manifest
from merr_factory.inputs.datasets.meld import Meld
from merr_factory.inputs.datasets.mer import Mer2023, Mer2024, Mer2025, Mer2026
from merr_factory.inputs.datasets.mmsa import ChSims, CmuMosei
from merr_factory.inputs.datasets.ravdess import Ravdess
from merr_factory.inputs.discovery import SampleSource
from merr_factory.inputs.labels import LabelRow
from merr_factory.inputs.sample_ids import is_valid_sample_id
from merr_factory.stage_data import SampleKind

ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        Mer2023(),
        Mer2024(),
        Mer2025(),
        Mer2026(),
        Meld(),
        Iemocap(),
        CremaD(),
        Ravdess(),
        Dfew(),
        Mafw(),
        CmuMosei(),
        ChSims(),
        Manifest(),
    )
}


@dataclass
class DatasetRead:
    """A dataset's samples as the run knows them, their labels by id, and the problems."""

    samples: list[SampleSource]
    labels: dict[str, LabelRow]
    problems: list[str] = field(default_factory=list)


def read_dataset(settings: DatasetInput, label_set: tuple[str, ...]) -> DatasetRead:
    """Read ``settings.root`` with its dataset's adapter; never raises for bad lines."""
    adapter = ADAPTERS[settings.dataset]
    problems = Problems()
    mapping = merged_map(adapter.label_map, settings.label_map)
    found: dict[str, DatasetSample] = {}
    for sample in adapter.read(settings, problems):
        if not _usable(sample, found, problems):
            continue
        found[sample.id] = sample
    _report_overlaps(found.values(), problems)
    read = DatasetRead(samples=[], labels={}, problems=problems)
    stats: dict[Path, os.stat_result | None] = {}
    for sample_id in sorted(found):
        sample = found[sample_id]
        read.samples.append(_source(sample, settings.root, stats))
        mapped = map_label(sample.label, mapping, label_set, settings.dataset)
        read.labels[sample_id] = LabelRow(
            name=sample_id,
            label=mapped.label,
            valence=sample.valence,
            line=_line_of(sample.origin),
            native=sample.label,
            excluded=mapped.excluded,
            arousal=sample.arousal,
            scale=sample.scale,
            speaker=sample.speaker,
            text=sample.text,
            language=sample.language,
            split=sample.split,
            extra=dict(sample.extra),
        )
    return read


def _usable(sample: DatasetSample, found: dict[str, DatasetSample], problems: Problems) -> bool:
    if not is_valid_sample_id(sample.id):
        problems.append(f"{sample.origin}: unusable sample id {sample.id!r}; skipped")
        return False
    if sample.id in found:
        problems.append(
            f"{sample.origin}: sample {sample.id} again (first at {found[sample.id].origin}); "
            "skipped"
        )
        return False
    segment = sample.segment
    if segment is not None and (
        segment.start < 0 or (segment.end is not None and segment.end <= segment.start)
    ):
        problems.append(
            f"{sample.origin}: time range {segment.start}-{segment.end} s is reversed "
            "or empty; skipped"
        )
        return False
    return True


def _report_overlaps(samples: object, problems: Problems) -> None:
    """Segments of one file and one speaker that overlap: reported, both kept."""
    by_track: dict[tuple[Path, str | None], list[DatasetSample]] = defaultdict(list)
    for sample in samples:  # type: ignore[attr-defined]
        if sample.segment is not None and sample.segment.end is not None:
            by_track[(sample.media, sample.speaker)].append(sample)
    for track in by_track.values():
        track.sort(key=lambda item: item.segment.start)
        for before, after in itertools.pairwise(track):
            if after.segment.start < before.segment.end:
                problems.append(
                    f"{after.origin}: {after.id} starts at {after.segment.start} s, before "
                    f"{before.id} ends ({before.segment.end} s); both kept"
                )


def _source(
    sample: DatasetSample, root: Path, stats: dict[Path, os.stat_result | None]
) -> SampleSource:
    if sample.media not in stats:
        try:
            stats[sample.media] = sample.media.stat()
        except OSError:
            stats[sample.media] = None
    stat = stats[sample.media]
    base = root if root.is_dir() else root.parent
    try:
        relpath = sample.media.relative_to(base).as_posix()
    except ValueError:
        relpath = sample.media.as_posix()
    kind: SampleKind = "video"
    return SampleSource(
        id=sample.id,
        path=sample.media.absolute(),
        relpath=relpath,
        kind=kind,
        size=stat.st_size if stat else 0,
        mtime_ns=stat.st_mtime_ns if stat else 0,
        segment=sample.segment,
        missing=stat is None,
        name=sample.id,
    )


def _line_of(origin: str) -> int:
    tail = origin.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0
