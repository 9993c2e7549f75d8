"""The quality gates' effects downstream: an unreliable transcript is not MERR's ``text``
nor the LLM's subtitle, and quality.json counts each gate's samples."""

from __future__ import annotations

from merr_factory.dataset.merr import merr_value, select_merr
from merr_factory.llm.cues import Cues
from merr_factory.quality.report import build_quality
from merr_factory.stage_data import AsrData, Reason

from .test_report import entry

LOW = Reason(code="asr_low_confidence", message="ASR confidence 0.30 is below 0.50")
SAID = "Working to engage on golfing."


def test_an_unreliable_transcript_is_neither_merr_text_nor_the_prompts_subtitle() -> None:
    gated = entry("a", transcript=SAID, text_en=SAID, transcript_unreliable=[LOW])
    trusted = entry("b", transcript=SAID, text_en=SAID)
    assert gated.subtitle == "" and merr_value(gated, fine=True)["text"] == ""
    assert trusted.subtitle == SAID and merr_value(trusted, fine=True)["text"] == SAID
    asr = {"backend": "b", "model": "m", "text": SAID, "language": "en", "segments": []}
    asr |= {"text_en": SAID, "confidence": 0.3}
    assert Cues(asr=AsrData(**asr, unreliable=[LOW])).subtitle == ""
    assert Cues(asr=AsrData(**asr)).subtitle == SAID


def test_quality_json_counts_each_gate() -> None:
    short = Reason(code="reasoning_length", message="1 words")
    label = Reason(code="not_reasoning", message="only a label")
    entries = [
        entry("a", transcript_unreliable=[LOW], tier="coarse", reasons=[short, label]),
        entry("b", tier="coarse", reasons=[short]),
        entry("c"),
    ]
    gates = build_quality(entries, select_merr(entries)).gates
    assert gates == {
        "reasoning_length": 2,
        "not_reasoning": 1,
        "asr_low_confidence": 1,
        "asr_language_mismatch": 0,
    }
