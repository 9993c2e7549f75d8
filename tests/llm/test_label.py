"""The label stage's rules, on contract-shaped upstream records (no model involved: the label
stage only applies rules to what synthesize and the cue stages stored)."""

from __future__ import annotations

from pathlib import Path

import pytest

from merr_factory.inputs.discovery import SampleSource
from merr_factory.knowledge.emotions import MERR_LABELS
from merr_factory.run.records import Record
from merr_factory.run.store import Store
from merr_factory.stages.base import RunFacts, SampleContext
from merr_factory.stages.label import LabelSettings, LabelStage

from .conftest import HAPPY_VISUAL, NO_FACE_VISUAL, SAD_VISUAL

FACTS = RunFacts(label_set=MERR_LABELS)
REASONING = (
    "She smiles broadly with raised cheeks and pulled lip corners, and her bright, lively "
    "voice says she is glad about the news, so she feels happy."
)  # 26 words: inside MERR's 12-79


def ingest(label: str | None, status: str = "labelled", valence: float | None = 1.0) -> dict:
    return {
        "source": "x.mp4",
        "name": "x",
        "kind": "video",
        "size_bytes": 1,
        "probe": {"readable": True},
        "label": label,
        "valence": valence,
        "label_status": status,
    }


def synth(
    open_label: str | None = "happy",
    reasoning: str | None = REASONING,
    judge: bool | None = None,
) -> dict:
    return {
        "judge_accepts": judge,
        "caption": "A caption.",
        "smp_reason_caption": reasoning,
        "open_label": open_label,
        "open_reasoning": "because" if open_label else None,
        "llm": {"backend": "llamacpp", "model": "m", "prompt_version": "v"},
    }


def faces(expression: dict[str, float] | None) -> dict:
    """A faces record whose expression model gave ``expression`` (the clip's mean)."""
    return {
        "backend": "dlib", "model": "m", "sample_fps": 5.0, "frames_total": 50,
        "frames_analysed": 10, "frames_with_face": 10, "face_ratio": 1.0, "au_names": ["AU12"],
        "main_face": "persistent", "expression_model": "fer", "expression": expression,
    }  # fmt: skip


def expression(top: str, share: float = 0.6) -> dict[str, float]:
    """Seven class probabilities with ``top`` the most probable."""
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    rest = (1 - share) / 6
    return {name: share if name == top else rest for name in classes}


def context(
    tmp_path: Path,
    sample_id: str,
    ingest_data: dict,
    visual: dict,
    synthesize: dict,
    whole_set: dict | None = None,
    faces_data: dict | None = None,
    asr_data: dict | None = None,
) -> SampleContext:
    store = Store(tmp_path / "out")
    stages = [("ingest", ingest_data), ("visual", visual), ("synthesize", synthesize)]
    if faces_data is not None:
        stages.append(("faces", faces_data))
    if asr_data is not None:
        stages.append(("asr", asr_data))
    upstream = {
        name: Record(stage=name, sample=sample_id, status="done", fingerprint="f", data=data)
        for name, data in stages
    }
    source = SampleSource(
        id=sample_id,
        path=tmp_path / f"{sample_id}.mp4",
        relpath=f"{sample_id}.mp4",
        kind="video",
        size=1,
        mtime_ns=0,
    )
    return SampleContext(
        source=source,
        label=None,
        upstream=upstream,
        workdir_path=tmp_path,
        store=store,
        whole_set=whole_set or {},
    )


def decide(
    tmp_path: Path,
    *,
    sample_id: str = "s1",
    settings: LabelSettings | None = None,
    facts: RunFacts = FACTS,
    **up,
):
    stage = LabelStage(settings or LabelSettings(), facts)
    parts = {"ingest_data": ingest("happy"), "visual": HAPPY_VISUAL, "synthesize": synth()}
    parts.update(up)
    return stage.process(context(tmp_path, sample_id, **parts)).data


