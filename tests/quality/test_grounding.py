"""The reasoning's grounding checks on crafted texts."""

from __future__ import annotations

from merr_factory.quality.grounding import ReasoningFacts, grounding, mentioned_cues


def facts(text: str, sample_id: str = "s", **cues: object) -> ReasoningFacts:
    base: dict[str, object] = {
        "has_face": True,
        "has_tone": True,
        "transcript": "I cannot believe we finally won the game.",
    }
    return ReasoningFacts(sample_id=sample_id, text=text, **(base | cues))  # type: ignore[arg-type]


def test_each_cue_is_recognised_by_its_words() -> None:
    assert mentioned_cues(facts("Her furrowed brows show anger.")) == {
        "face": True,
        "voice": False,
        "speech": False,
    }
    assert mentioned_cues(facts("A trembling voice."))["voice"]
    assert mentioned_cues(facts("He says he lost."))["speech"]
    assert not mentioned_cues(facts("Her emotional state is calm."))["speech"]  # not "states"


def test_quotes_and_transcript_runs_count_as_speech() -> None:
    assert mentioned_cues(facts('Her "we did it" shows joy.', transcript=""))["speech"]
    assert not mentioned_cues(facts('A "joyful" mood.', transcript=""))["speech"]  # one word
    echoed = facts("This is wonderful: we finally won the game.")
    assert mentioned_cues(echoed)["speech"]
    assert not mentioned_cues(facts("We won.", transcript="we won"))["speech"]  # under 3 words


def test_the_sample_s_own_au_phrases_count_as_face() -> None:
    text = "A lip corner puller suggests joy."
    assert mentioned_cues(facts(text))["face"]  # "lip" is a face word
    odd = facts("The raised zygomaticus suggests joy.", face_phrases=("raised zygomaticus",))
    assert mentioned_cues(odd)["face"]


def test_checks_count_failures_with_examples() -> None:
    samples = [
        facts("The person feels happy.", "a"),  # mentions nothing
        facts("His voice and words are sad.", "b", has_tone=False, transcript=""),
        facts("Her smile shows joy.", "c"),
        facts("", "d"),  # no reasoning: not checked
        facts("He says it with a frown.", "e", has_face=False),
    ]
    report = grounding(samples)
    checks = {check.name: check for check in report.checks}
    assert report.reasonings == 4
    present = checks["mentions_a_present_cue"]
    # b names only the voice and words it lacks, not the face it has
    assert (present.checked, present.failed, present.examples) == (4, 2, ["a", "b"])
    assert checks["voice_without_audio"].examples == ["b"]
    assert checks["words_without_speech"].examples == ["b"]
    assert (checks["face_without_face"].checked, checks["face_without_face"].examples) == (1, ["e"])
    assert report.cues["face"].present == 3 and report.cues["face"].mentioned == 1  # c
    assert report.cues["speech"].present == 3 and report.cues["speech"].mentioned == 1  # e


def test_examples_are_the_first_five_failing_ids() -> None:
    samples = [facts("Nothing here.", f"s{index:02d}") for index in range(8, 0, -1)]
    check = grounding(samples).checks[0]
    assert check.failed == 8
    assert check.examples == ["s01", "s02", "s03", "s04", "s05"]
