"""openSMILE's eGeMAPSv02 functionals: the 88 acoustic parameters that affective computing
standardised on (Eyben et al., 2016: pitch in semitones, loudness, jitter, shimmer, HNR,
formants, spectral slopes, rate of voiced segments), stored so users can train on them.

The openSMILE binary ships inside the ``opensmile`` wheel: no build, no download.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from merr_factory.optional import require
from merr_factory.prosody.schema import Segment

FEATURE_SET = "eGeMAPSv02"
SIGNIFICANT_DIGITS = 6


class EgemapsExtractor:
    """Sets openSMILE up once (per worker); ``measure`` then takes ~0.1 s per clip."""

    def __init__(self) -> None:
        opensmile: Any = require("opensmile", "audio", "eGeMAPS features (openSMILE)")
        self._smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.Functionals,
        )

    @property
    def names(self) -> list[str]:
        return list(self._smile.feature_names)

    def measure(
        self, samples: np.ndarray, sample_rate: int, speech: list[Segment]
    ) -> dict[str, float | None]:
        """The 88 functionals over the span from the first to the last speech region; a value
        openSMILE cannot measure (a span too short for its windows) is None."""
        start = int(speech[0][0] * sample_rate) if speech else 0
        end = int(speech[-1][1] * sample_rate) + 1 if speech else len(samples)
        span = np.ascontiguousarray(samples[start:end], dtype=np.float32)
        with warnings.catch_warnings():  # "Segment too short": the None values say it
            warnings.simplefilter("ignore", UserWarning)
            table = self._smile.process_signal(span, sample_rate)
        row = table.iloc[0]
        return {name: _significant(row[name]) for name in table.columns}


def _significant(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else float(f"{number:.{SIGNIFICANT_DIGITS}g}")
