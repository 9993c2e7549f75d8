"""The quality report's plots: a heat map of each label source's confusion matrix against
the CSV label, and the AU-by-label co-occurrence beside MERR's, with MERR's AU rules boxed.

Drawn like plots.py (private Figures, no version tag: byte-identical for the same numbers).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from merr_factory.export.plots import PLOTS_DIR, new_figure, save_png
from merr_factory.knowledge.au import MERR_RULES, MERR_VOCABULARY, au_number
from merr_factory.quality.report import QualityReport, SourceAgreement, label_order, source_name

AU_BY_LABEL_PNG = "quality_au_by_label.png"


def confusion_png(source: str) -> str:
    """The file name of a source's confusion heat map (a safe name whatever the source)."""
    return f"quality_confusion_{re.sub(r'[^a-z0-9]+', '_', source.lower()).strip('_')}.png"


def plot_confusion(agreement: SourceAgreement, path: Path) -> Path:
    labels = agreement.labels
    size = max(3.5, 1.0 + 0.55 * len(labels))
    figure = new_figure((size + 1.2, size))
    axes = figure.add_subplot()
    if labels:
        image = axes.imshow(agreement.confusion, cmap="Blues", vmin=0)
        peak = max((max(row) for row in agreement.confusion), default=0)
        for row, counts in enumerate(agreement.confusion):
            for column, count in enumerate(counts):
                colour = "white" if peak and count > peak / 2 else "black"
                axes.text(column, row, str(count), ha="center", va="center", color=colour)
        axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        axes.set_yticks(range(len(labels)), labels)
        from matplotlib.ticker import MaxNLocator

        bar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="samples")
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        axes.text(0.5, 0.5, "no samples to compare", ha="center", va="center")
        axes.set_xticks([])
        axes.set_yticks([])
    what = "valence" if agreement.space == "valence" else "label"
    name = source_name(agreement)
    axes.set_xlabel(f"{name}" if agreement.space == "valence" else f"{name} ({what})")
    axes.set_ylabel(f"CSV label ({what})")
    share = "" if agreement.accuracy is None else f", accuracy {agreement.accuracy:.0%}"
    axes.set_title(f"{name} vs CSV: {agreement.compared} samples{share}", fontsize=10)
    return save_png(figure, path, integer_y=False)


def plot_au_by_label(report: QualityReport, path: Path) -> Path:
    ours, merr = report.au_by_label, report.merr.fine
    labels = label_order([*MERR_RULES, *ours.samples])
    extra = {au for counts in ours.counts.values() for au in counts} - set(MERR_VOCABULARY)
    aus = [*MERR_VOCABULARY, *sorted(extra, key=au_number)]
    figure = new_figure((14, 4.6))
    *panel_axes, bar_axes = figure.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 0.03]})
    panels = (
        (ours.counts, ours.samples, f"this dataset: labelled samples with a peak "
         f"({sum(ours.samples.values())})"),
        (merr.peak_aus_by_label, merr.labels, f"MERR's fine file ({merr.records:,} records)"),
    )  # fmt: skip
    image = None
    for axes, (counts, samples, title) in zip(panel_axes, panels, strict=True):
        shares = _shares(counts, samples, labels, aus)
        image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        _box_rules(axes, labels, aus)
        axes.set_xticks(range(len(aus)), [au[2:] for au in aus], fontsize=8)
        axes.set_yticks(
            range(len(labels)), [f"{label} ({samples.get(label, 0)})" for label in labels]
        )
        axes.set_xlabel("AU active at the peak (boxed: MERR's rule for the label)")
        axes.set_title(title, fontsize=10)
    figure.colorbar(image, cax=bar_axes, label="share of the label's samples")
    return save_png(figure, path, integer_y=False)


def _shares(
    counts: dict[str, dict[str, int]], samples: dict[str, int], labels: list[str], aus: list[str]
) -> list[list[float]]:
    return [
        [counts.get(label, {}).get(au, 0) / samples[label] if samples.get(label) else 0.0
         for au in aus]
        for label in labels
    ]  # fmt: skip


def _box_rules(axes: Any, labels: list[str], aus: list[str]) -> None:
    from matplotlib.patches import Rectangle

    for row, label in enumerate(labels):
        for au in MERR_RULES.get(label, ()):
            if au in aus:
                corner = (aus.index(au) - 0.5, row - 0.5)
                axes.add_patch(Rectangle(corner, 1, 1, fill=False, edgecolor="#d35400", lw=1.6))


def write_quality_plots(report: QualityReport, folder: Path) -> list[Path]:
    target = folder / PLOTS_DIR
    target.mkdir(parents=True, exist_ok=True)
    files = [
        plot_confusion(agreement, target / confusion_png(agreement.source))
        for agreement in report.agreement
    ]
    files.append(plot_au_by_label(report, target / AU_BY_LABEL_PNG))
    return files
