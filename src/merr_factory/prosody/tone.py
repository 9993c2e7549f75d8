"""From prosody numbers to MERR's tone vocabulary and a short phrase: fixed, documented rules.

First the numbers become cues (thresholds are settings, ``ToneThresholds``). Cues that read
variation are relative to the clip's own speaker (pitch spread in semitones, pitch std over the
speaker's mean pitch, the ending's pitch as a z-score of the clip's pitch, loudness spread);
levels (pitch in Hz, loudness in dBFS, syllables per second) are absolute, because one clip
gives no baseline for its speaker; so a low pitch alone (often just the speaker's sex) never
decides a tone, it only colours the phrase.

| cue | when |
|---|---|
| `low` / `high` | `pitch_mean_hz` < `low_pitch_hz` / > `high_pitch_hz` |
| `flat` / `lively` | `pitch_cv` < `flat_pitch_cv` / > `lively_pitch_cv` |
| `wide` | `pitch_range_st` >= `wide_range_st` |
| `quiet` / `loud` | `energy_mean_db` < `quiet_db` / > `loud_db` |
| `varied` | `energy_std_db` > `varied_energy_db` |
| `slow` / `fast` | `speaking_rate` < `slow_rate` / > `fast_rate` |
| `hesitant` | `pause_ratio` > `hesitant_pause_ratio` |
| `rising` | `pitch_end_z` > `rising_end_z` (the voice goes up at the end, as in a question) |

Then the first rule whose cues all hold gives the tone (no match: `calm`):

| # | tone | rule |
|---|---|---|
| 1 | shocked | wide and high and (loud or varied) |
| 2 | angry | loud and (fast or varied) and not lively |
| 3 | fearful | high and fast and not loud |
| 4 | joyful | lively and not quiet and not slow |
| 5 | doubtful | rising and (hesitant or slow) |
| 6 | sad | (quiet or low) and (slow or flat) |
| 7 | dismissive | flat and fast |
| 8 | negative | (quiet or slow) and not lively |
| 9 | positive | lively or (high and not quiet) |
| 10 | calm | otherwise |

The phrase names the tone and the most telling voice quality, e.g. "speaks in a calm, low
voice", "speaks in an angry, loud voice at a fast pace".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from merr_factory.stage_data import Prosody

TONES: tuple[str, ...] = (
    "joyful",
    "sad",
    "shocked",
    "fearful",
    "angry",
    "positive",
    "negative",
    "calm",
    "doubtful",
    "dismissive",
)


class ToneThresholds(BaseModel):
    """Where each cue starts; tune them on clips of your own speakers."""

    model_config = ConfigDict(extra="forbid")

    low_pitch_hz: float = Field(default=140.0, gt=0)
    high_pitch_hz: float = Field(default=240.0, gt=0)
    flat_pitch_cv: float = Field(default=0.08, ge=0, description="pitch std / mean")
    lively_pitch_cv: float = Field(default=0.2, ge=0, description="pitch std / mean")
    wide_range_st: float = Field(default=12.0, ge=0, description="semitones, 5th-95th pct")
    quiet_db: float = Field(default=-35.0, description="mean speech RMS, dBFS")
    loud_db: float = Field(default=-14.0, description="mean speech RMS, dBFS")
    varied_energy_db: float = Field(default=9.0, ge=0, description="speech RMS std, dB")
    slow_rate: float = Field(default=2.5, ge=0, description="syllables per second")
    fast_rate: float = Field(default=5.5, ge=0, description="syllables per second")
    hesitant_pause_ratio: float = Field(default=0.3, ge=0, le=1)
    rising_end_z: float = Field(default=1.0, description="z-score of the ending's pitch")


@dataclass(frozen=True)
class ToneDecision:
    tone: str
    phrase: str
    cues: tuple[str, ...]
    rule: int  # the row of the rule table that fired


def voice_cues(prosody: Prosody, limits: ToneThresholds) -> frozenset[str]:
    """The cue words that hold for ``prosody`` (pitch cues need voiced frames)."""
    p = prosody
    checks = {
        "low": p.pitch_mean_hz is not None and p.pitch_mean_hz < limits.low_pitch_hz,
        "high": p.pitch_mean_hz is not None and p.pitch_mean_hz > limits.high_pitch_hz,
        "flat": p.pitch_cv is not None and p.pitch_cv < limits.flat_pitch_cv,
        "lively": p.pitch_cv is not None and p.pitch_cv > limits.lively_pitch_cv,
        "wide": p.pitch_range_st is not None and p.pitch_range_st >= limits.wide_range_st,
        "quiet": p.energy_mean_db < limits.quiet_db,
        "loud": p.energy_mean_db > limits.loud_db,
        "varied": p.energy_std_db > limits.varied_energy_db,
        "slow": p.speaking_rate < limits.slow_rate,
        "fast": p.speaking_rate > limits.fast_rate,
        "hesitant": p.pause_ratio > limits.hesitant_pause_ratio,
        "rising": p.pitch_end_z is not None and p.pitch_end_z > limits.rising_end_z,
    }
    return frozenset(name for name, holds in checks.items() if holds)


Rule = Callable[[frozenset[str]], bool]

RULES: tuple[tuple[str, Rule], ...] = (
    ("shocked", lambda c: {"wide", "high"} <= c and bool(c & {"loud", "varied"})),
    ("angry", lambda c: "loud" in c and bool(c & {"fast", "varied"}) and "lively" not in c),
    ("fearful", lambda c: {"high", "fast"} <= c and "loud" not in c),
    ("joyful", lambda c: "lively" in c and not c & {"quiet", "slow"}),
    ("doubtful", lambda c: "rising" in c and bool(c & {"hesitant", "slow"})),
    ("sad", lambda c: bool(c & {"quiet", "low"}) and bool(c & {"slow", "flat"})),
    ("dismissive", lambda c: {"flat", "fast"} <= c),
    ("negative", lambda c: bool(c & {"quiet", "slow"}) and "lively" not in c),
    ("positive", lambda c: "lively" in c or ("high" in c and "quiet" not in c)),
)

# Voice qualities for the phrase, most telling first.
_QUALITIES: tuple[tuple[str, str], ...] = (
    ("loud", "loud"),
    ("quiet", "soft"),
    ("low", "low"),
    ("high", "high"),
    ("lively", "lively"),
    ("flat", "flat"),
)
_PACE = {"fast": " at a fast pace", "slow": " at a slow pace"}


def describe_tone(prosody: Prosody, limits: ToneThresholds) -> ToneDecision:
    """The tone word, a short phrase, the cues behind them and the rule that fired."""
    cues = voice_cues(prosody, limits)
    tone, rule = "calm", len(RULES) + 1
    for number, (name, holds) in enumerate(RULES, start=1):
        if holds(cues):
            tone, rule = name, number
            break
    return ToneDecision(
        tone=tone, phrase=tone_phrase(tone, cues), cues=tuple(sorted(cues)), rule=rule
    )


def tone_phrase(tone: str, cues: frozenset[str]) -> str:
    """E.g. "speaks in a calm, low voice"; "steady" when no quality stands out."""
    quality = next((word for cue, word in _QUALITIES if cue in cues), "steady")
    pace = next((text for cue, text in _PACE.items() if cue in cues), "")
    article = "an" if tone[0] in "aeiou" else "a"
    return f"speaks in {article} {tone}, {quality} voice{pace}"
