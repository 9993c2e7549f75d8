"""Reading MER2023-style label CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest

from merr_factory.inputs.labels import LabelFileError, read_label_table


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_mer2023_columns(tmp_path: Path) -> None:
    table = read_label_table(write(tmp_path, "name,discrete,valence\nsample_1,Happy ,2.5\n"))
    row = table.rows["sample_1"]
    assert (row.label, row.valence, row.line) == ("happy", 2.5, 2)
    assert table.problems == []


def test_name_label_columns_with_bom_and_extensions(tmp_path: Path) -> None:
    path = write(tmp_path, "Name,Label\nclip_a.mp4,sad\nclip_b,\n", encoding="utf-8-sig")
    table = read_label_table(path)
    assert table.rows["clip_a"].label == "sad"
    assert table.rows["clip_a"].valence is None
    assert table.rows["clip_b"].label is None


def test_bad_rows_are_reported_not_fatal(tmp_path: Path) -> None:
    text = "name,discrete,valence\na,happy,x\na,sad,1\n,sad,1\nb\nc,disgust,-1\n"
    table = read_label_table(write(tmp_path, text))
    assert set(table.rows) == {"a", "c"}
    assert table.rows["a"].label == "happy"  # the first of the duplicates wins
    problems = "\n".join(table.problems)
    assert "line 2: valence 'x' is not a number" in problems
    assert "line 3: duplicate name 'a' (first on line 2)" in problems
    assert "line 4: empty name" in problems
    assert "line 5: too few columns" in problems
    assert table.outside(["happy", "sad"]) == {"disgust": 1}


def test_missing_columns_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match="needs columns 'name' and 'discrete'"):
        read_label_table(write(tmp_path, "file,emotion\na,happy\n"))


def test_binary_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(LabelFileError, match="not a UTF-8 text file"):
        read_label_table(path)


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [
        ("utf-16-le", "it holds NUL bytes (UTF-16 without a byte order mark, or not text"),
        ("utf-16", "it is UTF-16; save it as UTF-8"),  # with its byte order mark
        ("cp1252", "byte 0xe9 at offset 16 is not UTF-8"),
    ],
)
def test_a_label_file_not_in_utf8_is_one_readable_line(
    tmp_path: Path, encoding: str, reason: str
) -> None:
    path = write(tmp_path, "name,discrete\nclé,happy\n", encoding=encoding)
    with pytest.raises(LabelFileError) as raised:
        read_label_table(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: not a UTF-8 text file: ") and reason in message
    assert message.isprintable(), message


def test_control_characters_in_a_header_are_escaped(tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match=r"found file\\x1b\[31m, emotion$") as raised:
        read_label_table(write(tmp_path, "file\x1b[31m,emotion\na,happy\n"))
    assert str(raised.value).isprintable()
