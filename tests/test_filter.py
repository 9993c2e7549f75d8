"""The filter stage on the real sample clips and on broken files: keep/drop with reasons."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_pipeline, tally
from .test_probe import remux


def verdicts(output: Path) -> dict[str, tuple[bool, list[str]]]:
    folder = output / "stages" / "filter"
    result = {}
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text())["data"]
        result[path.stem] = (data["keep"], [reason["code"] for reason in data["reasons"]])
    return result


def test_defaults_keep_every_sample_clip(write_config, tmp_path: Path) -> None:
    summary = run_pipeline(write_config())
    assert tally(summary, "filter")["computed"] == 6
    assert all(keep for keep, _ in verdicts(tmp_path / "out").values())


def test_duration_rules_apply_to_videos_only(write_config, tmp_path: Path) -> None:
    run_pipeline(write_config(stages={"filter": {"min_duration": 4.0}}))
    found = verdicts(tmp_path / "out")
    assert found["sample_00000002"] == (False, ["too_short"])
    assert found["samplenew_00000004"] == (False, ["too_short"])
    assert found["samplenew_00000005"] == (False, ["too_short"])
    assert found["sample_00000001"] == (True, [])
    assert found["sample_00000006"] == (True, [])  # the image has no duration to judge


def test_audio_resolution_and_label_rules(write_config, clips: Path, tmp_path: Path) -> None:
    labels = clips / "labels.csv"
    labels.write_text(labels.read_text().replace("sample_00000003,sad", "sample_00000003,disgust"))
    settings = {"require_audio": True, "require_label": True, "max_duration": 5.0, "min_width": 400}
    run_pipeline(write_config(stages={"filter": settings}))
    found = verdicts(tmp_path / "out")
    assert found["samplenew_00000005"] == (False, ["no_audio"])
    assert found["sample_00000003"] == (False, ["too_long", "no_label"])
    assert found["sample_00000001"] == (True, [])
    run_pipeline(write_config(stages={"filter": {"min_width": 481}}))
    assert {code for _, codes in verdicts(tmp_path / "out").values() for code in codes} == {
        "too_small"
    }


def test_broken_files_are_dropped_with_reasons(
    write_config, clips: Path, tmp_path: Path, caplog
) -> None:
    (clips / "empty.mp4").touch()
    (clips / "notes.mp4").write_text("meeting notes, not a video\n" * 40)
    whole = remux(clips / "sample_00000001.mp4", tmp_path / "whole.mp4", faststart=True)
    (clips / "cut.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    (clips / "lost_index.mp4").write_bytes(
        remux(clips / "sample_00000002.mp4", tmp_path / "end.mp4", faststart=False).read_bytes()[
            :30000
        ]
    )
    with caplog.at_level("WARNING", logger="merr_factory"):
        summary = run_pipeline(write_config())
    assert summary.failed == 0
    assert tally(summary, "ingest")["computed"] == 10
    found = verdicts(tmp_path / "out")
    assert found["empty"] == (False, ["unreadable"])
    assert found["notes"] == (False, ["unreadable"])
    assert found["lost_index"] == (False, ["unreadable"])
    assert found["cut"] == (False, ["truncated"])
    assert sum(keep for keep, _ in found.values()) == 6
    assert "empty.mp4: empty file (0 bytes)" in caplog.text
    assert "notes.mp4: not a readable media file" in caplog.text
