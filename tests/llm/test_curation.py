"""The curation CSV: written for a person to edit, read back with row-level problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from merr_factory.curation import (
    COLUMNS,
    CurationError,
    read_curation_csv,
    write_curation_csv,
)


def test_round_trip_keeps_one_line_per_sample(tmp_path: Path) -> None:
    path = tmp_path / "curation.csv"
    rows = [
        {"id": "a", "label": "happy", "tier": "fine", "caption": "Smiles.\nSaying: hi, you"},
        {"id": "b", "label": "sad", "tier": "coarse", "transcript": 'He said "no"', "accept": "no"},
    ]
    assert write_curation_csv(rows, path) == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 3  # the newline inside the caption did not split the row
    table = read_curation_csv(path)
    assert table.problems == []
    assert table.rows["a"].accept is None and table.rows["a"].label == "happy"
    assert table.rows["b"].accept == "no" and table.rows["b"].line == 3


def test_bad_rows_are_reported_with_line_numbers_and_extra_columns_are_fine(
    tmp_path: Path,
) -> None:
    path = tmp_path / "curation.csv"
    path.write_text(
        "id,label,tier,accept,reviewer\n"
        "a,happy,fine,YES,ann\n"
        "b,sad,coarse,maybe,ann\n"
        ",sad,coarse,no,ann\n"
        "a,happy,fine,no,bob\n"
        "c,,coarse,no,bob\n",
        encoding="utf-8",
    )
    table = read_curation_csv(path)
    assert set(table.rows) == {"a", "c"}
    assert table.rows["a"].accept == "yes"
    assert table.rows["c"].label is None
    assert table.problems == [
        f"{path}:3: accept must be empty, yes or no (got 'maybe')",
        f"{path}:4: empty id",
        f"{path}:5: duplicate id 'a' (see line 2)",
    ]


def test_missing_file_or_column_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CurationError, match="curation file not found"):
        read_curation_csv(tmp_path / "none.csv")
    path = tmp_path / "c.csv"
    path.write_text("id,label\na,happy\n", encoding="utf-8")
    with pytest.raises(CurationError, match=r"c\.csv: missing column\(s\): accept"):
        read_curation_csv(path)
