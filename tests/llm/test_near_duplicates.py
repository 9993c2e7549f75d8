"""Near-duplicate reasoning: MERR's fine set keeps one of several near-identical texts."""

from __future__ import annotations

import random

from merr_factory.curation.near_duplicates import NearDuplicateIndex, jaccard, shingles

BASE = (
    "The person raises the corners of the mouth and the cheeks while speaking in a bright "
    "and lively voice, and says that the team finally won the game, which together shows "
    "that she is happy about the result and wants to share the good news with her friends."
)


def test_exact_and_reworded_duplicates_are_found_different_texts_are_not() -> None:
    index = NearDuplicateIndex(threshold=0.85)
    index.add("a1", BASE)
    index.add("a2", BASE.upper().replace(",", ""))  # same after normalising
    index.add("a3", BASE.replace("bright", "clear"))  # one word differs
    index.add("b1", "A calm man looks at the floor and speaks slowly about the weather today.")
    assert index.first_similar("a2", BASE.upper()) == "a1"
    assert index.first_similar("a3", BASE.replace("bright", "clear")) == "a1"
    assert index.first_similar("a1", BASE) == "a2"  # the caller keeps only earlier ids
    assert index.first_similar("b1", "A calm man looks at the floor and speaks slowly.") is None
    assert index.first_similar("c", "") is None


def test_the_threshold_decides() -> None:
    words = BASE.split()
    words[10], words[30] = "dull", "lost"
    edited = " ".join(words)
    similarity = jaccard(shingles(BASE), shingles(edited))
    assert 0.7 < similarity < 0.85
    loose, strict = NearDuplicateIndex(threshold=0.7), NearDuplicateIndex(threshold=0.9)
    for index in (loose, strict):
        index.add("a", BASE)
    assert loose.first_similar("b", edited) == "a"
    assert strict.first_similar("b", edited) is None


def test_thousands_of_texts_find_exactly_the_planted_pairs() -> None:
    """2,000 random texts with 20 planted near-copies: LSH must find every copy (recall)
    and nothing else (the exact Jaccard check removes false candidates)."""
    rng = random.Random(7)
    vocabulary = [f"word{i}" for i in range(3000)]
    texts = {f"s{i:05d}": " ".join(rng.choices(vocabulary, k=40)) for i in range(2000)}
    planted = {}
    for i in range(20):
        original = f"s{i * 97:05d}"
        words = texts[original].split()
        words[rng.randrange(40)] = "changed"
        planted[f"t{i:05d}"] = (original, " ".join(words))
    index = NearDuplicateIndex(threshold=0.8)
    for key, text in texts.items():
        index.add(key, text)
    found = {key: index.first_similar(key, text) for key, (_, text) in planted.items()}
    assert found == {key: original for key, (original, _) in planted.items()}
    assert all(
        index.first_similar(key, text) is None
        for key, text in list(texts.items())[:200]
        if key not in {o for o, _ in planted.values()}
    )
