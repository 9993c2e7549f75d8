"""People's review in the quality report: kappa, Fleiss, per-source accuracy, the audit's
precision with its Wilson interval, on cases computed by hand."""

from __future__ import annotations

import pytest

from merr_factory.dataset.merr import MerrSets
from merr_factory.export.quality_section import quality_markdown, quality_text
from merr_factory.quality.agreement import cohen_kappa, fleiss_kappa, wilson_interval
from merr_factory.quality.human import human_quality
from merr_factory.quality.report import build_quality
from merr_factory.stage_data import AnnotatorVerdict, HumanReview
from tests.quality.test_report import entry


def test_fleiss_kappa_of_the_textbook_example() -> None:
    """Fleiss (1971) as tabled on Wikipedia: 10 subjects, 14 raters, 5 categories; P = 0.378,
    P_e = 0.213, kappa = 0.210."""
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    ratings = [[str(c) for c, n in enumerate(row) for _ in range(n)] for row in table]
    assert fleiss_kappa(ratings) == pytest.approx(0.2099, abs=1e-4)
    assert fleiss_kappa([["a", "a"], ["a", "a"]]) is None  # one category: undefined
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([["a", "b"], ["a"]])


def test_fleiss_kappa_is_one_when_the_raters_always_agree() -> None:
    assert fleiss_kappa([["a", "a"], ["b", "b"], ["a", "a"]]) == pytest.approx(1.0)


def test_wilson_interval_by_hand() -> None:
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) is None


def reviewed(sample_id: str, machine: str, verdicts: dict[str, tuple], **fields):
    """An entry whose pipeline label was ``machine``, judged as ``verdicts``:
    annotator -> (verdict, label, audit)."""
    annotators = {
        name: AnnotatorVerdict(verdict=v, label=label, audit=audit)
        for name, (v, label, audit) in verdicts.items()
    }
    latest = list(annotators.values())[-1]
    human = HumanReview(
        verdict=latest.verdict, label=latest.label, machine_label=machine, annotators=annotators
    )
    made = entry(sample_id, label=latest.label or machine, **fields)
    return made.model_copy(update={"human": human, "human_checked": True})


def two_annotators():
    """ann and bob on four samples: agree happy, agree sad, ann happy vs bob sad, both
    reject. Categories ann: happy 2, sad 1, rejected 1; bob: happy 1, sad 2, rejected 1.
    p_o = 3/4; p_e = (2*1 + 1*2 + 1*1) / 16 = 5/16; kappa = (12/16 - 5/16) / (11/16) = 7/11."""
    audit = "tier=fine"
    happy, sad = ("accept", "happy", None), ("accept", "sad", None)
    return [
        reviewed("s1", "happy", {"ann": ("accept", "happy", audit), "bob": happy},
                 ingest_label="happy", votes={"au_rule": "happy", "llm": "sad"}),
        reviewed("s2", "happy", {"ann": ("accept", "sad", audit), "bob": sad},
                 ingest_label="sad", votes={"au_rule": "happy", "llm": "sad"}),
        reviewed("s3", "happy", {"ann": ("accept", "happy", audit), "bob": sad},
                 ingest_label="happy", votes={"au_rule": None, "llm": "sad"}),
        reviewed("s4", "angry", {"ann": ("reject", None, audit), "bob": ("reject", None, None)},
                 ingest_label="angry", votes={"au_rule": "angry", "llm": "angry"}),
        entry("s5", ingest_label="happy", votes={"au_rule": "happy", "llm": "happy"}),
    ]  # fmt: skip


def test_two_annotators_kappa_disagreements_and_sources_by_hand() -> None:
    human = human_quality(two_annotators(), ["csv", "au_rule", "llm"])
    assert human.annotators == ["ann", "bob"] and human.reviewed == 4
    (pair,) = human.kappa
    assert (pair.compared, pair.observed, pair.kappa) == (4, 0.75, round(7 / 11, 4))
    assert pair.kappa == round(cohen_kappa([("h", "h"), ("s", "s"), ("h", "s"), ("r", "r")]), 4)
    assert human.fleiss_kappa is None and human.fleiss_samples == 0
    assert [(d.sample_id, d.verdicts) for d in human.disagreements] == [
        ("s3", {"ann": "happy", "bob": "sad"})
    ]
    sources = {s.source: s for s in human.sources}
    # The human label is the latest verdict's: bob's (s1 happy, s2 sad, s3 sad; s4 rejected).
    csv, au_rule, llm, pipeline = (sources[n] for n in ("csv", "au_rule", "llm", "pipeline"))
    assert (csv.reference_samples, csv.compared, csv.correct) == (3, 3, 2)
    assert (au_rule.compared, au_rule.correct) == (2, 1)  # s3's AU rule gave nothing
    assert au_rule.labels == ["happy", "sad"] and au_rule.confusion == [[1, 0], [1, 0]]
    assert (llm.compared, llm.correct, llm.accuracy) == (3, 2, round(2 / 3, 4))
    assert (pipeline.compared, pipeline.correct) == (3, 1)


def test_the_audit_precision_counts_accepts_of_the_pipeline_label() -> None:
    (audit,) = human_quality(two_annotators(), ["csv"]).audit
    # s1 accepted as happy (right), s2 relabelled (wrong), s3 bob's sad (wrong), s4 rejected.
    assert (audit.population, audit.audited, audit.correct, audit.precision) == (
        "tier=fine", 4, 1, 0.25
    )  # fmt: skip
    low, high = wilson_interval(1, 4)
    assert (audit.low, audit.high) == (round(low, 4), round(high, 4))


def test_three_annotators_give_fleiss_over_the_samples_all_judged() -> None:
    a, h, s = ("accept", "happy", None), ("accept", "happy", None), ("accept", "sad", None)
    entries = [
        reviewed("s1", "happy", {"ann": a, "bob": h, "cy": h}),
        reviewed("s2", "happy", {"ann": s, "bob": s, "cy": s}),
        reviewed("s3", "happy", {"ann": a, "bob": s, "cy": a}),
        reviewed("s4", "happy", {"ann": a, "bob": s}),  # cy did not judge it
    ]
    human = human_quality(entries, ["csv"])
    assert human.fleiss_samples == 3 and len(human.kappa) == 3
    expected = fleiss_kappa([["happy"] * 3, ["sad"] * 3, ["happy", "sad", "happy"]])
    # P_i: 1, 1, 1/3 -> P = 7/9; shares happy 5/9, sad 4/9 -> P_e = 41/81; kappa = 22/40.
    assert expected == pytest.approx((7 / 9 - 41 / 81) / (1 - 41 / 81))
    assert human.fleiss_kappa == round(expected, 4)


def test_the_report_card_and_terminal_carry_the_review() -> None:
    entries = two_annotators()
    report = build_quality(entries, MerrSets())
    assert report.human is not None and report.human.kappa[0].kappa == round(7 / 11, 4)
    assert build_quality([entries[-1]], MerrSets()).human is None
    card = "\n".join(quality_markdown(report, plots=False))
    assert "### Human review: agreement between annotators" in card
    assert "| ann | bob | 4 | 75.0% | 0.636 |" in card
    assert "| tier=fine | 4 | 1 | 25.0% |" in card
    assert "| s3 | ann: happy; bob: sad |" in card
    assert "Precision from the random audit" in quality_text(report)
