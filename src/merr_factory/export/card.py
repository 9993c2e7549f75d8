"""The dataset card: ``README.md`` in the export folder, with Hugging Face front matter.

It holds the statistics in the MERR paper's shape (per label: coarse and fine counts, then
totals), AU frequency, tone distribution, languages, why samples were rejected or left out,
and which models and prompt versions made the data. No dates: a re-export is byte-identical.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from merr_factory.export.features import PLACEHOLDER_NOTE, has_placeholders
from merr_factory.export.parquet import split_file
from merr_factory.export.quality_section import quality_markdown
from merr_factory.export.stats import ExportStats
from merr_factory.quality.report import QualityReport

CARD_FILE = "README.md"
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"))
FILES = {
    "MERR_coarse_grained.json / .txt": "coarse set (coarse and fine samples), Emotion-LLaMA format",
    "MERR_fine_grained.json / .txt": "fine set, Emotion-LLaMA format",
    "merr_sharegpt.json, dataset_info.json": "ShareGPT conversations for LLaMA-Factory",
    "emotion_llama_instructions.json": "[emotion] / [reason] / [reason_v2] instruction pairs",
    "merr.parquet": "one row per coarse or fine sample, for Hugging Face datasets",
    "curation.csv": "one row per sample for manual review (accept: empty, yes or no)",
    "quality.json": "the quality report: label sources against the CSV label, the "
    "reasoning's grounding, the distributions beside MERR's (the Quality section above)",
    "plots/*.png": "label distribution, AU frequency, clip durations; quality: confusion "
    "matrices, AUs by label",
    "report.html": "browsable report (open it in a browser; no server needed)",
    "frames/, audio/, videos/": "peak frames, 16 kHz audio, clips (.mp4 or .avi; links or copies)",
    "transcription_en_all.csv": "the sentence of every clip, as Emotion-LLaMA reads it",
    "HL-UTT/, mae_340_UTT/, maeV_399_UTT/": "pre-extracted features, <name>.npy (1024 floats)",
    "features.json": "which models made the features, and whether they are placeholders",
}


@dataclass(frozen=True)
class CardInfo:
    """What the card says besides the numbers (from the export settings)."""

    pretty_name: str
    license: str
    dataset_name: str
    formats: Sequence[str]
    features: Mapping[str, Any] | None = None  # features_summary(), when MERR files are written
    quality: QualityReport | None = None  # the "Quality" section, when quality.json is written
    plots: bool = False  # the plots are written (the Quality section shows its PNGs)
    splits: Sequence[str] = ()  # the Parquet file's splits, each in its own file, when several


def render_card(stats: ExportStats, info: CardInfo) -> str:
    return _front_matter(stats, info) + "\n".join(_body(stats, info)) + "\n"


def _front_matter(stats: ExportStats, info: CardInfo) -> str:
    languages = sorted(code for code in stats.languages if code != "unknown")
    meta: dict[str, object] = {"pretty_name": info.pretty_name, "license": info.license}
    if languages:
        meta["language"] = languages
    meta["task_categories"] = ["video-classification", "video-text-to-text"]
    meta["tags"] = ["emotion-recognition", "emotion-reasoning", "multimodal", "merr"]
    meta["size_categories"] = [_size_category(stats.samples)]
    if "parquet" in info.formats:
        files = [{"split": split, "path": split_file(split)} for split in info.splits]
        meta["configs"] = [
            {
                "config_name": "default",
                "data_files": files or [{"split": "train", "path": "merr.parquet"}],
            }
        ]
    text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{text}---\n\n"


def _size_category(samples: int) -> str:
    for limit, name in SIZE_CATEGORIES:
        if samples < limit:
            return name
    return "100K<n<1M"


def _body(stats: ExportStats, info: CardInfo) -> list[str]:
    lines = [
        f"# {info.pretty_name}",
        "",
        "A multimodal emotion recognition and reasoning dataset in the MERR format of "
        "Emotion-LLaMA, built by merr-factory (`merr-build`) from talking-face clips: peak "
        "frame Action Units, voice tone, transcript, a template caption (coarse) and LLM "
        "reasoning (fine).",
        "",
        f"{stats.samples} samples reached the export: {stats.tiers['coarse']} coarse, "
        f"{stats.tiers['fine']} fine, {stats.tiers['rejected']} rejected. The MERR coarse "
        f"files hold {stats.coarse_total} samples (coarse and fine), the fine files "
        f"{stats.fine_total}.",
        "",
        "## Statistics",
        "",
        *_table(
            ("label", "coarse", "fine"),
            [*stats.label_rows(), ("**total**", stats.coarse_total, stats.fine_total)],
        ),
        "",
        *_section("AU frequency", _au_rows(stats), ("AU", "in AU_list", "at the peak")),
        *_counter_section("Tone distribution (coarse set)", "tone", stats.tones),
        *_counter_section("Languages (all samples)", "language", stats.languages),
        *_counter_section("Rejected samples by reason", "reason", stats.rejected),
        *_skip_section(stats),
        *_models_section(stats),
        *_features_section(info.features),
        *_notes(stats),
        *(quality_markdown(info.quality, info.plots) if info.quality is not None else []),
        "## Files",
        "",
        *_table(("file", "content"), FILES.items()),
        "",
        f"Formats written: {', '.join(info.formats)}. LLaMA-Factory: copy the "
        f"`{info.dataset_name}` entry of `dataset_info.json` into yours and set `media_dir` "
        "to this folder.",
    ]
    return lines


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _section(title: str, rows: list[Sequence[object]], header: Sequence[str]) -> list[str]:
    body = _table(header, rows) if rows else ["(none)"]
    return [f"### {title}", "", *body, ""]


def _counter_section(title: str, key: str, counts: Counter[str]) -> list[str]:
    return _section(title, _sorted_counts(counts), (key, "samples"))


def _sorted_counts(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _au_rows(stats: ExportStats) -> list[Sequence[object]]:
    names = sorted(set(stats.au_rule) | set(stats.au_peak))
    return [(name, stats.au_rule[name], stats.au_peak[name]) for name in names]


def _skip_section(stats: ExportStats) -> list[str]:
    rows = [(f"MERR {file}", code, count) for (file, code), count in sorted(stats.skipped.items())]
    rows += [
        ("label outside the nine", label, n) for label, n in sorted(stats.outside_labels.items())
    ]
    return _section("Left out of the MERR files", rows, ("file", "reason", "samples"))


def _models_section(stats: ExportStats) -> list[str]:
    rows = [
        (kind, model, count)
        for kind, counts in stats.models.items()
        for model, count in _sorted_counts(counts)
    ]
    return _section("Models and prompts", rows, ("step", "model / version", "samples"))


def _features_section(summary: Mapping[str, Any] | None) -> list[str]:
    if summary is None:
        return []
    rows = [
        (
            name,
            item["samples"],
            ", ".join(item["models"]) or "-",
            "yes" if item["placeholder"] else "no",
        )
        for name, item in summary.items()
    ]
    lines = _section("Pre-extracted features", rows, ("folder", "samples", "model", "placeholder"))
    if has_placeholders(summary):
        lines[2:2] = [f"**{PLACEHOLDER_NOTE}**", ""]
    return lines


def _notes(stats: ExportStats) -> list[str]:
    return [
        "### Notes",
        "",
        "- Labels follow Emotion-LLaMA's nine: neutral, angry, happy, sad, worried, surprise, "
        "fear, contempt, doubt; any other label is counted above and never written to MERR.",
        "- `.txt` lines are `<name> <frame_count> <label> <valence>`; an unknown valence is "
        f"written `0.0` ({stats.valence_unknown} samples of the coarse set); the Parquet keeps "
        "it empty.",
        "- `text` is the English subtitle where one exists, else the transcript as spoken.",
        "",
    ]