def codes(data) -> list[str]:
    return [reason.code for reason in data.reasons]


def test_csv_label_rule_and_llm_agree_is_fine(tmp_path: Path) -> None:
    data = decide(tmp_path)
    assert (data.label, data.label_source, data.tier) == ("happy", "csv", "fine")
    assert data.au_rule_agrees and data.llm_agrees
    assert data.valence == 1.0 and data.reasons == []
    no_faces_record = None
    assert data.votes == {
        "csv": "happy",
        "au_rule": "happy",
        "llm": "happy",
        "face_expression": no_faces_record,
    }


def test_llm_disagreement_keeps_coarse_with_the_reason(tmp_path: Path) -> None:
    data = decide(tmp_path, synthesize=synth(open_label="sad"))
    assert data.tier == "coarse" and data.llm_agrees is False
    assert codes(data) == ["llm_disagrees"]
    assert "predicted sad, not happy" in data.reasons[0].message


def test_au_rule_disagreement_is_rejected(tmp_path: Path) -> None:
    data = decide(tmp_path, visual=SAD_VISUAL)
    assert data.tier == "rejected" and not data.au_rule_agrees
    assert codes(data) == ["au_rule_disagrees"]
    assert "AU01, AU04, AU15" in data.reasons[0].message


def test_no_face_is_rejected_as_no_au_data(tmp_path: Path) -> None:
    data = decide(tmp_path, visual=NO_FACE_VISUAL)
    assert data.tier == "rejected" and codes(data) == ["no_au_data"]


def test_missing_visual_stage_degrades_to_no_au_data(tmp_path: Path) -> None:
    stage = LabelStage(LabelSettings(), FACTS)
    sample = context(tmp_path, "s1", ingest("happy"), HAPPY_VISUAL, synth())
    del sample.upstream["visual"]
    data = stage.process(sample).data
    assert data.tier == "rejected" and codes(data) == ["no_au_data"]


def test_disgust_from_the_csv_is_rejected_by_rule_never_exported(tmp_path: Path) -> None:
    data = decide(tmp_path, ingest_data=ingest("disgust", status="outside_label_set"))
    assert data.label is None and data.tier == "rejected"
    assert codes(data)[0] == "outside_label_set"
    assert "'disgust'" in data.reasons[0].message


def test_unlabelled_sample_takes_the_agreement_of_au_rule_and_llm(tmp_path: Path) -> None:
    data = decide(tmp_path, ingest_data=ingest(None, status="unlabelled"))
    assert (data.label, data.label_source, data.tier) == ("happy", "agreement", "fine")
    disagree = decide(
        tmp_path, ingest_data=ingest(None, status="unlabelled"), synthesize=synth("sad")
    )
    assert disagree.label is None and disagree.tier == "rejected"
    assert codes(disagree)[0] == "no_label"
    assert "au_rule=happy, llm=sad" in disagree.reasons[0].message


@pytest.mark.parametrize(
    ("sources", "expected"),
    [(["au_rule"], ("happy", "au_rule")), (["llm"], ("sad", "llm")), (["csv"], (None, None))],
)
def test_single_sources(tmp_path: Path, sources, expected) -> None:
    data = decide(
        tmp_path,
        settings=LabelSettings(sources=sources),
        ingest_data=ingest(None, status="unlabelled"),
        synthesize=synth("sad"),
    )
    assert (data.label, data.label_source) == expected


def test_neutral_down_sampling_is_stable_per_sample(tmp_path: Path) -> None:
    settings = LabelSettings(neutral_keep_fraction=0.5)
    tiers = {}
    for number in range(40):
        data = decide(
            tmp_path,
            sample_id=f"s{number:02d}",
            settings=settings,
            ingest_data=ingest("neutral"),
            synthesize=synth("neutral"),
        )
        tiers[number] = data.tier
        assert data.au_rule_agrees  # MERR's neutral rule is empty
        if data.tier == "coarse":
            assert codes(data) == ["neutral_downsampled"]
    kept = sum(tier == "fine" for tier in tiers.values())
    assert 8 <= kept <= 32
    again = decide(
        tmp_path,
        sample_id="s00",
        settings=settings,
        ingest_data=ingest("neutral"),
        synthesize=synth("neutral"),
    )
    assert again.tier == tiers[0]


