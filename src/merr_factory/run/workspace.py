"""A configured run's world: its samples, their labels, its stages and its output store."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from merr_factory.config import Config, stage_settings
from merr_factory.curation.review_log import REVIEW_DIR
from merr_factory.inputs.datasets import read_dataset
from merr_factory.inputs.datasets.base import DatasetInput
from merr_factory.inputs.discovery import SampleSource, discover
from merr_factory.inputs.labels import LabelRow, LabelTable, read_label_table
from merr_factory.registry import STAGES
from merr_factory.run.folders import RemoteFolder
from merr_factory.run.store import Store
from merr_factory.stages.base import RunFacts, Stage

log = logging.getLogger(__name__)

MAX_LISTED_PROBLEMS = 20


class SelectionError(ValueError):
    """The samples asked for on the command line do not exist."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): a fixed share of the samples, for job arrays.

    Membership depends on the sample id alone, so adding clips never moves a sample from one
    shard to another.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise SelectionError(f"--shard wants i/n, like 0/4; got {text!r}") from None
        if count < 1 or not 0 <= index < count:
            raise SelectionError(f"--shard {text}: need 0 <= i < n")
        return cls(index, count)

    def contains(self, sample_id: str) -> bool:
        bucket = int(hashlib.sha1(sample_id.encode("utf-8")).hexdigest()[:8], 16)
        return bucket % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass
class Workspace:
    config: Config
    store: Store
    samples: list[SampleSource]
    labels: dict[str, LabelRow]
    stages: dict[str, Stage]

    def select(
        self, sample_ids: Sequence[str] = (), limit: int | None = None, shard: Shard | None = None
    ) -> list[SampleSource]:
        """The samples to work on: the shard's, those named (all by default), at most ``limit``."""
        chosen = self.samples
        if shard is not None:
            chosen = [sample for sample in chosen if shard.contains(sample.id)]
        if sample_ids:
            by_id = {sample.id: sample for sample in chosen}
            unknown = [sample_id for sample_id in sample_ids if sample_id not in by_id]
            if unknown:
                raise SelectionError(f"no such sample: {', '.join(unknown)}")
            chosen = [by_id[sample_id] for sample_id in dict.fromkeys(sample_ids)]
        return chosen[:limit] if limit is not None else chosen


def open_workspace(config: Config) -> Workspace:
    """Discover the samples, join their labels and set up the stages (no model is loaded)."""
    if isinstance(config.input, DatasetInput):
        samples, labels = _read_dataset(config, config.input)
    else:
        ingest = config.stages.ingest
        found = discover(
            config.input, ingest.extensions(), ingest.on_duplicate_id, exclude=config.output
        )
        _report(f"input {config.input}", found.problems)
        samples, labels = found.samples, _join_labels(config, found.samples)
    facts = RunFacts(label_set=tuple(config.label_set), review_folder=config.output / REVIEW_DIR)
    stages = {cls.name: cls(stage_settings(config, cls.name), facts) for cls in STAGES}
    return Workspace(
        config=config,
        store=open_store(config),
        samples=samples,
        labels=labels,
        stages=stages,
    )


def open_store(config: Config) -> Store:
    """The output store: the local ``output`` folder, or ``output_url`` with a local cache."""
    if config.output_url is None:
        return Store(config.output)
    cache = config.output / ".cache" / "files"
    limit = int(config.file_cache_gb * 10**9)
    return Store(
        config.output, RemoteFolder(config.output_url, config.storage_options, cache, limit)
    )


def _read_dataset(
    config: Config, dataset: DatasetInput
) -> tuple[list[SampleSource], dict[str, LabelRow]]:
    """A dataset in its own layout: its samples, their labels mapped to the label set."""
    read = read_dataset(dataset, tuple(config.label_set))
    _report(str(dataset), read.problems)
    excluded: Counter[str] = Counter(
        row.excluded for row in read.labels.values() if row.excluded is not None
    )
    for reason, count in excluded.most_common():
        log.warning("%s: %s: %d samples excluded", dataset, reason, count)
    return read.samples, read.labels


def _join_labels(config: Config, samples: list[SampleSource]) -> dict[str, LabelRow]:
    """Labels by sample id: matched on the id, else on the file's own stem."""
    if config.labels is None:
        return {}
    table = read_label_table(config.labels)
    _report(str(config.labels), table.problems)
    joined: dict[str, LabelRow] = {}
    for sample in samples:
        row = table.rows.get(sample.id) or table.rows.get(sample.stem)
        if row is not None:
            joined[sample.id] = row
    _report_label_coverage(table, joined, config.label_set)
    return joined


def _report_label_coverage(
    table: LabelTable, joined: dict[str, LabelRow], label_set: list[str]
) -> None:
    used = {row.name for row in joined.values()}
    unmatched = sorted(name for name in table.rows if name not in used)
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (", ..." if len(unmatched) > 5 else "")
        log.warning("%s: %d names match no input file: %s", table.path, len(unmatched), shown)
    outside = table.outside(label_set)
    if outside:
        counts = ", ".join(f"{label} ({count})" for label, count in outside.most_common())
        log.warning(
            "%s: labels outside label_set: %s; those samples are marked outside_label_set",
            table.path,
            counts,
        )


def _report(source: str, problems: list[str]) -> None:
    for problem in problems[:MAX_LISTED_PROBLEMS]:
        log.warning("%s: %s", source, problem)
    if len(problems) > MAX_LISTED_PROBLEMS:
        log.warning("%s: ... and %d more problems", source, len(problems) - MAX_LISTED_PROBLEMS)
