"""``frames.csv``: its typed reader gives back the rows its writer was given."""

from __future__ import annotations

from pathlib import Path

from merr_factory.backends.faces.base import Box, FaceTable, FrameRow
from merr_factory.backends.faces.frames_csv import read_frames_csv, write_frames_csv


def test_rows_survive_a_round_trip_with_the_csv_precision(tmp_path: Path) -> None:
    rows = [
        FrameRow(index=0, time=0.0),  # no face
        FrameRow(
            index=5,
            time=0.2,
            box=Box(10.04, 20.0, 30.0, 40.0),
            confidence=0.98765,
            intensities={"AU01": 1.23456, "AU12": 0.0},
            presence={"AU01": 1, "AU12": 0},
        ),
        FrameRow(index=10, time=0.4, box=Box(1, 2, 3, 4), intensities={"AU12": 2.5}),
    ]
    table = FaceTable(rows=rows, au_names=["AU01", "AU12"], frames_total=11)
    write_frames_csv(tmp_path / "frames.csv", table)
    back = read_frames_csv(tmp_path / "frames.csv")
    assert [row.index for row in back] == [0, 5, 10]
    assert back[0].box is None and back[0].intensities == {} and not back[0].has_face
    assert back[1].box == Box(10.0, 20.0, 30.0, 40.0)
    assert back[1].confidence == 0.9877
    assert back[1].intensities == {"AU01": 1.2346, "AU12": 0.0}
    assert back[1].presence == {"AU01": 1, "AU12": 0}
    assert back[2].intensities == {"AU12": 2.5}  # AU01 was not measured: absent, not 0


def test_expression_columns_round_trip(tmp_path: Path) -> None:
    rows = [
        FrameRow(index=0, time=0.0),
        FrameRow(
            index=1,
            time=0.2,
            box=Box(1, 2, 3, 4),
            intensities={"AU12": 1.0},
            expression={"happy": 0.912345, "sad": 0.087655},
        ),
        FrameRow(index=2, time=0.4, box=Box(1, 2, 3, 4), intensities={"AU12": 1.0}),
    ]
    names = ["happy", "sad"]
    table = FaceTable(rows=rows, au_names=["AU12"], frames_total=3, expression_names=names)
    write_frames_csv(tmp_path / "frames.csv", table)
    header = (tmp_path / "frames.csv").read_text().splitlines()[0].split(",")
    assert header[-2:] == ["expression_happy", "expression_sad"]
    back = read_frames_csv(tmp_path / "frames.csv")
    assert back[0].expression == {} and back[2].expression == {}  # no face; not classified
    assert back[1].expression == {"happy": 0.9123, "sad": 0.0877}
    assert back[1].intensities == {"AU12": 1.0} and back[1].presence == {}