def test_a_reasoning_that_repeats_another_is_not_fine(tmp_path: Path) -> None:
    """The label stage reads the de-duplication step's entry for its sample (the step itself,
    over all samples, is tested in test_dedup.py); without it the sample is fine."""
    stage = LabelStage(LabelSettings(), FACTS)
    parts = (ingest("happy"), HAPPY_VISUAL, synth())
    repeat = context(tmp_path, "b2", *parts, whole_set={"dedup": "a1"})
    data = stage.process(repeat).data
    assert data.tier == "coarse" and data.duplicate_of == "a1" and codes(data) == ["duplicate"]
    alone = stage.process(context(tmp_path, "a1", *parts, whole_set={"dedup": None})).data
    assert alone.tier == "fine" and alone.duplicate_of is None
    off = LabelStage(LabelSettings(deduplicate=False), FACTS)
    assert off.whole_set_step() is None and stage.whole_set_step() is not None
    assert off.process(context(tmp_path, "b2", *parts)).data.tier == "fine"


def test_curation_overrides_tier_and_label(tmp_path: Path) -> None:
    curation = tmp_path / "curation.csv"
    curation.write_text(
        "id,label,tier,caption,reasoning,transcript,accept\n"
        "s1,happy,fine,,,,no\n"
        "s2,sad,coarse,,,,yes\n"
        "s3,disgust,coarse,,,,\n",
        encoding="utf-8",
    )
    settings = LabelSettings(curation_csv=curation)
    out = decide(tmp_path, sample_id="s1", settings=settings)
    assert out.tier == "rejected" and codes(out) == ["curated_out"]
    relabelled = decide(tmp_path, sample_id="s2", settings=settings, synthesize=synth("sad"))
    assert (relabelled.label, relabelled.label_source, relabelled.tier) == (
        "sad",
        "curation",
        "fine",
    )
    invalid = decide(tmp_path, sample_id="s3", settings=settings)
    assert invalid.label == "happy" and "curation_label_invalid" in codes(invalid)
    stage = LabelStage(settings, FACTS)
    source = context(tmp_path, "s1", ingest("happy"), HAPPY_VISUAL, synth()).source
    assert stage.source_identity(source, None) == ["no", "happy"]  # a row edit makes stale


def test_review_decisions_win_over_the_machine_and_the_curation_csv(tmp_path: Path) -> None:
    from merr_factory.curation.review_log import DecisionLog

    curation = tmp_path / "curation.csv"
    curation.write_text("id,label,accept\ns1,,yes\n", encoding="utf-8")
    folder = tmp_path / "review"
    ann, bob = DecisionLog(folder, "ann"), DecisionLog(folder, "bob")
    ann.append("s1", "reject")
    bob.append("s2", "relabel", label="sad")
    bob.append("s2", "edit", reasoning="He frowns.")
    ann.append("s3", "accept", label="happy")
    ann.append("s4", "relabel", label="disgust")  # outside the run's label set
    facts = RunFacts(label_set=MERR_LABELS, review_folder=folder)
    settings = LabelSettings(curation_csv=curation)
    out = decide(tmp_path, sample_id="s1", settings=settings, facts=facts)
    assert out.tier == "rejected" and codes(out)[-1] == "human_rejected"
    assert out.reasons[-1].message == "rejected by ann"
    fixed = decide(tmp_path, sample_id="s2", facts=facts)
    assert (fixed.label, fixed.label_source, fixed.tier) == ("sad", "human", "fine")
    assert fixed.human.machine_label == "happy" and fixed.human.reasoning == "He frowns."
    coarse = decide(tmp_path, sample_id="s3", facts=facts, synthesize=synth("sad"))
    assert (coarse.tier, coarse.human.annotators["ann"].label) == ("fine", "happy")
    invalid = decide(tmp_path, sample_id="s4", facts=facts)
    assert invalid.label == "happy" and "human_label_invalid" in codes(invalid)
    untouched = decide(tmp_path, sample_id="s5", facts=facts)
    assert untouched == decide(tmp_path, sample_id="s5") and untouched.human is None
    stage = LabelStage(LabelSettings(), facts)
    source = context(tmp_path, "s5", ingest("happy"), HAPPY_VISUAL, synth()).source
    assert stage.source_identity(source, None) is None  # no review: fingerprints unchanged
    reviewed = context(tmp_path, "s2", ingest("happy"), HAPPY_VISUAL, synth()).source
    assert stage.source_identity(reviewed, None)["review"]["label"] == "sad"


