"""export: the dataset files (MERR json/txt, ShareGPT, instructions, Parquet, curation CSV,
quality report, dataset card, plots, HTML report) from every stage's output.

Per sample, ``process`` gathers the upstream fields into one export entry (the record data);
``finalize`` writes all files from the entries of the current, kept samples. The runner
builds them in a fresh folder and swaps it into ``<output>/export/`` atomically, and only
when an entry or a setting changed, so a re-export costs nothing when nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from merr_factory.dataset.entry import ExportEntry, build_entry, read_entry
from merr_factory.export.settings import ExportSettings
from merr_factory.inputs.discovery import SampleSource
from merr_factory.inputs.labels import LabelRow
from merr_factory.run.records import Record
from merr_factory.run.store import Store
from merr_factory.stages.base import SampleContext, Stage, StageResult


class ExportStage(Stage[ExportSettings]):
    name = "export"
    summary = "MERR json/txt, ShareGPT, Parquet, quality report, card, plots and HTML report."
    settings_model = ExportSettings
    output_model = ExportEntry
    requires = ("label", "features")
    version = "2"  # 2: entries hold the label stage's votes, for the quality report

    def thread_safe(self) -> bool:
        """No model: an entry is built from the sample's own records."""
        return True

    def identity(self) -> dict[str, Any]:
        # An entry gathers upstream fields whatever the settings say (they choose formats,
        # names, links): changing one rewrites the files, not 100k entries.
        return {"stage": self.name, "version": self.version}

    def final_identity(self) -> dict[str, Any]:
        return super().identity()

    def source_identity(self, source: SampleSource, label: LabelRow | None) -> Any:
        # The entry holds the clip's absolute path (to link it into the export), so a moved
        # input folder makes it stale; the file's content is never read here.
        return source.resolved()

    def process(self, sample: SampleContext) -> StageResult:
        entry = build_entry(
            sample.source.id, sample.source.resolved_path(), sample.upstream, sample.store
        )
        return StageResult(data=entry)

    def finalize(self, records: Iterable[Record], target: Path, store: Store) -> None:
        # Imported here: every file format, the report and the plots are more than half of
        # what loading a config imports otherwise (the config names every stage).
        from merr_factory.export.writer import write_export

        strings: dict[str, str] = {}  # one copy of each word 100k entries repeat
        entries = [read_entry(record.data, strings) for record in records]
        write_export(entries, self.settings, store, target)
