"""Finding near-identical texts among many (MERR's fine set drops repeated reasoning).

Texts are compared as sets of word 3-grams (after lower-casing and dropping punctuation) by
Jaccard similarity. To avoid comparing every pair of 30,000 texts, MinHash signatures are cut
into bands (locality-sensitive hashing): only texts that share a band are compared exactly.
With 16 bands of 4 rows, a pair at similarity 0.85 becomes a candidate with probability
above 0.999, at 0.7 about 0.98, at 0.3 about 0.12: thresholds below about 0.6 would miss pairs.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict

import numpy as np

_WORDS = re.compile(r"\w+")
_PRIME = np.uint64(4_294_967_311)  # just above 2**32: (a * h + b) stays within 64 bits


def normalise(text: str) -> str:
    """Case, punctuation and spacing do not make two texts different."""
    return " ".join(_WORDS.findall(text.lower()))


def shingles(text: str, size: int = 3) -> frozenset[str]:
    words = normalise(text).split()
    if len(words) <= size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    shared = len(first & second)
    return shared / (len(first) + len(second) - shared)


class NearDuplicateIndex:
    """Texts by key; ``first_similar`` names the smallest other key with a similar text."""

    def __init__(self, threshold: float = 0.85, bands: int = 16, rows: int = 4) -> None:
        self.threshold = threshold
        self.bands, self.rows = bands, rows
        generator = np.random.default_rng(0)  # fixed: the same texts give the same answers
        count = bands * rows
        self._a = generator.integers(1, 2**32, size=count, dtype=np.uint64)
        self._b = generator.integers(0, 2**32, size=count, dtype=np.uint64)
        self._shingles: dict[str, frozenset[str]] = {}
        self._buckets: dict[tuple[int, bytes], list[str]] = defaultdict(list)

    def add(self, key: str, text: str) -> None:
        grams = shingles(text)
        if not grams:
            return
        self._shingles[key] = grams
        for bucket in self._band_keys(grams):
            self._buckets[bucket].append(key)

    def first_similar(self, key: str, text: str) -> str | None:
        """The smallest key other than ``key`` whose text is at least ``threshold`` similar."""
        grams = shingles(text)
        if not grams:
            return None
        candidates = {other for bucket in self._band_keys(grams) for other in self._buckets[bucket]}
        similar = [
            other
            for other in sorted(candidates)
            if other != key and jaccard(grams, self._shingles[other]) >= self.threshold
        ]
        return similar[0] if similar else None

    def _band_keys(self, grams: frozenset[str]) -> list[tuple[int, bytes]]:
        hashes = np.array(
            [
                int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "big")
                for g in grams
            ],
            dtype=np.uint64,
        )
        signature = ((self._a[:, None] * hashes[None, :] + self._b[:, None]) % _PRIME).min(axis=1)
        return [
            (band, signature[band * self.rows : (band + 1) * self.rows].tobytes())
            for band in range(self.bands)
        ]
