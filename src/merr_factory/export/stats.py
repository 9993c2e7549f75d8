"""The numbers the dataset card and the plots show, computed once from the export entries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from merr_factory.dataset.entry import ExportEntry
from merr_factory.dataset.merr import MerrSets
from merr_factory.knowledge.emotions import MERR_LABELS

MODEL_KINDS = ("faces", "asr", "llm", "prompt_version", "tone_source")


@dataclass
class ExportStats:
    samples: int = 0
    tiers: Counter[str] = field(default_factory=Counter)
    coarse_labels: Counter[str] = field(default_factory=Counter)
    fine_labels: Counter[str] = field(default_factory=Counter)
    au_rule: Counter[str] = field(default_factory=Counter)
    au_peak: Counter[str] = field(default_factory=Counter)
    tones: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    outside_labels: Counter[str] = field(default_factory=Counter)
    models: dict[str, Counter[str]] = field(default_factory=dict)
    valence_unknown: int = 0
    durations: dict[str, list[float]] = field(default_factory=dict)

    @property
    def coarse_total(self) -> int:
        return sum(self.coarse_labels.values())

    @property
    def fine_total(self) -> int:
        return sum(self.fine_labels.values())

    def label_rows(self) -> list[tuple[str, int, int]]:
        """(label, coarse count, fine count) for the nine labels in Emotion-LLaMA's order."""
        return [
            (label, self.coarse_labels[label], self.fine_labels[label]) for label in MERR_LABELS
        ]


def compute_stats(entries: list[ExportEntry], sets: MerrSets) -> ExportStats:
    stats = ExportStats(samples=len(entries))
    stats.models = {kind: Counter() for kind in MODEL_KINDS}
    for entry in entries:
        stats.tiers[entry.tier] += 1
        stats.languages[entry.language or "unknown"] += 1
        if entry.label is not None and entry.label not in MERR_LABELS:
            stats.outside_labels[entry.label] += 1
        if entry.tier == "rejected":
            codes = {reason.code for reason in entry.reasons} or {"unspecified"}
            stats.rejected.update(codes)
        if entry.duration is not None:
            stats.durations.setdefault(entry.tier, []).append(entry.duration)
        for kind in MODEL_KINDS:
            stats.models[kind][entry.models.get(kind) or "none"] += 1
    for entry in sets.coarse:
        stats.coarse_labels[entry.label or ""] += 1
        stats.au_rule.update(entry.AU_list)
        stats.au_peak.update(entry.peak_AU_list)
        stats.tones[entry.tone or "no speech"] += 1
        stats.valence_unknown += entry.valence is None
    for entry in sets.fine:
        stats.fine_labels[entry.label or ""] += 1
    for skip in sets.skipped:
        stats.skipped[(skip.file, skip.code)] += 1
    return stats
