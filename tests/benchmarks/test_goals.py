"""The goals table of the benchmark: each part's figures against their goals."""

from __future__ import annotations

from benchmarks.goals import collect_goals, render_goals


def llm(ratio: float, of_ideal: float, layout: float) -> dict:
    return {
        "raw": [{"backend": "llamacpp in process", "ratio": ratio}],
        "in_flight": [
            {"concurrency": 8, "requests": 512, "of_ideal": 0.5},  # not a goal
            {"concurrency": 32, "requests": 512, "of_ideal": of_ideal},
        ],
        "layout": [{"shipped_over_question_first": layout}],
    }


def test_each_goal_is_judged_in_its_own_direction() -> None:
    met = {goal.figure: goal.met for goal in collect_goals({"llm": llm(1.25, 0.9, 0.7)})}
    assert list(met.values()) == [True, True, True]
    assert not any("8 in flight" in figure for figure in met)
    missed = [goal.met for goal in collect_goals({"llm": llm(1.3, 0.89, 1.1)})]
    assert missed == [False, False, False]


def test_a_part_not_run_has_no_rows_and_an_unmeasured_figure_shows_a_dash() -> None:
    assert collect_goals({"llm": {}}) == []
    schedule = {"samples": 24, "workers": 2, "barrier_over_streaming": None}
    table = render_goals({"schedule": schedule})
    assert table.splitlines()[-1] == (
        "| barrier schedule / streaming, wall time (24 samples, 2 workers) | - | >= 1 | - |"
    )
    segments = {"segment_seconds": 5.0, "long_seconds": 300.0, "segment_over_file": 1.2}
    assert render_goals({"segments": segments}).splitlines()[-1] == (
        "| faces + audio on a 5 s segment of a 5-minute file / on the same as a file of its "
        "own | 1.2 | <= 1.5 | yes |"
    )
    faces = {"backend": "dlib", "frame_size": "960x540", "decode_share_percent": 12.5}
    assert render_goals({"faces": faces}).splitlines()[-1].endswith("| 12.5 % | <= 10 % | **no** |")


def test_the_served_schedule_needs_streaming_a_third_faster() -> None:
    served = {"samples": 24, "workers": 2, "latency_s": [2.0, 4.0], "in_flight": 32}
    (goal,) = collect_goals({"schedule_served": {**served, "barrier_over_streaming": 1.29}})
    assert goal.figure == (
        "barrier schedule / streaming, LLM on a server (2-4 s a call, 32 in flight; "
        "24 samples, 2 workers)"
    )
    assert goal.met is False
    (goal,) = collect_goals({"schedule_served": {**served, "barrier_over_streaming": 1.3}})
    assert goal.met is True
