"""The card's plots as PNG: label distribution (coarse vs fine), AU frequency, clip durations.

Rendered with matplotlib's Agg canvas on private Figure objects (no pyplot global state, safe
beside other threads), with the PNG's "Software" tag removed so that the same numbers give
byte-identical files whatever the date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from merr_factory.export.stats import ExportStats
from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.optional import require

PLOTS_DIR = "plots"
LABELS_PNG = "labels.png"
AUS_PNG = "au_frequency.png"
DURATIONS_PNG = "durations.png"
TIER_ORDER = ("coarse", "fine", "rejected")


def new_figure(size: tuple[float, float] = (7, 4)) -> Any:
    """A private matplotlib Figure (no pyplot state) of ``size`` inches at 100 dpi."""
    require("matplotlib", "export", "the export plots")
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=100)


def save_png(figure: Any, path: Path, integer_y: bool = True) -> Path:
    """Lay out and write ``figure`` as a PNG without a version tag (byte-identical for the
    same numbers). ``integer_y``: counts on the y axis, whole numbers only."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator

    if integer_y:
        for axes in figure.axes:
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    return path


def plot_labels(stats: ExportStats, path: Path) -> Path:
    figure = new_figure()
    axes = figure.add_subplot()
    positions = range(len(MERR_LABELS))
    coarse = [stats.coarse_labels[label] for label in MERR_LABELS]
    fine = [stats.fine_labels[label] for label in MERR_LABELS]
    axes.bar([x - 0.2 for x in positions], coarse, width=0.4, label="MERR coarse (coarse + fine)")
    axes.bar([x + 0.2 for x in positions], fine, width=0.4, label="MERR fine")
    axes.set_xticks(list(positions), MERR_LABELS, rotation=30)
    axes.set_ylabel("samples")
    axes.set_title("Labels: coarse vs fine")
    axes.legend()
    return save_png(figure, path)


def plot_aus(stats: ExportStats, path: Path) -> Path:
    figure = new_figure()
    axes = figure.add_subplot()
    names = sorted(set(stats.au_rule) | set(stats.au_peak))
    positions = range(len(names))
    axes.bar([x - 0.2 for x in positions], [stats.au_rule[n] for n in names], 0.4, label="AU_list")
    axes.bar([x + 0.2 for x in positions], [stats.au_peak[n] for n in names], 0.4, label="peak")
    axes.set_xticks(list(positions), names, rotation=60)
    axes.set_ylabel("samples (coarse set)")
    axes.set_title("Action Unit frequency")
    if names:
        axes.legend()
    return save_png(figure, path)


def plot_durations(stats: ExportStats, path: Path) -> Path:
    figure = new_figure()
    axes = figure.add_subplot()
    tiers = [tier for tier in TIER_ORDER if stats.durations.get(tier)]
    if tiers:
        axes.hist([stats.durations[tier] for tier in tiers], bins=20, stacked=True, label=tiers)
        axes.legend()
    axes.set_xlabel("clip duration (s)")
    axes.set_ylabel("samples")
    axes.set_title("Clip durations by tier")
    return save_png(figure, path)


def write_plots(stats: ExportStats, folder: Path) -> list[Path]:
    target = folder / PLOTS_DIR
    target.mkdir(parents=True, exist_ok=True)
    return [
        plot_labels(stats, target / LABELS_PNG),
        plot_aus(stats, target / AUS_PNG),
        plot_durations(stats, target / DURATIONS_PNG),
    ]
