"""Which samples the MERR files hold, and what each line and JSON value says: the files
Emotion-LLaMA loads unchanged (see ../shared/DESIGN.md, "MERR file formats").

``MERR_coarse_grained.json/.txt`` hold the coarse AND fine samples (fine is a subset of
coarse), ``MERR_fine_grained.json/.txt`` the fine ones. Each JSON value has exactly the keys
Emotion-LLaMA reads, in its order; ``peak_index`` and ``audio_prior_list`` are strings.
The ``.txt`` lines are ``<name> <frame_count> <label> <valence>``: the frame count is the
ingest probe's (duration x fps when the header had none, else 0) and the valence the label
stage's (else the CSV's), written as a float; an unknown valence is written ``0.0`` (the
Parquet and the card keep it unknown). A sample that cannot be written correctly is skipped
with a reason, never written half right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from merr_factory.dataset.entry import ExportEntry
from merr_factory.inputs.sample_ids import is_valid_sample_id
from merr_factory.knowledge.emotions import MERR_LABELS

COARSE = "MERR_coarse_grained"
FINE = "MERR_fine_grained"
WRITTEN_TIERS = ("coarse", "fine")
EMOTION_LLAMA_FEATURES = ("mae_340_UTT", "maeV_399_UTT", "HL-UTT")  # what its loader opens


class MerrNameError(ValueError):
    """Two samples would be written under the same MERR name."""


@dataclass(frozen=True)
class Skip:
    """A coarse or fine sample left out of a MERR file, and why."""

    sample_id: str
    file: str  # "coarse" or "fine"
    code: str
    message: str


@dataclass
class MerrSets:
    coarse: list[ExportEntry] = field(default_factory=list)
    fine: list[ExportEntry] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def select_merr(entries: list[ExportEntry]) -> MerrSets:
    """Which samples go to which MERR file, sorted by name; raises on a name collision."""
    sets = MerrSets()
    for entry in entries:
        if entry.tier not in WRITTEN_TIERS:
            continue
        problem = _coarse_problem(entry)
        if problem:
            sets.skipped.append(Skip(entry.sample_id, "coarse", *problem))
            continue
        sets.coarse.append(entry)
        if entry.tier == "fine":
            if entry.smp_reason_caption:
                sets.fine.append(entry)
            else:
                sets.skipped.append(
                    Skip(entry.sample_id, "fine", "no_reasoning", "fine tier without reasoning")
                )
    _check_unique_names(sets.coarse)
    sets.coarse.sort(key=lambda entry: entry.name)
    sets.fine.sort(key=lambda entry: entry.name)
    return sets


def _coarse_problem(entry: ExportEntry) -> tuple[str, str] | None:
    if entry.label not in MERR_LABELS:
        return "label_outside_nine", f"label {entry.label!r} is not one of Emotion-LLaMA's nine"
    if entry.kind != "video":
        return "not_a_clip", "a still image; Emotion-LLaMA reads clips"
    if not is_valid_sample_id(entry.name):
        return "unsafe_name", f"clip name {entry.name!r} has spaces or unsafe characters"
    if entry.peak_index is None:
        return "no_peak", "no peak frame (no face found)"
    if len(entry.AU_list) != len(entry.visual_prior_list):
        message = f"{len(entry.AU_list)} AUs but {len(entry.visual_prior_list)} visual phrases"
        return "misaligned_aus", message
    missing = [name for name in EMOTION_LLAMA_FEATURES if name not in entry.features]
    if entry.feature_models and missing:  # features are on, but this clip lacks some
        message = f"no {', '.join(missing)} feature (Emotion-LLaMA loads all three)"
        return "missing_features", message
    return None


def _check_unique_names(entries: list[ExportEntry]) -> None:
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.name in seen:
            raise MerrNameError(
                f"samples {seen[entry.name]!r} and {entry.sample_id!r} share the clip name "
                f"{entry.name!r}; MERR files are keyed by clip name, rename one of the clips"
            )
        seen[entry.name] = entry.sample_id


def merr_value(entry: ExportEntry, fine: bool) -> dict[str, Any]:
    """One JSON value, with Emotion-LLaMA's keys in its order."""
    value: dict[str, Any] = {
        "AU_list": list(entry.AU_list),
        "visual_prior_list": list(entry.visual_prior_list),
        "audio_prior_list": entry.audio_prior,
        "peak_index": str(entry.peak_index),
        "peak_AU_list": list(entry.peak_AU_list),
        "pseu_emotion": entry.label,
        "text": entry.subtitle,
    }
    if fine:
        value["smp_reason_caption"] = entry.smp_reason_caption
    else:
        value["caption"] = entry.caption
    return value


def frame_count(entry: ExportEntry) -> int:
    if entry.frame_count is not None:
        return entry.frame_count
    if entry.duration is not None and entry.fps:
        return round(entry.duration * entry.fps)
    return 0


def txt_line(entry: ExportEntry, frames: int | None = None) -> str:
    """``frames``: the count of a re-encoded clip, else the probe's (``frame_count``)."""
    valence = float(entry.valence) if entry.valence is not None else 0.0
    count = frames if frames is not None else frame_count(entry)
    return f"{entry.name} {count} {entry.label} {valence!r}"
