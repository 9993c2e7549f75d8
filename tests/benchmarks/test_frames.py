"""The frames part of the benchmark on a small scale: a 2 s 960x540 clip, py-feat's
real architecture with random weights (as ``scripts/make_pyfeat_weights.py`` builds it) at
batch 1 and on 2 clips of 1 frame. The figures are not asserted, only that they are measured."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("dlib", reason="needs merr-factory[faces-dlib]")
pytest.importorskip("feat", reason="needs merr-factory[faces-pyfeat]")

from benchmarks.frames import measure_frames, render_frames
from benchmarks.goals import collect_goals


def test_decoding_share_and_py_feat_tables_are_measured(tmp_path: Path) -> None:
    results = measure_frames(tmp_path, big_seconds=2.0, batch_sizes="1", across_clips=(2, 1))
    assert "error" not in results, results.get("error")
    assert 0 < results["decode_share_percent"] < 100
    assert results["frames"] == 10 and results["decoded"] < results["frames_total"]
    assert set(results["pyfeat_batches"]) == {"1"} and results["pyfeat_batches"]["1"] > 0
    across = results["pyfeat_across_clips"]
    assert set(across) == {"1", "2"} and across["1"]["passes"] == 2
    assert across["2"]["passes"] in (1, 2)  # two single-frame clips may share one pass
    [goal] = collect_goals({"faces": results})
    assert goal.value == results["decode_share_percent"] and goal.met is not None
    assert "| clips_per_worker |" in render_frames(results)
