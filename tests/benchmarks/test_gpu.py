"""The GPU benchmark (``benchmarks/gpu.py``): its projection's arithmetic on made-up rows, and
its ``--smoke`` mode, which runs every part's code on the CPU with tiny models (the numbers
mean nothing; what is checked is that each part measures what it says and that the table
and the JSON hold the rows and the projection made of them). The full run needs a GPU."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu
from benchmarks.common import child_env
from benchmarks.gpu import CLIPS, Row, allocation, project


def made_up_rows() -> list[Row]:
    return [
        Row("faces", "py-feat", "frames", per_second=500.0, units_per_clip=50),
        Row("features", "HuBERT", "clips", per_second=100.0),
        Row("features", "MAE", "face crops", per_second=1000.0, units_per_clip=50),
        Row("features", "VideoMAE", "16-frame clips", per_second=50.0),
        Row("asr", "Whisper", "clips", per_second=5.0),
        Row("llm", "7B", "calls", units_per_clip=2, skipped="vLLM is not installed"),
    ]


def test_the_recipe_gives_each_gpu_stage_two_gpus_and_the_llm_the_other_two() -> None:
    assert allocation() == {"faces": 2.0, "asr": 2.0, "features": 2.0, "llm": 2.0}


def test_the_projection_is_one_gpus_clips_per_second_times_the_stages_gpus() -> None:
    projection = project(made_up_rows(), allocation())
    stages = projection["stages"]
    assert stages["faces"]["gpu_clips_per_s"] == pytest.approx(10.0)  # 500 frames / 50
    # features: its three models one after the other: 0.01 + 0.05 + 0.02 s a clip
    assert stages["features"]["gpu_clips_per_s"] == pytest.approx(12.5)
    assert stages["features"]["node_clips_per_s"] == pytest.approx(25.0)
    assert stages["asr"]["node_clips_per_s"] == pytest.approx(10.0)
    assert stages["asr"]["hours"] == pytest.approx(CLIPS / 10.0 / 3600)
    assert stages["faces"]["hours"] == pytest.approx(CLIPS / 20.0 / 3600)
    # the stages stream on their own GPUs: the slowest measured one bounds the node
    assert projection["bound_by"] == "asr"
    assert projection["hours"] == pytest.approx(73_000 / 10.0 / 3600)
    assert projection["unmeasured"] == ["llm"]
    assert stages["llm"]["hours"] is None


def test_the_table_lists_every_row_and_the_projection() -> None:
    rows = made_up_rows()
    text = gpu.table("NVIDIA H100 80GB HBM3", rows, project(rows, allocation()))
    assert "one GPU (NVIDIA H100 80GB HBM3)" in text
    assert "| faces | py-feat | frames | 500 | 50 | 10 |" in text
    assert "skipped: vLLM is not installed" in text
    assert "| asr | 5 | 2 | 10 | 2.03 |" in text
    assert "Node: 2.03 h, bound by asr (not measured: llm)" in text


def needs(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the smoke run needs {module} (merr-factory[features,faces-pyfeat,asr-*])")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict:
    needs("torch", "transformers", "feat", "faster_whisper", "ctranslate2")
    path = tmp_path_factory.mktemp("gpu") / "smoke.json"
    results = gpu.main(["--smoke", "--json", str(path)])
    assert json.loads(path.read_text()) == json.loads(json.dumps(results))
    return results


def test_the_smoke_run_measures_every_gpu_stage(smoke: dict) -> None:
    assert smoke["smoke"] and smoke["device"] == "cpu"
    rows = {(row["stage"], row["model"]): row for row in smoke["rows"]}
    measured = [key for key, row in rows.items() if not row["skipped"]]
    assert [stage for stage, _ in measured] == ["faces", "features", "features", "features", "asr"]
    assert {model for stage, model in measured if stage == "features"} == {
        "HuBERT-large", "MAE ViT-large", "VideoMAE-large"
    }  # fmt: skip
    for key in measured:
        assert rows[key]["per_second"] > 0 and rows[key]["count"] > 0, key
    faces = rows["faces", "py-feat 2.1.5 Detectorv2"]
    assert faces["units_per_clip"] == 50  # 10 s at the recipe's 5 fps
    assert "1.0 faces/frame" in faces["note"]
    asr = rows["asr", "Whisper (faster-whisper float32)"]
    assert "tokens per decode [4]," in asr["note"]  # each decode wrote exactly the tokens asked
    assert "language detected ['" in asr["note"]  # a multilingual model: detection ran
    (llm,) = [row for row in smoke["rows"] if row["stage"] == "llm"]
    assert llm["skipped"] and llm["per_second"] == 0


def test_the_smoke_projection_is_made_of_its_rows(smoke: dict) -> None:
    rows = [Row(**{k: v for k, v in row.items() if k != "clips_per_second"})
            for row in smoke["rows"]]  # fmt: skip
    assert smoke["projection"] == json.loads(json.dumps(project(rows, allocation())))
    faces = next(row for row in rows if row.stage == "faces")
    hours = smoke["projection"]["stages"]["faces"]["hours"]
    assert hours == pytest.approx(CLIPS / (faces.per_second / 50 * 2) / 3600)
    assert smoke["projection"]["unmeasured"] == ["llm"]


def test_the_asr_row_falls_back_to_openai_whisper(tmp_path: Path) -> None:
    needs("torch", "whisper")
    results = gpu.main(["--smoke", "--parts", "asr", "--asr-backend", "whisper"])
    (row,) = results["rows"]
    assert row["model"] == "Whisper (openai-whisper)" and row["per_second"] > 0
    assert "tokens per decode [4]," in row["note"]


def test_runs_of_some_parts_each_merge_into_one_table(tmp_path: Path) -> None:
    rows = made_up_rows()
    first = [Row("faces", "-", "-", skipped="failed: No module named 'feat'"), *rows[1:5]]
    second = [rows[0], Row("llm", "7B", "calls", units_per_clip=2, skipped="no vLLM")]
    paths = []
    for index, part in enumerate((first, second)):
        run = {"device": "NVIDIA H100 80GB HBM3", "smoke": False,
               "rows": [dataclasses.asdict(row) for row in part]}  # fmt: skip
        paths.append(tmp_path / f"run{index}.json")
        paths[-1].write_text(json.dumps(run))
    out = tmp_path / "merged.json"
    merged = gpu.main(["--merge", *map(str, paths), "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(merged))
    assert merged["device"] == "NVIDIA H100 80GB HBM3"
    assert [row["stage"] for row in merged["rows"]] == ["faces", *["features"] * 3, "asr", "llm"]
    assert merged["rows"][0]["per_second"] == 500.0  # the run that measured faces
    assert merged["projection"] == json.loads(json.dumps(project(rows, allocation())))


def test_py_feat_imports_where_torchcodec_cannot_load() -> None:
    needs("feat")
    code = (
        "import sys; sys.modules['torchcodec'] = None\n"  # as if it failed to load
        "from benchmarks.gpu import stub_torchcodec\n"
        "print(stub_torchcodec())\n"
        "import feat; from feat import Detectorv2\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(), check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("torchcodec stood in for (ModuleNotFoundError)")
