"""The ASR's word error rate against given transcripts, per language, in quality.json."""

from __future__ import annotations

from typing import Any

from merr_factory.dataset.entry import ExportEntry
from merr_factory.dataset.merr import select_merr
from merr_factory.quality.asr_wer import edit_distance, tokens, word_error_rates
from merr_factory.quality.report import build_quality


def entry(sample_id: str, **fields: Any) -> ExportEntry:
    base: dict[str, Any] = {
        "sample_id": sample_id,
        "name": sample_id,
        "source": f"{sample_id}.mp4",
        "kind": "video",
        "duration": 3.0,
        "fps": 25.0,
        "frame_count": 75,
        "width": 480,
        "height": 270,
        "video_path": f"/clips/{sample_id}.mp4",
        "ingest_label": None,
        "label": None,
        "label_source": None,
        "valence": None,
        "tier": "rejected",
        "has_audio": True,
        "models": {"asr": "faster-whisper/tiny"},
    }
    return ExportEntry.model_validate(base | fields)


def test_edit_distance_and_tokens() -> None:
    assert edit_distance(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert edit_distance([], ["a"]) == 1
    assert tokens("Don't forget, a JACKET!", "en") == ["don't", "forget", "a", "jacket"]
    assert tokens("我们 赢了。", "zh") == ["我", "们", "赢", "了"]


def test_word_error_rates_per_language() -> None:
    entries = [
        entry("a", given_text="Don't forget a jacket", given_language="en",
              transcript="don't forget the jacket", language="en"),  # 1 of 4
        entry("b", given_text="It's eleven o'clock", given_language="en",
              transcript="", language=None),  # nothing heard: 3 deletions
        entry("c", given_text="我们赢了", given_language="zh",
              transcript="我们赢", language="zh"),  # 1 of 4 characters
        # not counted: given words replaced the model; speech in another language; no audio
        entry("d", given_text="x y", given_language="en", transcript="x y", language="en",
              models={"asr": "given/given"}),
        entry("e", given_text="We won", given_language="en", transcript="我们赢了",
              language="zh"),
        entry("f", given_text="We won", given_language="en", transcript="", has_audio=False),
    ]  # fmt: skip
    rates = {rate.language: rate for rate in word_error_rates(entries)}
    assert set(rates) == {"en", "zh"}
    english = rates["en"]
    assert (english.samples, english.reference_units, english.errors) == (2, 7, 4)
    assert english.wer == round(4 / 7, 4) and english.unit == "word"
    assert (rates["zh"].unit, rates["zh"].errors, rates["zh"].wer) == ("character", 1, 0.25)
    report = build_quality(entries, select_merr(entries))
    assert [rate.language for rate in report.asr_wer] == ["en", "zh"]


def test_no_given_text_no_rates() -> None:
    assert word_error_rates([entry("a", transcript="hello", language="en")]) == []
