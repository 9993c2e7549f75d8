"""Writes every export format into one folder from the export entries.

The same entries and settings give byte-identical files: entries are sorted, keys are fixed
or sorted, no file holds a date, and the plots carry no version tag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from merr_factory.dataset.entry import ExportEntry
from merr_factory.dataset.merr import MerrSets, select_merr
from merr_factory.export.card import CARD_FILE, CardInfo, render_card
from merr_factory.export.curation import write_curation
from merr_factory.export.features import features_summary, write_features_summary
from merr_factory.export.instructions import write_instructions
from merr_factory.export.media import (
    ExportMedia,
    place_audio,
    place_features,
    place_frames,
    place_videos,
)
from merr_factory.export.merr import write_human_checked, write_merr
from merr_factory.export.parquet import parquet_splits, write_parquet
from merr_factory.export.plots import write_plots
from merr_factory.export.quality_plots import write_quality_plots
from merr_factory.export.report import write_report
from merr_factory.export.settings import ExportSettings
from merr_factory.export.sharegpt import write_sharegpt
from merr_factory.export.stats import ExportStats, compute_stats
from merr_factory.export.transcripts import misread_names, write_transcripts
from merr_factory.quality.report import QUALITY_FILE, QualityReport, build_quality, quality_json
from merr_factory.run.atomic import write_text_atomic

if TYPE_CHECKING:
    from merr_factory.run.store import Store

log = logging.getLogger(__name__)


@dataclass
class ExportSummary:
    sets: MerrSets
    stats: ExportStats
    media: ExportMedia
    quality: QualityReport | None = None
    files: list[Path] = field(default_factory=list)


def write_export(
    entries: list[ExportEntry], settings: ExportSettings, store: Store, folder: Path
) -> ExportSummary:
    """Write the formats ``settings.formats`` names into ``folder`` (which exists)."""
    entries = sorted(entries, key=lambda entry: entry.sample_id)
    formats = set(settings.formats)
    sets = select_merr(entries)  # raises on a clip name collision, before anything is written
    stats = compute_stats(entries, sets)
    media = _place_media(entries, sets, settings, store, folder)
    quality = build_quality(entries, sets) if "quality" in formats else None
    summary = ExportSummary(sets=sets, stats=stats, media=media, quality=quality)
    files = summary.files
    if "merr" in formats:
        files += write_merr(sets, folder, media.frame_counts)
        files += write_human_checked(sets, folder, media.frame_counts)
    if "sharegpt" in formats:
        files += write_sharegpt(
            sets.coarse, media, folder, settings.dataset_name, settings.sharegpt_media
        )
    if "instructions" in formats:
        files.append(write_instructions(sets.coarse, sets.fine, folder))
    feature_summary = None
    if formats & {"merr", "instructions"}:
        feature_summary = features_summary(sets.coarse, media)
        files.append(write_transcripts(sets.coarse, folder))
        _warn_misread_names(sets)
        files.append(write_features_summary(feature_summary, folder))
    if "parquet" in formats:
        files += write_parquet(entries, media, sets, folder)
    if "curation" in formats:
        files.append(write_curation(entries, folder))
    if quality is not None:
        files.append(write_quality(quality, folder))
    plots = "plots" in formats
    if plots:
        files += write_plots(stats, folder)
        if quality is not None:
            files += write_quality_plots(quality, folder)
    if "report" in formats:
        files.append(
            write_report(entries, media, folder, settings.pretty_name, quality, plots=plots)
        )
    if "card" in formats:
        info = CardInfo(
            pretty_name=settings.pretty_name,
            license=settings.license,
            dataset_name=settings.dataset_name,
            formats=settings.formats,
            features=feature_summary,
            quality=quality,
            plots=plots,
            splits=parquet_splits(entries),
        )
        card = folder / CARD_FILE
        card.write_text(render_card(stats, info), "utf-8")
        files.append(card)
    for problem in media.missing:
        log.warning("export: %s", problem)
    return summary


def _warn_misread_names(sets: MerrSets) -> None:
    misread = misread_names([entry.name for entry in sets.coarse])
    if misread:
        log.warning(
            "export: pandas reads %d MERR name(s) of transcription_en_all.csv as numbers or "
            "missing values (%s), so Emotion-LLaMA finds no sentence for those clips; give the "
            "clips names with a letter (e.g. clip_00001)",
            len(misread),
            ", ".join(misread[:3]) + (", ..." if len(misread) > 3 else ""),
        )


def write_quality(report: QualityReport, folder: Path) -> Path:
    path = folder / QUALITY_FILE
    write_text_atomic(path, quality_json(report))
    return path


def _place_media(
    entries: list[ExportEntry],
    sets: MerrSets,
    settings: ExportSettings,
    store: Store,
    folder: Path,
) -> ExportMedia:
    formats = set(settings.formats)
    media = ExportMedia()
    if formats & {"report", "parquet"}:
        place_frames(entries, store, folder, media)
    if "sharegpt" in formats and settings.sharegpt_media == "video+audio":
        place_audio(sets.coarse, store, folder, media, link=settings.link_audio)
    if formats & {"sharegpt", "merr", "instructions"} and settings.link_videos:
        place_videos(sets.coarse, folder, media)
    if formats & {"merr", "instructions"}:
        place_features(sets.coarse, store, folder, media)
    return media
