"""The names of the export formats (the stage's settings are in stages/export.py)."""

from __future__ import annotations

from typing import Literal

Format = Literal[
    "merr", "sharegpt", "instructions", "parquet", "curation", "card", "plots", "report"
]
ALL_FORMATS: tuple[Format, ...] = (
    "merr",
    "sharegpt",
    "instructions",
    "parquet",
    "curation",
    "card",
    "plots",
    "report",
)
