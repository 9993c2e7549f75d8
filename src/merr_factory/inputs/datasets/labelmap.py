"""The label-map step: a dataset's words to the run's ``label_set``, or a reason why not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MappedLabel:
    """``label`` is the run's word; when the native word maps to none, ``label`` keeps the
    native word (the record keeps it) and ``excluded`` says why the sample is excluded."""

    label: str | None
    excluded: str | None = None


def merged_map(
    default: Mapping[str, str], override: Mapping[str, str | None]
) -> dict[str, str | None]:
    """The adapter's default map with the config's entries over it (None: exclude)."""
    return {**default, **override}


def map_label(
    native: str | None, mapping: Mapping[str, str | None], label_set: tuple[str, ...], dataset: str
) -> MappedLabel:
    """Map one native label. A word the map does not name is kept when it is already a label
    of the run; else, and when the map sends it to null or outside ``label_set``, the
    sample is excluded with the reason."""
    if native is None:
        return MappedLabel(None)
    if native in mapping:
        target = mapping[native]
        if target is None:
            return MappedLabel(native, f"{dataset} label {native!r} is excluded by the label map")
        if target not in label_set:
            return MappedLabel(
                target, f"{dataset} label {native!r} maps to {target!r}, outside the label set"
            )
        return MappedLabel(target)
    if native in label_set:
        return MappedLabel(native)
    return MappedLabel(
        native,
        f"{dataset} label {native!r} has no mapping to the label set "
        "(map it with input.label_map to include it)",
    )
