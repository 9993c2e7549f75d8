"""docs/users/datasets.md lists every adapter with its default label map as shipped."""

from __future__ import annotations

from pathlib import Path

from merr_factory.inputs.datasets import ADAPTERS

DOC = Path(__file__).parents[2] / "docs" / "users" / "datasets.md"


def test_the_table_shows_every_default_map() -> None:
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `") and not line.startswith("| `dataset`")
    }
    assert set(rows) == set(ADAPTERS)
    for name, adapter in ADAPTERS.items():
        shown = rows[name].split("|")[3].strip()
        expected = ", ".join(f"{word} → {label}" for word, label in adapter.label_map.items())
        assert shown == (expected or "none (see below)"), name
