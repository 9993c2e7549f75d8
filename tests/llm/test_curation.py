"""The curation CSV format: written for a person to edit in a spreadsheet, read back with
row-level problems (the export writes it, the label stage reads it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from merr_factory.curation.decisions import (
    COLUMNS,
    CurationError,
    CurationRow,
    curation_text,
    read_curation_csv,
    write_curation_csv,
)


def test_round_trip_keeps_one_line_per_sample(tmp_path: Path) -> None:
    path = tmp_path / "curation.csv"
    rows = [
        CurationRow(id="a", label="happy", tier="fine", caption="Smiles.\nSaying: hi, you"),
        CurationRow(id="b", label="sad", tier="coarse", transcript='He said "no"', accept="no"),
    ]
    assert write_curation_csv(rows, path) == 2
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf" + ",".join(COLUMNS).encode() + b"\r\n")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 3  # the newline inside the caption did not split the row
    table = read_curation_csv(path)
    assert table.problems == []
    assert table.rows["a"].accept == "" and table.rows["a"].label == "happy"
    assert table.rows["a"].caption == "Smiles. Saying: hi, you"
    assert table.rows["b"].accept == "no" and table.rows["b"].line == 3
    assert table.rows["b"].transcript == 'He said "no"'


def test_curation_survives_a_spreadsheet_save(tmp_path: Path) -> None:
    tricky = CurationRow(
        id="s1",
        label="happy",
        tier="fine",
        caption='She says "yes, of course", then laughs',
        reasoning='=HYPERLINK("x") looks like a formula',
        transcript="-5 degrees; 我很高兴",
    )
    quoted = CurationRow(id="s2", caption="'quoted' start", reasoning="''two", transcript="'=x")
    written = tmp_path / "curation.csv"
    written.write_bytes(curation_text([tricky, quoted]).encode("utf-8-sig"))
    assert "'=HYPERLINK" in written.read_text(encoding="utf-8-sig")  # not run as a formula
    table = read_curation_csv(written)
    assert list(table.rows.values()) == [tricky, quoted] and table.problems == []
    # A spreadsheet re-save: columns reordered, ';' separator, no BOM, Windows-1252, "Yes".
    resaved = tmp_path / "resaved.csv"
    resaved.write_bytes(
        "accept;tier;id;label;caption;reasoning;transcript;note\r\n"
        "Yes;fine;s1;happy;café smile;;;mine\r\n"
        ";;;;;;;\r\n"
        "no;coarse;s2;sad;x;y;z;\r\n".encode("cp1252")
    )
    table = read_curation_csv(resaved)
    assert [(row.id, row.accept, row.caption, row.line) for row in table.rows.values()] == [
        ("s1", "yes", "café smile", 2),
        ("s2", "no", "x", 4),
    ]
    assert table.problems == []


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
        'c,,"coarse\nstill c",no,bob\n'
        "d,sad,coarse,y,bob,surplus\n"
        "e,sad,coarse,n,bob,,\n",
        encoding="utf-8",
    )
    table = read_curation_csv(path)
    assert set(table.rows) == {"a", "c", "e"}
    assert table.rows["a"].accept == "yes"
    assert table.rows["c"].label == "" and table.rows["c"].caption == ""
    assert table.rows["e"].accept == "no" and table.rows["e"].line == 9
    assert table.problems == [
        f"{path}:3: accept must be empty, yes or no (got 'maybe')",
        f"{path}:4: empty id",
        f"{path}:5: duplicate id 'a' (see line 2)",
        f"{path}:8: more fields than columns",  # line 6 holds a field spanning two lines
    ]


@pytest.mark.parametrize(
    "header",
    ["id,label\r\na,happy\r\n", "id,label,tier,caption,reasoning,transcript\r\n"],
)
def test_missing_file_or_column_is_one_clear_error(tmp_path: Path, header: str) -> None:
    with pytest.raises(CurationError, match="curation file not found"):
        read_curation_csv(tmp_path / "none.csv")
    path = tmp_path / "c.csv"
    path.write_text(header, encoding="utf-8")
    with pytest.raises(CurationError, match=r"c\.csv: missing column\(s\): accept$"):
        read_curation_csv(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(CurationError, match=r"c\.csv: missing column\(s\): id, accept$"):
        read_curation_csv(path)
