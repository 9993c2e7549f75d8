"""The quality report on a small built set of export entries."""

from __future__ import annotations

import pytest

from merr_factory.dataset.entry import ExportEntry
from merr_factory.dataset.merr import select_merr
from merr_factory.quality.report import QualityReport, build_quality, quality_json


def entry(sample_id: str, **fields: object) -> ExportEntry:
    base: dict[str, object] = {
        "sample_id": sample_id,
        "name": sample_id,
        "source": f"{sample_id}.mp4",
        "kind": "video",
        "duration": 2.0,
        "fps": 25.0,
        "frame_count": 50,
        "width": 640,
        "height": 360,
        "video_path": f"/clips/{sample_id}.mp4",
        "ingest_label": "happy",
        "label": "happy",
        "label_source": "csv",
        "valence": None,
        "tier": "coarse",
        "peak_index": 3,
        "AU_list": ["AU12"],
        "visual_prior_list": ["lip corner puller"],
        "peak_AU_list": ["AU06", "AU12"],
    }
    return ExportEntry.model_validate(base | fields)


def votes(au_rule: str | None, llm: str | None, face: str | None) -> dict[str, str | None]:
    return {"csv": None, "au_rule": au_rule, "llm": llm, "face_expression": face}


ENTRIES = [
    entry("a", votes=votes("happy", "happy", "happy"), tone="joyful", has_audio=True),
    entry("b", votes=votes("sad", "happy", None), tone="calm", has_audio=True),
    entry(
        "c",
        ingest_label="sad",
        label="sad",
        votes=votes("sad", "neutral", "sad"),
        tone="sad",
        has_audio=True,
        peak_AU_list=["AU04", "AU15"],
        AU_list=["AU04", "AU15"],
        visual_prior_list=["brow lowerer", "lip corner depressor"],
        tier="fine",
        smp_reason_caption="Her furrowed brows and sad voice show sadness.",
    ),
    entry(
        "d",
        ingest_label="surprise",
        label="surprise",
        votes=votes(None, "surprise", "happy"),
        tone="shocked",
        has_audio=True,
        tier="fine",
        AU_list=["AU05", "AU26"],
        visual_prior_list=["eyes widened", "jaw drop"],
        peak_AU_list=["AU05", "AU26"],
        smp_reason_caption="The person is surprised.",
    ),
    entry("e", ingest_label=None, label="angry", votes=votes("angry", "angry", None)),
    entry("f", votes={"csv": "happy", "llm": "happy"}, peak_index=None, peak_AU_list=[]),
]


@pytest.fixture(scope="module")
def report() -> QualityReport:
    return build_quality(ENTRIES, select_merr(ENTRIES))


def test_every_vote_source_against_the_csv_label(report: QualityReport) -> None:
    assert report.samples == 6 and report.csv_labelled == 5  # e has no CSV label
    by_source = {item.source: item for item in report.agreement}
    assert list(by_source) == ["au_rule", "face_expression", "llm", "tone_valence"]
    au_rule = by_source["au_rule"]
    # a happy/happy, b happy/sad, c sad/sad; d and f gave none
    assert (au_rule.reference_samples, au_rule.compared, au_rule.correct) == (5, 3, 2)
    assert au_rule.accuracy == pytest.approx(2 / 3, abs=1e-4)
    assert au_rule.labels == ["happy", "sad"]
    assert au_rule.confusion == [[1, 1], [0, 1]]
    llm = by_source["llm"]
    assert (llm.compared, llm.correct) == (5, 4)  # a, b, d, f agree; c does not
    assert llm.labels == ["neutral", "happy", "sad", "surprise"]
    assert sum(map(sum, llm.confusion)) == llm.compared
    face = by_source["face_expression"]
    assert (face.compared, face.correct) == (3, 2)  # a, c agree; d says happy for surprise


def test_the_tone_is_compared_by_valence(report: QualityReport) -> None:
    tone = next(item for item in report.agreement if item.source == "tone_valence")
    # surprise (d) has no valence; f has no tone: a positive/positive, b positive/neutral,
    # c negative/negative
    assert (tone.reference_samples, tone.compared, tone.correct) == (4, 3, 2)
    assert tone.labels == ["negative", "neutral", "positive"]
    assert tone.confusion == [[1, 0, 0], [0, 0, 0], [0, 1, 1]]


def test_kappa_between_every_two_sources(report: QualityReport) -> None:
    pairs = {(pair.first, pair.second): pair for pair in report.kappa}
    assert len(pairs) == 6  # csv and three voters
    csv_llm = pairs[("csv", "llm")]
    # pairs (happy,happy) (happy,happy) (sad,neutral) (surprise,surprise) (happy,happy):
    # p_o = 4/5; p_e = (3*3 + 1*0 + 1*1) / 25 = 0.4; kappa = (0.8 - 0.4) / 0.6
    assert csv_llm.compared == 5
    assert csv_llm.observed == pytest.approx(0.8)
    assert csv_llm.kappa == pytest.approx(0.4 / 0.6, abs=1e-4)
    assert pairs[("au_rule", "face_expression")].compared == 2  # a and c


def test_grounding_au_by_label_and_the_fine_file(report: QualityReport) -> None:
    assert report.grounding.reasonings == 2
    present = next(c for c in report.grounding.checks if c.name == "mentions_a_present_cue")
    assert present.examples == ["d"]  # "The person is surprised." names no cue
    assert report.au_by_label.samples == {"angry": 1, "happy": 2, "sad": 1, "surprise": 1}
    assert report.au_by_label.counts["happy"] == {"AU06": 2, "AU12": 2}
    fine = report.fine
    assert fine.records == 2  # c and d: the MERR fine file
    assert fine.au_list_length == {2: 2}
    assert (fine.au_list_within_rule.within, fine.au_list_within_rule.records) == (2, 2)
    assert fine.reasoning_words is not None and fine.reasoning_words.max == 8
    assert report.merr.fine.records == 4487


def test_the_json_round_trips(report: QualityReport) -> None:
    assert QualityReport.model_validate_json(quality_json(report)) == report
