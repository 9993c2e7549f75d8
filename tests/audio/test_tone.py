"""The tone rules: cues from thresholds, each row of the documented table, the phrase."""

from __future__ import annotations

from typing import Any

import pytest

from merr_factory.prosody.tone import (
    RULES,
    TONES,
    ToneThresholds,
    describe_tone,
    tone_phrase,
    voice_cues,
)
from merr_factory.stage_data import Prosody

LIMITS = ToneThresholds()
# A voice that sets off no cue with the default thresholds.
NEUTRAL: dict[str, Any] = {
    "pitch_mean_hz": 180.0,
    "pitch_range_hz": 60.0,
    "pitch_std_hz": 22.0,
    "pitch_cv": 0.12,
    "pitch_range_st": 6.0,
    "pitch_end_z": 0.0,
    "energy_mean_db": -22.0,
    "energy_std_db": 5.0,
    "speaking_rate": 4.0,
    "pause_ratio": 0.1,
    "voiced_ratio": 0.7,
}


def voice(**changes: Any) -> Prosody:
    return Prosody(**{**NEUTRAL, **changes})


# The cue values that set each cue off (and only it).
CUE = {
    "low": {"pitch_mean_hz": 110.0},
    "high": {"pitch_mean_hz": 280.0},
    "flat": {"pitch_cv": 0.05},
    "lively": {"pitch_cv": 0.3},
    "wide": {"pitch_range_st": 14.0},
    "quiet": {"energy_mean_db": -40.0},
    "loud": {"energy_mean_db": -10.0},
    "varied": {"energy_std_db": 12.0},
    "slow": {"speaking_rate": 2.0},
    "fast": {"speaking_rate": 6.5},
    "hesitant": {"pause_ratio": 0.45},
    "rising": {"pitch_end_z": 1.6},
}


def with_cues(*names: str) -> Prosody:
    changes: dict[str, Any] = {}
    for name in names:
        changes.update(CUE[name])
    return voice(**changes)


def test_a_neutral_voice_sets_off_no_cue_and_is_calm() -> None:
    decision = describe_tone(voice(), LIMITS)
    assert decision.cues == ()
    assert (decision.tone, decision.rule) == ("calm", len(RULES) + 1)
    assert decision.phrase == "speaks in a calm, steady voice"


@pytest.mark.parametrize("cue", sorted(CUE))
def test_each_cue_fires_alone(cue: str) -> None:
    assert voice_cues(with_cues(cue), LIMITS) == {cue}


@pytest.mark.parametrize(
    ("cues", "tone", "rule"),
    [
        (("wide", "high", "loud"), "shocked", 1),
        (("loud", "fast"), "angry", 2),
        (("high", "fast"), "fearful", 3),
        (("lively",), "joyful", 4),
        (("rising", "hesitant"), "doubtful", 5),
        (("quiet", "slow"), "sad", 6),
        (("low", "flat"), "sad", 6),
        (("flat", "fast"), "dismissive", 7),
        (("slow",), "negative", 8),
        (("high",), "positive", 9),
        (("low",), "calm", 10),
    ],
)
def test_rule_table(cues: tuple[str, ...], tone: str, rule: int) -> None:
    decision = describe_tone(with_cues(*cues), LIMITS)
    assert (decision.tone, decision.rule) == (tone, rule)
    assert decision.tone in TONES


def test_rules_are_ordered_first_match_wins() -> None:
    # lively would be joyful (rule 4), but loud and fast make it angry first... unless
    # lively, which rule 2 excludes: then joyful.
    assert describe_tone(with_cues("loud", "fast"), LIMITS).tone == "angry"
    assert describe_tone(with_cues("loud", "fast", "lively"), LIMITS).tone == "joyful"


def test_thresholds_come_from_settings() -> None:
    prosody = voice(pitch_mean_hz=150.0, speaking_rate=3.0)
    assert describe_tone(prosody, LIMITS).tone == "calm"
    strict = ToneThresholds(low_pitch_hz=160.0, slow_rate=3.5)
    decision = describe_tone(prosody, strict)
    assert set(decision.cues) == {"low", "slow"}
    assert decision.tone == "sad"  # rule 6: (quiet or low) and (slow or flat)


def test_missing_pitch_sets_off_no_pitch_cue() -> None:
    unvoiced = voice(pitch_mean_hz=None, pitch_cv=None, pitch_range_st=None, pitch_end_z=None)
    assert voice_cues(unvoiced, ToneThresholds(low_pitch_hz=1000.0)) == frozenset()


@pytest.mark.parametrize(
    ("tone", "cues", "phrase"),
    [
        ("calm", {"low"}, "speaks in a calm, low voice"),
        ("angry", {"loud", "fast"}, "speaks in an angry, loud voice at a fast pace"),
        ("sad", {"quiet", "slow", "low"}, "speaks in a sad, soft voice at a slow pace"),
    ],
)
def test_phrase(tone: str, cues: set[str], phrase: str) -> None:
    assert tone_phrase(tone, frozenset(cues)) == phrase


def test_every_rule_tone_is_a_merr_tone() -> None:
    assert {name for name, _ in RULES} | {"calm"} == set(TONES)
