"""The coarse caption template: MERR's shape, and clean handling of missing cues."""

from __future__ import annotations

from merr_factory.llm.caption import CaptionTemplate, render_caption
from merr_factory.llm.cues import Cues
from merr_factory.text import clean_text

from .conftest import (
    HAPPY_VISUAL,
    NO_AUDIO,
    NO_FACE_VISUAL,
    SAD_VISUAL,
    SPEECH_AUDIO,
    asr,
    make_cues,
)


def cues(visual=None, audio=None, speech=None) -> Cues:
    return make_cues(visual, audio, speech)


def test_all_cues_give_merr_shaped_caption() -> None:
    caption = render_caption(
        CaptionTemplate(), cues(HAPPY_VISUAL, SPEECH_AUDIO, asr("I finally passed the exam!"))
    )
    assert caption == (
        "A young woman sits in a bright room and looks at the camera. "
        "The person's facial expression shows cheek raiser and lip corner puller. "
        "The person speaks in a bright, lively voice. "
        "Saying: I finally passed the exam!"
    )


def test_no_speech_means_no_saying_and_no_tone() -> None:
    caption = render_caption(CaptionTemplate(), cues(SAD_VISUAL, NO_AUDIO, asr("", language=None)))
    assert caption == (
        "The person's facial expression shows inner brow raiser, brow lowerer "
        "and lip corner depressor."
    )
    assert "Saying" not in caption and ".." not in caption


def test_no_face_and_no_upstream_stages_at_all() -> None:
    assert render_caption(CaptionTemplate(), cues(NO_FACE_VISUAL, NO_AUDIO)) == ""
    assert render_caption(CaptionTemplate(), cues()) == ""
    assert cues().missing() == ["visual_objective", "expression", "tone", "speech"]


def test_tone_word_without_a_phrase_and_a_chinese_transcript_with_translation() -> None:
    audio = SPEECH_AUDIO | {"tone_phrase": None, "tone": "calm"}
    speech = asr("我没事。", text_en="I am fine.", language="zh")
    caption = render_caption(CaptionTemplate(), cues(NO_FACE_VISUAL, audio, speech))
    assert caption == "The person speaks in a calm tone. Saying: I am fine."
    only_chinese = render_caption(
        CaptionTemplate(), cues(NO_FACE_VISUAL, None, asr("我没事。", language="zh"))
    )
    assert only_chinese == "Saying: 我没事。"


def test_custom_template_and_objective_without_a_stop() -> None:
    template = CaptionTemplate(parts=["In the video, {visual_objective}", "Saying: {subtitle}"])
    visual = HAPPY_VISUAL | {"visual_objective": "a man waves"}
    caption = render_caption(template, cues(visual, SPEECH_AUDIO, asr("Hi there")))
    assert caption == "In the video, a man waves. Saying: Hi there"


def test_clean_text_removes_newlines_literal_backslash_n_and_control_characters() -> None:
    assert clean_text("line one\nline two\\n three\x00 \t four ") == (
        "line one line two three four"
    )
    assert clean_text(None) == ""
