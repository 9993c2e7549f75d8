"""The MERR peak rule and its options, on hand-made frame tables."""

from __future__ import annotations

import math

import pytest

from merr_factory.backends.faces.base import Box, FrameRow
from merr_factory.stages.peak import PeakSettings, au_sums, face_crop, find_peak


def rows(*frames: dict | None) -> list[FrameRow]:
    """Frame rows as ``read_frames_csv`` gives them; None is a frame without a face."""
    return [
        FrameRow(index=index * 5, time=index * 0.2)
        if values is None
        else FrameRow(index * 5, index * 0.2, box=Box(0, 0, 10, 10), intensities=dict(values))
        for index, values in enumerate(frames)
    ]


def test_peak_is_the_frame_with_the_largest_au_sum() -> None:
    table = rows({"AU01": 1, "AU12": 1}, {"AU01": 2, "AU12": 2.5}, {"AU01": 4, "AU12": 0})
    assert find_peak(table, ["AU01", "AU12"]) == 1
    assert find_peak(table, ["AU01"]) == 2


def test_ties_go_to_the_earliest_frame_and_faceless_frames_never_win() -> None:
    table = rows(None, {"AU12": 3}, {"AU12": 3}, None)
    assert find_peak(table, ["AU12"]) == 1
    assert math.isnan(au_sums(table, ["AU12"])[0])
    assert find_peak(rows(None, None), ["AU12"]) is None


def test_excluding_speech_and_blink_aus_moves_the_peak() -> None:
    table = rows({"AU12": 2, "AU25": 0, "AU45": 0}, {"AU12": 1, "AU25": 3, "AU45": 5})
    assert find_peak(table, ["AU12", "AU25", "AU45"]) == 1
    assert find_peak(table, ["AU12"]) == 0


def test_smoothing_ignores_a_one_frame_spike() -> None:
    spike = rows({"AU04": 0}, {"AU04": 5}, {"AU04": 0}, {"AU04": 3}, {"AU04": 3}, {"AU04": 3})
    assert find_peak(spike, ["AU04"]) == 1
    assert find_peak(spike, ["AU04"], window=3) == 4


def test_settings_normalise_au_names() -> None:
    assert PeakSettings(exclude_aus=["au45", "AU5"]).exclude_aus == ["AU05", "AU45"]
    with pytest.raises(ValueError, match="not an Action Unit"):
        PeakSettings(exclude_aus=["blink"])


def test_face_crop_grows_by_the_margin_and_stays_inside_the_frame() -> None:
    assert face_crop(100, 100, [40, 40, 20, 20], 0.5) == (30, 30, 70, 70)
    assert face_crop(100, 100, [-5, 90, 20, 20], 0.5) == (0, 80, 25, 100)
    assert face_crop(100, 100, [None, None, None, None], 0.2) == (0, 0, 100, 100)