@pytest.mark.parametrize(
    ("check", "open_label", "judge", "tier", "reason_codes"),
    [
        ("judge", "sad", True, "fine", []),
        ("judge", "happy", False, "coarse", ["judge_rejects"]),
        ("judge", "happy", None, "coarse", ["no_judge"]),
        ("either", "sad", True, "fine", []),
        ("either", "happy", False, "fine", []),
        ("either", "sad", False, "coarse", ["llm_disagrees", "judge_rejects"]),
        ("none", "sad", False, "fine", []),
    ],
)
def test_fine_llm_check(tmp_path: Path, check, open_label, judge, tier, reason_codes) -> None:
    data = decide(
        tmp_path,
        settings=LabelSettings(fine_llm_check=check),
        synthesize=synth(open_label=open_label, judge=judge),
    )
    assert data.tier == tier and codes(data) == reason_codes


def test_an_open_label_outside_the_set_never_votes(tmp_path: Path) -> None:
    data = decide(
        tmp_path,
        settings=LabelSettings(sources=["llm", "au_rule"]),
        ingest_data=ingest(None, status="unlabelled"),
        synthesize=synth(open_label="disgust"),
    )
    assert data.votes["llm"] is None
    assert (data.label, data.label_source) == ("happy", "au_rule")


def test_the_face_expression_votes_its_top_class_when_the_label_set_has_it(
    tmp_path: Path,
) -> None:
    unlabelled = ingest(None, status="unlabelled")
    only_face = LabelSettings(sources=["face_expression"])
    data = decide(tmp_path, settings=only_face, ingest_data=unlabelled,
                  faces_data=faces(expression("happy")))  # fmt: skip
    assert data.votes["face_expression"] == "happy"
    assert (data.label, data.label_source) == ("happy", "face_expression")
    # disgust is no MERR label: no vote, and never a neighbouring label instead.
    data = decide(tmp_path, settings=only_face, ingest_data=unlabelled,
                  faces_data=faces(expression("disgust", share=0.4)))  # fmt: skip
    assert data.votes["face_expression"] is None and data.label is None
    assert codes(data)[0] == "no_label"
    # A label set that spells the class otherwise gets it in its own spelling.
    facts = RunFacts(label_set=("neutral", "happiness", "sadness"))
    data = decide(tmp_path, settings=only_face, facts=facts, ingest_data=unlabelled,
                  faces_data=faces(expression("sad")))  # fmt: skip
    assert data.votes["face_expression"] == "sadness"
    # No expression model ran (openface, or expression.model none): no vote.
    data = decide(tmp_path, settings=only_face, ingest_data=unlabelled, faces_data=faces(None))
    assert data.votes["face_expression"] is None


