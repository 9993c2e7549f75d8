"""AU phrases, MERR's rule table and the candidates it gives."""

from __future__ import annotations

import pytest

from merr_factory.knowledge.au import AU_SYNONYMS, MERR_RULES, MERR_VOCABULARY, normalise_au
from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.stages.visual import VisualSettings, pick_phrase, score_rules


def test_the_rule_table_uses_merrs_vocabulary_and_labels() -> None:
    assert set(MERR_RULES) == set(MERR_LABELS)
    assert all(au in MERR_VOCABULARY for aus in MERR_RULES.values() for au in aus)
    assert MERR_RULES["happy"] == ("AU06", "AU12", "AU14")
    assert all(au in AU_SYNONYMS for au in MERR_VOCABULARY)


def test_phrases_are_deterministic_and_vary_with_the_seed() -> None:
    aus = list(MERR_VOCABULARY)
    first = [pick_phrase(au, "sample_1", 0, "synonyms") for au in aus]
    assert first == [pick_phrase(au, "sample_1", 0, "synonyms") for au in aus]
    assert first != [pick_phrase(au, "sample_1", 1, "synonyms") for au in aus]
    assert all(phrase in AU_SYNONYMS[au] for au, phrase in zip(aus, first, strict=True))
    assert pick_phrase("AU05", "x", 3, "names") == "upper lid raiser"


def test_candidates_score_rule_aus_active_at_the_peak() -> None:
    intensities = {"AU12": 4.0, "AU01": 2.0, "AU15": 1.0, "AU25": 3.0}
    active = ["AU01", "AU12", "AU15", "AU25"]
    measurable = ["AU01", "AU02", "AU04", "AU12", "AU15", "AU25"]  # no AU06 / AU14
    support, candidates = score_rules(
        {k: list(v) for k, v in MERR_RULES.items()}, intensities, active, measurable, MERR_LABELS
    )
    assert support["happy"] == ["AU12"] and support["sad"] == ["AU01", "AU15"]
    scores = {c.emotion: c.score for c in candidates}
    assert scores["happy"] == pytest.approx(4.0 / 5)  # AU12 is the only happy AU it sees
    assert scores["sad"] == pytest.approx(3.0 / (5 * 3))  # AU01 AU04 AU15 seen; 14 unseen
    assert scores["doubt"] == pytest.approx(3.0 / 5)
    assert [c.emotion for c in candidates][:2] == ["happy", "doubt"]
    assert "neutral" not in scores and "angry" not in scores


def test_neutral_is_the_candidate_when_no_rule_au_is_active() -> None:
    rules = {k: list(v) for k, v in MERR_RULES.items()}
    support, candidates = score_rules(rules, {"AU45": 5.0}, [], ["AU12"], MERR_LABELS)
    assert [(c.emotion, c.score) for c in candidates] == [("neutral", 1.0)]
    assert all(aus == [] for aus in support.values())


def test_only_labels_in_the_label_set_are_scored() -> None:
    rules = {k: list(v) for k, v in MERR_RULES.items()}
    _, candidates = score_rules(rules, {"AU25": 4}, ["AU25"], ["AU25"], ("happy", "sad"))
    assert candidates == []


def test_rules_are_configurable_and_normalised() -> None:
    settings = VisualSettings(rules={"happy": ["au12", "AU6"]})
    assert settings.rules == {"happy": ["AU12", "AU06"]}
    with pytest.raises(ValueError, match="not an Action Unit"):
        VisualSettings(rules={"happy": ["smile"]})
    assert normalise_au(" AU 7 ") == "AU07"