def test_the_face_expression_joins_the_agreement(tmp_path: Path) -> None:
    settings = LabelSettings(agreement_of=["au_rule", "llm", "face_expression"], min_agree=2)
    unlabelled = ingest(None, status="unlabelled")
    # The rule says happy, the LLM sad: the face breaks the tie.
    data = decide(tmp_path, settings=settings, ingest_data=unlabelled, synthesize=synth("sad"),
                  faces_data=faces(expression("sad")))  # fmt: skip
    assert (data.label, data.label_source) == ("sad", "agreement")
    assert data.votes == {"csv": None, "au_rule": "happy", "llm": "sad",
                          "face_expression": "sad"}  # fmt: skip


def test_a_missing_curation_file_is_a_config_error(write_config, tmp_path: Path) -> None:
    from merr_factory.config import ConfigError, load_config

    path = write_config(stages={"label": {"curation_csv": str(tmp_path / "none.csv")}})
    with pytest.raises(
        ConfigError, match=r"stages\.label\.curation_csv: .*none\.csv is not a file"
    ):
        load_config(path)


def test_an_unusable_curation_file_fails_each_sample_with_the_reason(tmp_path: Path) -> None:
    curation = tmp_path / "curation.csv"
    curation.write_text("id,label\ns1,happy\n", encoding="utf-8")
    stage = LabelStage(LabelSettings(curation_csv=curation), FACTS)
    sample = context(tmp_path, "s1", ingest("happy"), HAPPY_VISUAL, synth())
    assert stage.source_identity(sample.source, None) == {
        "curation_error": f"{curation}: missing column(s): accept"
    }
    with pytest.raises(ValueError, match=r"missing column\(s\): accept"):
        stage.process(sample)


def asr(text: str, unreliable: list | None = None) -> dict:
    return {
        "backend": "faster-whisper", "model": "tiny.en", "text": text, "language": "en",
        "segments": [], "text_en": text, "confidence": 0.9, "unreliable": unreliable or [],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("reasoning", "code", "message"),
    [
        ("happy", "reasoning_length", "1 words, outside 12-79"),
        ("happy", "not_reasoning", "only a label ('happy')"),
        (" ".join(["word"] * 80), "reasoning_length", "80 words, outside 12-79"),
        (
            "Why does the person in this clip feel happy, given her face, her voice and "
            "what she says?",
            "not_reasoning",
            "a question",
        ),
        (
            "I cannot believe we finally won the game, this is wonderful, I cannot believe "
            "we finally won.",
            "not_reasoning",
            "quotes the transcript back",
        ),
    ],
)
def test_a_reasoning_that_is_too_short_long_or_no_reasoning_is_not_fine(
    tmp_path: Path, reasoning: str, code: str, message: str
) -> None:
    said = "I cannot believe we finally won the game, this is wonderful."
    stage = LabelStage(LabelSettings(), FACTS)
    parts = (ingest("happy"), HAPPY_VISUAL, synth(reasoning=reasoning))
    sample = context(tmp_path, "s1", *parts, asr_data=asr(said))
    data = stage.process(sample).data
    gated = [reason for reason in data.reasons if reason.code == code]
    assert data.tier == "coarse" and gated and message in gated[0].message


def test_a_reasoning_of_merr_length_that_mentions_the_words_is_fine(tmp_path: Path) -> None:
    """A reasoning may quote a few words of the transcript; the length gate is a setting."""
    said = "I cannot believe we finally won the game, this is wonderful."
    reasoning = (
        "She smiles and her voice rises as she says we finally won the game, "
        "so her words and face show that she feels happy."
    )
    parts = (ingest("happy"), HAPPY_VISUAL, synth(reasoning=reasoning))
    sample = context(tmp_path, "s1", *parts, asr_data=asr(said))
    assert LabelStage(LabelSettings(), FACTS).process(sample).data.tier == "fine"
    loose = LabelSettings(reasoning_min_words=0)
    assert decide(tmp_path, settings=loose, synthesize=synth(reasoning="She smiles.")).tier == (
        "fine"
    )
